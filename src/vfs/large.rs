//! A large file in a view, held by chunk: only what reads and writes touch
//! comes into memory, and a hole costs nothing.
//!
//! The store keeps a large content as 1 MiB chunks; a view keeps the same
//! chunks by index: stored ones by hash (their bytes fetched when a read or
//! a partial write needs them, and only the last few read kept), written
//! ones in memory until the next flush writes them, and holes (indices
//! below the size with no chunk) as nothing at all. The whole file's hash
//! comes from each chunk's chaining value (`chunks.rs`), so a flush hashes
//! what was written, not the file.
//!
//! Everything here is memory work on one file. What needs the store (the
//! bytes of a stored chunk) is asked for by index and hash (`needs_*`); the
//! caller fetches those outside its lock and hands them back.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use blake3::hazmat::ChainingValue;

use super::chunks::{CHUNK, chunk_cv, file_hash, zero_cv};
use crate::ids::ContentHash;

/// Chunks read (not written) kept in memory per file: a sequential read
/// fetches each chunk once; a whole read of a 1 GiB file keeps 4 MiB.
const READ_CACHE: usize = 4;

/// Written chunks a file holds before the older ones go to the store ahead
/// of the flush (`Large::spill`): writing a file of any size costs the
/// daemon at most this many chunks of it.
pub const DIRTY_HELD: usize = 8;

/// A chunk written to the store ahead of a flush: its index, hash, bytes.
pub type Spilled = (u64, ContentHash, Arc<Vec<u8>>);

/// A stored chunk's bytes, fetched: by index.
pub type Fetched = HashMap<u64, Arc<Vec<u8>>>;

#[derive(Clone, Debug)]
enum Piece {
    /// In the store. Its chaining value once known; its bytes while read
    /// lately.
    Stored { hash: ContentHash, cv: Option<ChainingValue>, cached: Option<Arc<Vec<u8>>> },
    /// Written since the last flush; `sealed` once a flush hashed it (and
    /// until it is written again).
    Dirty { bytes: Arc<Vec<u8>>, sealed: Option<(ContentHash, ChainingValue)> },
}

/// A large file's bytes, by chunk.
#[derive(Clone, Debug)]
pub struct Large {
    size: u64,
    /// The whole content's hash; `None` once written, until flushed.
    hash: Option<ContentHash>,
    chunks: BTreeMap<u64, Piece>,
    /// Stored chunks whose bytes are cached, oldest first.
    recent: VecDeque<u64>,
    /// Chaining values of whole-chunk holes, once worked out: a hole's
    /// value depends on its place, and hashing a 1 MiB hole costs as much
    /// as hashing 1 MiB of data (0.3 ms), so a 64 GiB sparse file costs
    /// 20 s of hashing once, then nothing.
    holes: HashMap<u64, ChainingValue>,
}

/// What a flush writes of a large file.
#[derive(Debug)]
pub struct Sealed {
    pub hash: ContentHash,
    pub size: u64,
    /// Every chunk's hash, in order (holes are chunks of zeros).
    pub chunks: Vec<ContentHash>,
    /// Chunks the store may not have: written ones and zeros.
    pub new: Vec<(ContentHash, Arc<Vec<u8>>)>,
}

impl Large {
    /// A stored content, nothing of it read yet.
    pub fn stored(hash: ContentHash, size: u64, chunks: Vec<ContentHash>) -> Large {
        let chunks = chunks
            .into_iter()
            .enumerate()
            .map(|(i, h)| (i as u64, Piece::Stored { hash: h, cv: None, cached: None }))
            .collect();
        Large { size, hash: Some(hash), chunks, recent: VecDeque::new(), holes: HashMap::new() }
    }

    /// Bytes written whole, as chunks to be flushed.
    pub fn from_bytes(bytes: &[u8]) -> Large {
        let chunks = bytes
            .chunks(CHUNK as usize)
            .enumerate()
            .map(|(i, piece)| {
                (i as u64, Piece::Dirty { bytes: Arc::new(piece.to_vec()), sealed: None })
            })
            .collect();
        Large {
            size: bytes.len() as u64,
            hash: None,
            chunks,
            recent: VecDeque::new(),
            holes: HashMap::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The content's hash, if nothing was written since the last flush.
    pub fn hash(&self) -> Option<ContentHash> {
        self.hash
    }

    /// The length chunk `index` has in a file of `size` bytes.
    fn len_at(size: u64, index: u64) -> usize {
        (size.saturating_sub(index * CHUNK)).min(CHUNK) as usize
    }

    /// Stored chunks among `indices` whose bytes are not in memory.
    fn missing(&self, indices: impl Iterator<Item = u64>) -> Vec<(u64, ContentHash)> {
        indices
            .filter_map(|i| match self.chunks.get(&i) {
                Some(Piece::Stored { hash, cached: None, .. }) => Some((i, *hash)),
                _ => None,
            })
            .collect()
    }

    /// What reading `len` bytes at `offset` must fetch.
    pub fn needs_for_read(&self, offset: u64, len: u64) -> Vec<(u64, ContentHash)> {
        let end = offset.saturating_add(len).min(self.size);
        if offset >= end {
            return Vec::new();
        }
        self.missing(offset / CHUNK..end.div_ceil(CHUNK))
    }

    /// Keeps fetched bytes of stored chunks (those still stored under the
    /// hash fetched), dropping the oldest beyond the cache's size.
    pub fn cache(&mut self, fetched: &Fetched) {
        for (index, bytes) in fetched {
            if let Some(Piece::Stored { hash, cached, .. }) = self.chunks.get_mut(index)
                && cached.is_none()
                && ContentHash::of(bytes) == *hash
            {
                *cached = Some(bytes.clone());
                self.recent.push_back(*index);
            }
        }
        while self.recent.len() > READ_CACHE {
            let Some(old) = self.recent.pop_front() else { break };
            if let Some(Piece::Stored { cached, .. }) = self.chunks.get_mut(&old) {
                *cached = None;
            }
        }
    }

    /// The bytes at `offset`, from memory and `fetched`; a stored chunk in
    /// neither reads as an error (the caller fetched too little).
    pub fn read(&self, offset: u64, len: u64, fetched: &Fetched) -> Result<Vec<u8>, u64> {
        let end = offset.saturating_add(len).min(self.size);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let index = at / CHUNK;
            let within = (at - index * CHUNK) as usize;
            let take = ((index + 1) * CHUNK).min(end) - at;
            let bytes = match self.chunks.get(&index) {
                None => None,
                Some(Piece::Dirty { bytes, .. }) => Some(bytes.clone()),
                Some(Piece::Stored { cached: Some(bytes), .. }) => Some(bytes.clone()),
                Some(Piece::Stored { .. }) => Some(fetched.get(&index).cloned().ok_or(index)?),
            };
            match bytes {
                // A chunk shorter than its place reads as zeros past its end.
                Some(b) => {
                    let have = b.len().saturating_sub(within).min(take as usize);
                    out.extend_from_slice(&b[within..within + have]);
                    out.resize(out.len() + take as usize - have, 0);
                }
                None => out.resize(out.len() + take as usize, 0),
            }
            at += take;
        }
        Ok(out)
    }

    /// What writing `len` bytes at `offset` must fetch: the chunks it
    /// overwrites in part, and the last chunk if it is short and the file
    /// grows past it (its place fills with zeros).
    pub fn needs_for_write(&self, offset: u64, len: u64) -> Vec<(u64, ContentHash)> {
        let end = offset + len;
        let mut wanted = Vec::new();
        for index in offset / CHUNK..end.div_ceil(CHUNK) {
            let start = index * CHUNK;
            let whole = offset <= start && end >= start + CHUNK;
            if !whole {
                wanted.push(index);
            }
        }
        wanted.extend(self.short_last(end));
        self.missing(wanted.into_iter())
    }

    /// The last chunk, if it is shorter than a chunk and a size of `new`
    /// makes it no longer last.
    fn short_last(&self, new: u64) -> Option<u64> {
        if self.size == 0 || self.size.is_multiple_of(CHUNK) {
            return None;
        }
        let last = (self.size - 1) / CHUNK;
        (new > (last + 1) * CHUNK).then_some(last)
    }

    /// A chunk's bytes to change: written ones as they are, stored ones
    /// from memory or `fetched`, holes as zeros; `len` long at least.
    fn take_for_write(
        &mut self,
        index: u64,
        len: usize,
        fetched: &Fetched,
    ) -> Result<Vec<u8>, u64> {
        let mut bytes = match self.chunks.remove(&index) {
            None => Vec::new(),
            Some(Piece::Dirty { bytes, .. }) => Arc::unwrap_or_clone(bytes),
            Some(Piece::Stored { cached: Some(bytes), .. }) => Arc::unwrap_or_clone(bytes),
            Some(stored @ Piece::Stored { cached: None, .. }) => match fetched.get(&index) {
                Some(bytes) => bytes.to_vec(),
                None => {
                    self.chunks.insert(index, stored);
                    return Err(index);
                }
            },
        };
        if bytes.len() < len {
            bytes.resize(len, 0);
        }
        Ok(bytes)
    }

    fn put_dirty(&mut self, index: u64, bytes: Vec<u8>) {
        self.recent.retain(|&i| i != index);
        self.chunks.insert(index, Piece::Dirty { bytes: Arc::new(bytes), sealed: None });
    }

    /// Writes `data` at `offset`. `Err(index)`: chunk `index` had to be
    /// fetched first (nothing was changed).
    pub fn write(&mut self, offset: u64, data: &[u8], fetched: &Fetched) -> Result<(), u64> {
        let end = offset + data.len() as u64;
        if let Some(&(index, _)) = self
            .needs_for_write(offset, data.len() as u64)
            .iter()
            .find(|(i, _)| !fetched.contains_key(i))
        {
            return Err(index);
        }
        let new_size = self.size.max(end);
        if let Some(last) = self.short_last(end) {
            let bytes = self.take_for_write(last, CHUNK as usize, fetched)?;
            self.put_dirty(last, bytes);
        }
        let mut at = offset;
        while at < end {
            let index = at / CHUNK;
            let within = (at - index * CHUNK) as usize;
            let take = (((index + 1) * CHUNK).min(end) - at) as usize;
            let len = Self::len_at(new_size, index).max(within + take);
            let mut bytes = self.take_for_write(index, len, fetched)?;
            let from = (at - offset) as usize;
            bytes[within..within + take].copy_from_slice(&data[from..from + take]);
            self.put_dirty(index, bytes);
            at += take as u64;
        }
        self.size = new_size;
        self.hash = None;
        Ok(())
    }

    /// What changing the size to `new` must fetch: the chunk cut in two
    /// by a shrink, or the short last chunk a growth pads.
    pub fn needs_for_resize(&self, new: u64) -> Vec<(u64, ContentHash)> {
        let mut wanted: Vec<u64> = self.short_last(new).into_iter().collect();
        if new < self.size && !new.is_multiple_of(CHUNK) {
            wanted.push(new / CHUNK);
        }
        self.missing(wanted.into_iter())
    }

    /// Sets the size: chunks past it go, the one it cuts is cut, a growth
    /// is a hole. `Err(index)` as for `write`.
    pub fn resize(&mut self, new: u64, fetched: &Fetched) -> Result<(), u64> {
        if let Some(&(index, _)) =
            self.needs_for_resize(new).iter().find(|(i, _)| !fetched.contains_key(i))
        {
            return Err(index);
        }
        if new == self.size {
            return Ok(());
        }
        if let Some(last) = self.short_last(new) {
            let bytes = self.take_for_write(last, CHUNK as usize, fetched)?;
            self.put_dirty(last, bytes);
        }
        let keep = new.div_ceil(CHUNK);
        self.chunks.retain(|&i, _| i < keep);
        self.recent.retain(|&i| i < keep);
        if new < self.size && !new.is_multiple_of(CHUNK) {
            let index = new / CHUNK;
            if self.chunks.contains_key(&index) {
                let mut bytes = self.take_for_write(index, 0, fetched)?;
                bytes.truncate((new % CHUNK) as usize);
                self.put_dirty(index, bytes);
            }
        }
        self.size = new;
        self.hash = None;
        Ok(())
    }

    /// Every stored chunk's bytes not in memory: to make the file small
    /// again (whole in memory) when it shrinks below the large size.
    pub fn needs_all(&self) -> Vec<(u64, ContentHash)> {
        self.missing(self.chunks.keys().copied())
    }

    /// The whole content, when it is small enough to hold.
    pub fn to_bytes(&self, fetched: &Fetched) -> Result<Vec<u8>, u64> {
        self.read(0, self.size, fetched)
    }

    /// Stored chunks whose chaining value a flush needs and that are not
    /// in memory (those in memory are hashed where they are).
    pub fn needs_for_hash(&self) -> Vec<(u64, ContentHash)> {
        if self.hash.is_some() {
            return Vec::new();
        }
        self.chunks
            .iter()
            .filter_map(|(i, p)| match p {
                Piece::Stored { hash, cv: None, cached: None } => Some((*i, *hash)),
                _ => None,
            })
            .collect()
    }

    /// Whole-chunk holes whose chaining value a flush needs and that are
    /// not worked out yet (`hole_cvs` works them out, off any lock).
    pub fn holes_for_hash(&self) -> Vec<u64> {
        if self.hash.is_some() {
            return Vec::new();
        }
        (0..self.size / CHUNK)
            .filter(|i| !self.chunks.contains_key(i) && !self.holes.contains_key(i))
            .collect()
    }

    /// Records the chaining values of holes.
    pub fn learn_holes(&mut self, cvs: Vec<(u64, ChainingValue)>) {
        self.holes.extend(cvs);
    }

    /// Records chaining values of fetched stored chunks.
    pub fn learn_cvs(&mut self, fetched: &Fetched) {
        for (index, bytes) in fetched {
            if let Some(Piece::Stored { hash, cv, .. }) = self.chunks.get_mut(index)
                && cv.is_none()
                && ContentHash::of(bytes) == *hash
            {
                *cv = Some(chunk_cv(*index, bytes));
            }
        }
    }

    /// Hashes the file for a flush: each written chunk (once), each hole
    /// as zeros. `Err(index)` if a stored chunk's chaining value is not
    /// known yet (`needs_for_hash` was not served).
    pub fn seal(&mut self) -> Result<Sealed, u64> {
        let count = self.size.div_ceil(CHUNK);
        let mut cvs = Vec::with_capacity(count as usize);
        let mut hashes = Vec::with_capacity(count as usize);
        let mut new = Vec::new();
        let mut zeros: HashMap<usize, (ContentHash, Arc<Vec<u8>>)> = HashMap::new();
        for index in 0..count {
            let len = Self::len_at(self.size, index);
            match self.chunks.get_mut(&index) {
                None => {
                    let (hash, bytes) = zeros
                        .entry(len)
                        .or_insert_with(|| {
                            let bytes = Arc::new(vec![0u8; len]);
                            (ContentHash::of(&bytes), bytes)
                        })
                        .clone();
                    let cv = match self.holes.get(&index) {
                        Some(cv) if len == CHUNK as usize => *cv,
                        _ => zero_cv(index, len),
                    };
                    cvs.push(cv);
                    hashes.push(hash);
                    if !new.iter().any(|(h, _)| *h == hash) {
                        new.push((hash, bytes));
                    }
                }
                Some(Piece::Stored { hash, cv, cached }) => {
                    if cv.is_none()
                        && let Some(bytes) = cached
                    {
                        *cv = Some(chunk_cv(index, bytes));
                    }
                    let Some(cv) = *cv else { return Err(index) };
                    cvs.push(cv);
                    hashes.push(*hash);
                }
                Some(Piece::Dirty { bytes, sealed }) => {
                    let (hash, cv) = *sealed
                        .get_or_insert_with(|| (ContentHash::of(bytes), chunk_cv(index, bytes)));
                    cvs.push(cv);
                    hashes.push(hash);
                    new.push((hash, bytes.clone()));
                }
            }
        }
        let hash = file_hash(&cvs, self.size);
        self.hash = Some(hash);
        Ok(Sealed { hash, size: self.size, chunks: hashes, new })
    }

    /// Past [`DIRTY_HELD`] written chunks, every one but the last written
    /// (the highest: a file is mostly written in order, and its end may
    /// still grow), hashed: the caller writes them to the store, then
    /// calls [`Large::spilled`]. Chunks are content-addressed, so one
    /// written for a change never committed is a harmless leftover.
    pub fn spill(&mut self) -> Vec<Spilled> {
        let dirty: Vec<u64> = self
            .chunks
            .iter()
            .filter(|(_, p)| matches!(p, Piece::Dirty { .. }))
            .map(|(i, _)| *i)
            .collect();
        if dirty.len() <= DIRTY_HELD {
            return Vec::new();
        }
        let mut out = Vec::new();
        for index in &dirty[..dirty.len() - 1] {
            if let Some(Piece::Dirty { bytes, sealed }) = self.chunks.get_mut(index) {
                let (hash, _) = *sealed
                    .get_or_insert_with(|| (ContentHash::of(bytes), chunk_cv(*index, bytes)));
                out.push((*index, hash, bytes.clone()));
            }
        }
        out
    }

    /// The chunks [`Large::spill`] gave are in the store: those not
    /// written again meanwhile leave memory.
    pub fn spilled(&mut self, chunks: &[Spilled]) {
        for (index, hash, _) in chunks {
            if let Some(piece) = self.chunks.get_mut(index)
                && let Piece::Dirty { sealed: Some((h, cv)), .. } = piece
                && h == hash
            {
                *piece = Piece::Stored { hash: *hash, cv: Some(*cv), cached: None };
            }
        }
    }

    /// After a flush wrote what `seal` gave: written chunks sealed since
    /// are in the store now, and leave memory.
    pub fn settle(&mut self) {
        for piece in self.chunks.values_mut() {
            if let Piece::Dirty { sealed: Some((hash, cv)), .. } = piece {
                *piece = Piece::Stored { hash: *hash, cv: Some(*cv), cached: None };
            }
        }
    }

    /// A failed flush: hash again next time.
    pub fn unseal(&mut self) {
        self.hash = None;
    }

    /// Bytes held in memory (written and cached chunks).
    #[cfg(test)]
    fn resident(&self) -> usize {
        self.chunks
            .values()
            .map(|p| match p {
                Piece::Dirty { bytes, .. } => bytes.len(),
                Piece::Stored { cached: Some(bytes), .. } => bytes.len(),
                Piece::Stored { .. } => 0,
            })
            .sum()
    }
}

/// The chaining values of whole-chunk holes at `indices`.
pub fn hole_cvs(indices: &[u64]) -> Vec<(u64, ChainingValue)> {
    indices.iter().map(|&i| (i, zero_cv(i, CHUNK as usize))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model of the same file as plain bytes, and the large file, moved
    /// through writes, resizes, flushes and reads together.
    struct Pair {
        model: Vec<u8>,
        large: Large,
        store: HashMap<ContentHash, Arc<Vec<u8>>>,
    }

    impl Pair {
        fn new(bytes: &[u8]) -> Pair {
            Pair { model: bytes.to_vec(), large: Large::from_bytes(bytes), store: HashMap::new() }
        }

        fn fetch(&self, needs: Vec<(u64, ContentHash)>) -> Fetched {
            needs.into_iter().map(|(i, h)| (i, self.store[&h].clone())).collect()
        }

        fn write(&mut self, offset: u64, data: &[u8]) {
            let f = self.fetch(self.large.needs_for_write(offset, data.len() as u64));
            self.large.write(offset, data, &f).unwrap();
            let end = offset as usize + data.len();
            if self.model.len() < end {
                self.model.resize(end, 0);
            }
            self.model[offset as usize..end].copy_from_slice(data);
        }

        fn resize(&mut self, size: u64) {
            let f = self.fetch(self.large.needs_for_resize(size));
            self.large.resize(size, &f).unwrap();
            self.model.resize(size as usize, 0);
        }

        fn flush(&mut self) {
            let f = self.fetch(self.large.needs_for_hash());
            self.large.learn_cvs(&f);
            let sealed = self.large.seal().unwrap();
            assert_eq!(sealed.hash, ContentHash::of(&self.model));
            for (h, b) in sealed.new {
                assert_eq!(ContentHash::of(&b), h);
                self.store.insert(h, b);
            }
            self.large.settle();
        }

        fn check_read(&mut self, offset: u64, len: u64) {
            let f = self.fetch(self.large.needs_for_read(offset, len));
            let got = self.large.read(offset, len, &f).unwrap();
            self.large.cache(&f);
            let end = (offset + len).min(self.model.len() as u64) as usize;
            let want = self.model.get(offset as usize..end).unwrap_or_default();
            assert_eq!(got, want, "read {offset}+{len}");
        }
    }

    #[test]
    fn writes_resizes_and_flushes_match_plain_bytes() {
        let c = CHUNK;
        let first: Vec<u8> = (0..5 * c + 123).map(|i| (i % 251) as u8).collect();
        let mut p = Pair::new(&first);
        p.flush();
        assert_eq!(p.large.resident(), 0, "a flushed file holds nothing");
        p.check_read(c - 10, 20);
        p.write(2 * c + 5, b"hello");
        p.write(7 * c + 9, b"far past the end: a hole before");
        p.flush();
        p.check_read(5 * c, 2 * c + 100);
        p.resize(3 * c + 1);
        p.flush();
        p.resize(9 * c);
        p.write(9 * c - 2, b"xyz");
        p.flush();
        p.resize(4 * c);
        p.flush();
        for at in [0, c - 1, 3 * c, 4 * c - 1] {
            p.check_read(at, 4096);
        }
        assert!(p.large.resident() <= READ_CACHE * c as usize);
    }

    /// A file written in order holds at most `DIRTY_HELD` chunks: the
    /// older ones go to the store ahead of the flush, and the flush still
    /// gives the whole content, read back right. A chunk written again
    /// while its spill was on its way stays in memory.
    #[test]
    fn writing_a_large_file_holds_a_few_chunks() {
        let c = CHUNK as usize;
        let mut p = Pair::new(&vec![7u8; c + 1]);
        for n in 1..40 {
            let piece: Vec<u8> = (0..c).map(|i| ((i + n) % 253) as u8).collect();
            p.write((n * c) as u64, &piece);
            let spilled = p.large.spill();
            for (_, h, b) in &spilled {
                p.store.insert(*h, b.clone());
            }
            if n == 20 {
                // Written again between the spill and its landing.
                p.write(c as u64 * 10, b"again");
            }
            p.large.spilled(&spilled);
            assert!(p.large.resident() <= (DIRTY_HELD + 1) * c, "{n}: {}", p.large.resident());
        }
        p.check_read(c as u64 * 10, 10);
        p.flush();
        for at in [0, 10 * c as u64, 39 * c as u64] {
            p.check_read(at, 4096);
        }
    }

    #[test]
    fn a_sparse_file_costs_nothing_until_written() {
        let mut p = Pair::new(&vec![1u8; (CHUNK + 1) as usize]);
        p.resize(256 << 20);
        p.write((256 << 20) - 3, b"end");
        // The two chunks it began with, and the one written at the end.
        assert!(p.large.resident() <= 3 * CHUNK as usize);
        let f = p.fetch(p.large.needs_for_hash());
        p.large.learn_cvs(&f);
        let sealed = p.large.seal().unwrap();
        // Every hole is the same chunk of zeros.
        let distinct: std::collections::HashSet<_> = sealed.chunks.iter().collect();
        assert!(distinct.len() <= 4, "{}", distinct.len());
        p.check_read((256 << 20) - 10, 10);
    }
}
