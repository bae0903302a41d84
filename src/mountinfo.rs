//! What `/proc/self/mountinfo` says about a path: whether something is
//! mounted there, and whether it is one of ours. Read by the CLI (before a
//! mount, and to clean up after a dead daemon) and by the daemon.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One line of mountinfo, the fields we read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub mountpoint: PathBuf,
    /// `fuse`, `fuse.cortex`, `ext4`, ...
    pub fstype: String,
    /// What was mounted: `cortex` for our mounts.
    pub source: String,
}

/// The mounts at `path` (stacked mounts give several).
pub fn at(path: &Path) -> Vec<Mount> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return vec![] };
    info.lines().filter_map(parse).filter(|m| m.mountpoint == path).collect()
}

/// Something is mounted at `path`.
pub fn is_mountpoint(path: &Path) -> bool {
    !at(path).is_empty()
}

/// A cortex FUSE mount is at `path` (alive or not).
pub fn is_cortex_mount(path: &Path) -> bool {
    at(path).iter().any(|m| m.fstype.starts_with("fuse") && m.source == "cortex")
}

/// Refuses a mountpoint that is not an empty directory with nothing
/// mounted on it.
pub fn check_mountpoint(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("mountpoint", path, e))?;
    if !meta.is_dir() {
        return Err(Error::InvalidInput(format!(
            "mountpoint {} is not a directory",
            path.display()
        )));
    }
    if is_mountpoint(path) {
        return Err(Error::InvalidInput(format!(
            "{} is already a mountpoint; unmount it first",
            path.display()
        )));
    }
    let mut entries = std::fs::read_dir(path).map_err(|e| Error::io("list", path, e))?;
    if entries.next().is_some() {
        return Err(Error::InvalidInput(format!("mountpoint {} is not empty", path.display())));
    }
    Ok(())
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`: the
/// mountpoint is the fifth field; the filesystem type and the source follow
/// the ` - `.
fn parse(line: &str) -> Option<Mount> {
    let (head, tail) = line.split_once(" - ")?;
    let mountpoint = head.split(' ').nth(4)?;
    let mut tail = tail.split(' ');
    let fstype = tail.next()?;
    let source = tail.next().unwrap_or_default();
    Some(Mount {
        mountpoint: PathBuf::from(unescape(mountpoint)),
        fstype: unescape(fstype),
        source: unescape(source),
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && let Some(v) = field.get(i + 1..i + 4).and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_with_their_escapes() {
        let line = "812 30 0:77 / /tmp/a\\040b\\011c\\134d rw,nosuid - fuse cortex rw,user_id=0";
        let m = parse(line).unwrap();
        assert_eq!(m.mountpoint, Path::new("/tmp/a b\tc\\d"));
        assert_eq!((m.fstype.as_str(), m.source.as_str()), ("fuse", "cortex"));
        let ext = parse("36 35 98:0 /mnt1 /mnt2 rw master:1 - ext3 /dev/root rw").unwrap();
        assert_eq!((ext.mountpoint.as_path(), ext.fstype.as_str()), (Path::new("/mnt2"), "ext3"));
        assert!(parse("no separator here").is_none());
        assert_eq!(unescape("odd\\09"), "odd\\09", "not an escape: kept as it is");
    }
}
