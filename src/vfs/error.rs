//! VFS errors: each carries the errno the filesystem answers with.

use std::fmt;

/// A failed filesystem operation: the errno to reply with and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VfsError {
    pub errno: i32,
    pub message: String,
}

impl VfsError {
    pub fn new(errno: i32, message: impl Into<String>) -> VfsError {
        VfsError { errno, message: message.into() }
    }
}

impl fmt::Display for VfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = std::io::Error::from_raw_os_error(self.errno);
        write!(f, "{} ({name})", self.message)
    }
}

impl std::error::Error for VfsError {}

impl From<crate::Error> for VfsError {
    /// Store errors reach the filesystem as EIO (the caller cannot fix
    /// them), a full disk as ENOSPC.
    fn from(e: crate::Error) -> VfsError {
        let errno = match &e {
            crate::Error::Fs { errno, message } => return VfsError::new(*errno, message.clone()),
            crate::Error::StoreFailed(f) if f.no_space => libc::ENOSPC,
            _ => libc::EIO,
        };
        VfsError::new(errno, e.to_string())
    }
}

impl From<VfsError> for crate::Error {
    fn from(e: VfsError) -> crate::Error {
        crate::Error::Fs { errno: e.errno, message: e.message }
    }
}

pub type VfsResult<T> = Result<T, VfsError>;

/// `err!(libc::ENOENT, "no {name}")` builds a `VfsError`.
#[macro_export]
macro_rules! vfs_err {
    ($errno:expr, $($arg:tt)*) => {
        $crate::vfs::VfsError::new($errno, format!($($arg)*))
    };
}
