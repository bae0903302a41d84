//! The types a view's operations take and answer (what the FUSE layer
//! translates to and from).

use crate::ids::InodeNo;
use crate::tree::{SpecialKind, Timestamp};

/// Who is asking: the uid and gid of the calling process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
}

/// How a view is mounted.
#[derive(Clone, Copy, Debug)]
pub struct VfsConfig {
    /// Owner shown for entries that never had one set (the mounting user).
    pub uid: u32,
    pub gid: u32,
    pub read_only: bool,
    /// Most bytes of file contents kept in memory once read from the store
    /// (or flushed to it): past it the oldest go back to the store. The
    /// kernel's page cache holds what is hot; this copy saves the store a
    /// read when the kernel dropped its own.
    pub content_cache: u64,
}

pub use crate::memory::CacheUse;

/// The content cache a view keeps by default: the content share of the
/// default memory budget (`crate::memory`; the daemon takes it from
/// `CORTEX_MEMORY` and `CORTEX_CONTENT_CACHE`).
pub const CONTENT_CACHE_DEFAULT: u64 = 256 << 20;

/// What an inode is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Special(SpecialKind),
}

/// An inode's attributes, as `stat` shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: InodeNo,
    pub kind: FileKind,
    pub size: u64,
    /// Permission bits (`MODE_MASK`).
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    /// Device number of a device node.
    pub rdev: u64,
}

/// One name in a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: InodeNo,
    pub kind: FileKind,
    pub name: Vec<u8>,
}

/// A time to set: now, or a given instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSet {
    Now,
    At(Timestamp),
}

/// The changes of a `setattr`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeSet>,
    pub mtime: Option<TimeSet>,
}

/// How `rename` treats an existing target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenameMode {
    /// Replace it (plain rename).
    Replace,
    /// Fail with EEXIST (RENAME_NOREPLACE).
    NoReplace,
    /// Swap the two (RENAME_EXCHANGE); both must exist.
    Exchange,
}

/// Filesystem-wide figures for `statfs`.
#[derive(Clone, Copy, Debug)]
pub struct StatFs {
    pub blocks: u64,
    pub bfree: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
}

/// Something the kernel may have cached that changed under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// The name `name` in directory `parent`.
    Entry { parent: InodeNo, name: Vec<u8> },
    /// An inode's attributes and cached pages.
    Inode(InodeNo),
}

/// How `setxattr` treats an existing attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XattrMode {
    Any,
    /// XATTR_CREATE: fail if it exists.
    Create,
    /// XATTR_REPLACE: fail if it does not.
    Replace,
}
