//! Writing a snapshot out to a real directory.
//!
//! Everything is created below the target directory and nowhere else: names
//! in the tree cannot contain `/` or be `..` (trees refuse them), nothing
//! existing is followed through a symlink, and symlinks in the tree are
//! written as symlinks, whatever they point at. Directories are created
//! writable and get their own permission bits and times only after their
//! contents are in place, so a read-only directory exports like any other.

use std::ffi::{CString, OsStr};
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ids::ContentHash;
use crate::snapshot;
use crate::store::Store;
use crate::tree::{Entry, EntryKind, Timestamp};

/// How to export.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExportOptions {
    /// Write into a directory that is not empty, replacing files in the way.
    pub force: bool,
}

/// What an export wrote.
#[derive(Clone, Debug, Default)]
pub struct ExportReport {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
}

/// Writes the snapshot whose root tree is `root` into `target`.
pub async fn export(
    store: &Store,
    root: ContentHash,
    target: &Path,
    options: ExportOptions,
) -> Result<ExportReport> {
    prepare_target(target, options)?;
    let entries = snapshot::walk(store, root).await?;
    let mut report = ExportReport::default();

    // Directories first (in path order, so parents come before children),
    // then files in batches, then symlinks, then directory modes and times
    // deepest first.
    let mut dirs: Vec<(PathBuf, &Entry)> = Vec::new();
    let mut files: Vec<(PathBuf, &Entry)> = Vec::new();
    for (path, entry) in &entries {
        let dest = target.join(OsStr::from_bytes(path));
        match &entry.kind {
            EntryKind::Dir { .. } => {
                make_dir(&dest)?;
                report.dirs += 1;
                dirs.push((dest, entry));
            }
            EntryKind::File { .. } => files.push((dest, entry)),
            EntryKind::Symlink { target: link } => {
                remove_non_dir(&dest)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(link), &dest)
                    .map_err(|e| Error::io("create symlink", &dest, e))?;
                set_times(&dest, entry.mtime, false)?;
                report.symlinks += 1;
            }
            EntryKind::Special { kind, rdev } => {
                remove_non_dir(&dest)?;
                make_node(&dest, kind.mode_bits() | entry.mode, *rdev)?;
                set_times(&dest, entry.mtime, false)?;
                report.files += 1;
            }
        }
    }
    for batch in files.chunks(64) {
        let hashes: Vec<ContentHash> = batch
            .iter()
            .filter_map(|(_, e)| match e.kind {
                EntryKind::File { content, .. } => Some(content),
                _ => None,
            })
            .collect();
        let contents = store.objects().read_blobs(&hashes).await?;
        for ((dest, entry), hash) in batch.iter().zip(&hashes) {
            let data = &contents[hash];
            write_file(dest, data, entry.mode)?;
            set_times(dest, entry.mtime, true)?;
            report.files += 1;
            report.bytes += data.len() as u64;
        }
    }
    for (dest, entry) in dirs.iter().rev() {
        fs::set_permissions(dest, fs::Permissions::from_mode(entry.mode))
            .map_err(|e| Error::io("set mode of", dest, e))?;
        set_times(dest, entry.mtime, true)?;
    }
    Ok(report)
}

fn prepare_target(target: &Path, options: ExportOptions) -> Result<()> {
    match fs::symlink_metadata(target) {
        Ok(meta) if meta.is_dir() => {
            let mut listing = fs::read_dir(target).map_err(|e| Error::io("read", target, e))?;
            if listing.next().is_some() && !options.force {
                return Err(Error::InvalidInput(format!(
                    "{} is not empty; pass --force to write into it",
                    target.display()
                )));
            }
            Ok(())
        }
        Ok(_) => {
            Err(Error::InvalidInput(format!("{} exists and is not a directory", target.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(target).map_err(|e| Error::io("create", target, e))
        }
        Err(e) => Err(Error::io("read", target, e)),
    }
}

/// Creates a directory, or accepts an existing real one. An existing symlink
/// or file in the way is an error: following it could leave the target.
fn make_dir(dest: &Path) -> Result<()> {
    match fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => {
            // Make sure we can write into it until its mode is set at the end.
            fs::set_permissions(dest, fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io("set mode of", dest, e))
        }
        Ok(_) => Err(Error::InvalidInput(format!(
            "{} exists and is not a directory; remove it first",
            dest.display()
        ))),
        Err(_) => fs::DirBuilder::new()
            .mode(0o700)
            .create(dest)
            .map_err(|e| Error::io("create directory", dest, e)),
    }
}

use std::os::unix::fs::DirBuilderExt;

/// Removes a file or symlink in the way of a new one; refuses a directory.
fn remove_non_dir(dest: &Path) -> Result<()> {
    match fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => Err(Error::InvalidInput(format!(
            "{} exists and is a directory; remove it first",
            dest.display()
        ))),
        Ok(_) => fs::remove_file(dest).map_err(|e| Error::io("replace", dest, e)),
        Err(_) => Ok(()),
    }
}

fn write_file(dest: &Path, data: &[u8], mode: u32) -> Result<()> {
    remove_non_dir(dest)?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dest)
        .map_err(|e| Error::io("create", dest, e))?;
    file.write_all(data).map_err(|e| Error::io("write", dest, e))?;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("set mode of", dest, e))?;
    Ok(())
}

/// Creates a FIFO, socket or device node (devices need privileges).
fn make_node(dest: &Path, mode: u32, rdev: u64) -> Result<()> {
    let c = CString::new(dest.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidInput(format!("path with a NUL byte: {}", dest.display())))?;
    // SAFETY: `c` is a valid NUL-terminated path.
    let rc = unsafe { libc::mknod(c.as_ptr(), mode, rdev as libc::dev_t) };
    if rc != 0 {
        return Err(Error::io("create special file", dest, std::io::Error::last_os_error()));
    }
    // mknod applies the umask; set the bits exactly.
    fs::set_permissions(dest, fs::Permissions::from_mode(mode & 0o7777))
        .map_err(|e| Error::io("set mode of", dest, e))
}

/// Sets access and modification time (both to `mtime`) without following
/// a symlink at `dest` unless `follow`.
fn set_times(dest: &Path, mtime: Timestamp, follow: bool) -> Result<()> {
    let c = CString::new(dest.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidInput(format!("path with a NUL byte: {}", dest.display())))?;
    let ts = libc::timespec { tv_sec: mtime.sec, tv_nsec: mtime.nsec as i64 };
    let times = [ts, ts];
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    // SAFETY: `c` is a valid NUL-terminated path and `times` two timespecs.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), flags) };
    if rc != 0 {
        return Err(Error::io("set times of", dest, std::io::Error::last_os_error()));
    }
    Ok(())
}
