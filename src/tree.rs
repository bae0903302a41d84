//! Tree objects: one directory's entries, encoded and addressed by hash.
//!
//! A snapshot of main is the hash of its root tree, as in git: a directory is
//! stored once as the sorted list of its entries, and each entry points at a
//! file's content, a subdirectory's tree, or holds a symlink's target. Two
//! snapshots that share a subdirectory share its tree object, so a snapshot
//! costs only the directories it changed, and comparing two snapshots skips
//! every subtree whose hash is equal.
//!
//! Entries carry the metadata a filesystem must keep (permission bits,
//! modification time, and an owner once one is set through a mount), so a
//! tree read back is the tree that was written. The encoding is our own,
//! small and versioned: names are arbitrary bytes (Unix file names need not
//! be UTF-8), which rules out JSON.

use crate::error::{Error, Result};
use crate::ids::ContentHash;

const MAGIC: &[u8; 4] = b"CTR1";

/// The permission bits an entry keeps (rwx for all, setuid, setgid, sticky).
pub const MODE_MASK: u32 = 0o7777;

/// A point in time with nanoseconds, as `stat` gives it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub sec: i64,
    pub nsec: u32,
}

impl Timestamp {
    pub fn now() -> Timestamp {
        let d =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp { sec: d.as_secs() as i64, nsec: d.subsec_nanos() }
    }
}

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    File {
        content: ContentHash,
        size: u64,
    },
    Dir {
        tree: ContentHash,
    },
    Symlink {
        target: Vec<u8>,
    },
    /// A FIFO, socket or device node: no content, only its kind and (for
    /// devices) its device number.
    Special {
        kind: SpecialKind,
        rdev: u64,
    },
}

/// The kinds of special file a tree can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpecialKind {
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

impl SpecialKind {
    fn code(self) -> u8 {
        match self {
            SpecialKind::Fifo => 1,
            SpecialKind::Socket => 2,
            SpecialKind::CharDevice => 3,
            SpecialKind::BlockDevice => 4,
        }
    }

    fn from_code(code: u8) -> Option<SpecialKind> {
        Some(match code {
            1 => SpecialKind::Fifo,
            2 => SpecialKind::Socket,
            3 => SpecialKind::CharDevice,
            4 => SpecialKind::BlockDevice,
            _ => return None,
        })
    }

    /// The `S_IF*` file type bits.
    pub fn mode_bits(self) -> u32 {
        match self {
            SpecialKind::Fifo => libc::S_IFIFO,
            SpecialKind::Socket => libc::S_IFSOCK,
            SpecialKind::CharDevice => libc::S_IFCHR,
            SpecialKind::BlockDevice => libc::S_IFBLK,
        }
    }

    /// The kind of a `S_IF*` file type, if it is a special one.
    pub fn from_mode(mode: u32) -> Option<SpecialKind> {
        Some(match mode & libc::S_IFMT {
            libc::S_IFIFO => SpecialKind::Fifo,
            libc::S_IFSOCK => SpecialKind::Socket,
            libc::S_IFCHR => SpecialKind::CharDevice,
            libc::S_IFBLK => SpecialKind::BlockDevice,
            _ => return None,
        })
    }
}

/// One name in a directory.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub name: Vec<u8>,
    pub kind: EntryKind,
    /// Permission bits only (`MODE_MASK`); the file type is `kind`.
    pub mode: u32,
    pub mtime: Timestamp,
    /// Owner and group, once set explicitly; `None` means "the mounting user".
    pub owner: Option<(u32, u32)>,
    /// Extended attributes, sorted by name.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, EntryKind::Dir { .. })
    }

    /// True when two entries hold the same thing: same kind, bytes, target and
    /// permission bits. Times and owners do not count: writing back identical
    /// bytes is no change.
    pub fn same_content(&self, other: &Entry) -> bool {
        self.kind == other.kind && self.mode == other.mode
    }
}

/// Checks that `name` can be one component of a path in the tree.
pub fn check_name(name: &[u8]) -> Result<()> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(Error::InvalidInput(format!(
            "invalid file name {:?}",
            String::from_utf8_lossy(name)
        )));
    }
    Ok(())
}

/// A directory: entries sorted by name, names unique.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    entries: Vec<Entry>,
}

impl Tree {
    /// Builds a tree from entries in any order. Fails on a duplicate or
    /// invalid name.
    pub fn new(mut entries: Vec<Entry>) -> Result<Tree> {
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        for pair in entries.windows(2) {
            if pair[0].name == pair[1].name {
                return Err(Error::InvalidInput(format!(
                    "duplicate name {:?} in one directory",
                    String::from_utf8_lossy(&pair[0].name)
                )));
            }
        }
        for e in &entries {
            check_name(&e.name)?;
        }
        Ok(Tree { entries })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn into_entries(self) -> Vec<Entry> {
        self.entries
    }

    pub fn get(&self, name: &[u8]) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.name.as_slice().cmp(name))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The canonical encoding; its blake3 hash is the tree's address.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.entries.len() * 64);
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, self.entries.len() as u32);
        for e in &self.entries {
            put_u16(&mut out, e.name.len() as u16);
            out.extend_from_slice(&e.name);
            let tag = match &e.kind {
                EntryKind::File { .. } => 1u8,
                EntryKind::Dir { .. } => 2u8,
                EntryKind::Symlink { .. } => 3u8,
                EntryKind::Special { .. } => 4u8,
            };
            let flags = e.owner.is_some() as u8 | ((!e.xattrs.is_empty() as u8) << 1);
            out.push(tag);
            out.push(flags);
            put_u32(&mut out, e.mode);
            out.extend_from_slice(&e.mtime.sec.to_le_bytes());
            put_u32(&mut out, e.mtime.nsec);
            match &e.kind {
                EntryKind::File { content, size } => {
                    out.extend_from_slice(content.as_bytes());
                    out.extend_from_slice(&size.to_le_bytes());
                }
                EntryKind::Dir { tree } => out.extend_from_slice(tree.as_bytes()),
                EntryKind::Symlink { target } => {
                    put_u32(&mut out, target.len() as u32);
                    out.extend_from_slice(target);
                }
                EntryKind::Special { kind, rdev } => {
                    out.push(kind.code());
                    out.extend_from_slice(&rdev.to_le_bytes());
                }
            }
            if let Some((uid, gid)) = e.owner {
                put_u32(&mut out, uid);
                put_u32(&mut out, gid);
            }
            if !e.xattrs.is_empty() {
                put_u32(&mut out, e.xattrs.len() as u32);
                for (name, value) in &e.xattrs {
                    put_u16(&mut out, name.len() as u16);
                    out.extend_from_slice(name);
                    put_u32(&mut out, value.len() as u32);
                    out.extend_from_slice(value);
                }
            }
        }
        out
    }

    pub fn hash(&self) -> ContentHash {
        ContentHash::of(&self.encode())
    }

    /// Decodes what `encode` wrote. Anything else is reported as corruption.
    pub fn decode(bytes: &[u8]) -> Result<Tree> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(Error::Corrupt("tree object has an unknown format".into()));
        }
        let count = r.u32()? as usize;
        let mut entries = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            let name_len = r.u16()? as usize;
            let name = r.take(name_len)?.to_vec();
            let tag = r.u8()?;
            let flags = r.u8()?;
            let mode = r.u32()?;
            let sec = i64::from_le_bytes(r.array()?);
            let nsec = r.u32()?;
            let kind = match tag {
                1 => EntryKind::File {
                    content: ContentHash::from_bytes(r.array()?),
                    size: u64::from_le_bytes(r.array()?),
                },
                2 => EntryKind::Dir { tree: ContentHash::from_bytes(r.array()?) },
                3 => {
                    let len = r.u32()? as usize;
                    EntryKind::Symlink { target: r.take(len)?.to_vec() }
                }
                4 => {
                    let code = r.u8()?;
                    let kind = SpecialKind::from_code(code).ok_or_else(|| {
                        Error::Corrupt(format!("special file of unknown kind {code}"))
                    })?;
                    EntryKind::Special { kind, rdev: u64::from_le_bytes(r.array()?) }
                }
                other => return Err(Error::Corrupt(format!("tree entry of unknown kind {other}"))),
            };
            let owner = if flags & 1 != 0 { Some((r.u32()?, r.u32()?)) } else { None };
            let mut xattrs = Vec::new();
            if flags & 2 != 0 {
                for _ in 0..r.u32()? {
                    let name_len = r.u16()? as usize;
                    let name = r.take(name_len)?.to_vec();
                    let value_len = r.u32()? as usize;
                    xattrs.push((name, r.take(value_len)?.to_vec()));
                }
            }
            let mtime = Timestamp { sec, nsec };
            entries.push(Entry { name, kind, mode, mtime, owner, xattrs });
        }
        if r.pos != bytes.len() {
            return Err(Error::Corrupt("tree object has trailing bytes".into()));
        }
        let tree = Tree::new(entries).map_err(|e| Error::Corrupt(format!("tree object: {e}")))?;
        Ok(tree)
    }
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| Error::Corrupt("tree object is truncated".into()))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, body: &[u8]) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            kind: EntryKind::File { content: ContentHash::of(body), size: body.len() as u64 },
            mode: 0o644,
            mtime: Timestamp { sec: 1_700_000_000, nsec: 5 },
            owner: None,
            xattrs: vec![],
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut link = file("link", b"");
        link.kind = EntryKind::Symlink { target: b"../\xffout".to_vec() };
        let mut dir = file("sub", b"");
        dir.kind = EntryKind::Dir { tree: Tree::default().hash() };
        dir.owner = Some((1000, 100));
        dir.xattrs = vec![(b"user.a".to_vec(), b"\x00\xff".to_vec()), (b"user.b".to_vec(), vec![])];
        let mut fifo = file("fifo", b"");
        fifo.kind = EntryKind::Special { kind: SpecialKind::CharDevice, rdev: 0x0103 };
        let mut odd = file("x", b"1");
        odd.name = b"caf\xe9 name".to_vec();
        let tree = Tree::new(vec![file("b.rs", b"fn b(){}"), link, dir, odd, fifo]).unwrap();
        let decoded = Tree::decode(&tree.encode()).unwrap();
        assert_eq!(decoded, tree);
        assert_eq!(decoded.hash(), tree.hash());
        assert_eq!(tree.entries()[0].name, b"b.rs");
    }

    #[test]
    fn order_does_not_change_the_hash() {
        let a = Tree::new(vec![file("a", b"1"), file("b", b"2")]).unwrap();
        let b = Tree::new(vec![file("b", b"2"), file("a", b"1")]).unwrap();
        assert_eq!(a.hash(), b.hash());
    }

    #[test]
    fn bad_names_and_bytes_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            assert!(Tree::new(vec![file(bad, b"")]).is_err(), "{bad:?}");
        }
        assert!(Tree::new(vec![file("a", b""), file("a", b"1")]).is_err());
        let enc = Tree::new(vec![file("a", b"1")]).unwrap().encode();
        assert!(Tree::decode(&enc[..enc.len() - 1]).is_err());
        assert!(Tree::decode(b"nope").is_err());
    }
}
