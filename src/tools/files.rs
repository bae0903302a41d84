//! The file tools on a view's VFS: paths as agents write them, checked so
//! that nothing leaves the tree, then resolved, read and written through
//! the same VFS the mounts serve (so a mount of the view sees a write at
//! once, once its kernel cache is told).

use serde_json::{Value, json};

use super::{ToolError, WritePolicy, bounded_text, lines_of};
use crate::ids::InodeNo;
use crate::vfs::{Attr, Caller, FileKind, Invalidation, RenameMode, SetAttr, Vfs, VfsError};

/// The longest path accepted, as PATH_MAX.
pub const PATH_MAX: usize = 4096;
/// Files larger than this are not read or edited whole.
pub const FILE_MAX: u64 = 16 << 20;
/// Symlinks followed in one path before giving up (as Linux's ELOOP).
const SYMLINK_HOPS: usize = 40;

/// A path inside the tree, as components. Relative to the tree's root; no
/// `..`, no NUL, no absolute paths (they name something outside).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreePath(pub Vec<String>);

impl TreePath {
    pub fn parse(raw: &str) -> Result<TreePath, ToolError> {
        if raw.len() > PATH_MAX {
            return Err(ToolError::new(format!(
                "the path is {} bytes; paths are limited to {PATH_MAX}",
                raw.len()
            )));
        }
        if raw.contains('\0') {
            return Err(ToolError::new("the path contains a NUL byte"));
        }
        if raw.starts_with('/') || raw.starts_with('~') {
            return Err(ToolError::new(format!(
                "{raw:?} is absolute; paths are relative to the root of the tree \
                 (`src/lib.rs`), and nothing outside the tree can be reached"
            )));
        }
        let mut parts = Vec::new();
        for part in raw.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    return Err(ToolError::new(format!(
                        "{raw:?} contains `..`; paths stay inside the tree: write them from its root"
                    )));
                }
                name if name.len() > crate::vfs::NAME_MAX => {
                    return Err(ToolError::new(format!(
                        "a name in {raw:?} is longer than {} bytes",
                        crate::vfs::NAME_MAX
                    )));
                }
                name => parts.push(name.to_owned()),
            }
        }
        Ok(TreePath(parts))
    }

    pub fn text(&self) -> String {
        self.0.join("/")
    }

    fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    fn split_last(&self) -> Option<(TreePath, &str)> {
        let (last, rest) = self.0.split_last()?;
        Some((TreePath(rest.to_vec()), last))
    }
}

/// What a tool did to a view, for the kernel caches of its mounts.
pub type Changes = Vec<Invalidation>;

fn vfs_error(path: &TreePath, e: VfsError) -> ToolError {
    let what = if path.is_root() { "the tree's root".to_owned() } else { path.text() };
    let hint = match e.errno {
        libc::ENOENT => "; list_dir shows what is there",
        libc::EEXIST => "; pass overwrite to replace it",
        libc::ENOTEMPTY => "; pass recursive to delete a directory and what is in it",
        libc::EROFS => "; this view is read-only",
        _ => "",
    };
    ToolError::new(format!("{what}: {}{hint}", e.message))
}

fn not_found(path: &TreePath) -> ToolError {
    vfs_error(path, VfsError::new(libc::ENOENT, "no such file or directory"))
}

/// The process's own uid and gid: tools act as the server's user.
fn caller() -> Caller {
    // SAFETY: getuid/getgid cannot fail and touch no memory.
    unsafe { Caller { uid: libc::getuid(), gid: libc::getgid() } }
}

/// Resolves `path` to its inode, following symlinks that stay inside the
/// tree (the last one only if `follow`). A symlink that points out of the
/// tree (absolute, or `..` above the root) is refused.
pub fn resolve(vfs: &Vfs, path: &TreePath, follow: bool) -> Result<Attr, ToolError> {
    walk(vfs, path, follow, false).map(|(attr, _)| attr)
}

/// [`resolve`], also giving the names of the path it arrived at: where the
/// symlinks on the way really lead. With `missing_ok`, a name that is not
/// there ends the walk: the names still to walk (the rest of the path, or
/// of a symlink's target) are taken as they are written.
fn walk(
    vfs: &Vfs,
    path: &TreePath,
    follow: bool,
    missing_ok: bool,
) -> Result<(Attr, Vec<String>), ToolError> {
    let root = vfs.getattr(InodeNo::ROOT).map_err(|e| vfs_error(path, e))?;
    let outside = || {
        ToolError::new(format!(
            "{}: a symlink on the way points outside the tree; refused",
            path.text()
        ))
    };
    // Names still to walk, last first; the directories walked so far.
    let mut pending: Vec<String> = path.0.iter().rev().cloned().collect();
    let mut here: Vec<(Attr, String)> = Vec::new();
    let mut hops = 0;
    while let Some(name) = pending.pop() {
        let dir = here.last().map_or(root, |(attr, _)| *attr);
        match name.as_str() {
            // Only symlink targets bring these: the user's paths cannot.
            "" | "." => continue,
            ".." => {
                here.pop().ok_or_else(outside)?;
                continue;
            }
            _ => {}
        }
        if dir.kind != FileKind::Dir {
            return Err(vfs_error(path, VfsError::new(libc::ENOTDIR, "not a directory")));
        }
        let child = match vfs.lookup(dir.ino, name.as_bytes()) {
            Ok(child) => child,
            Err(e) if e.errno == libc::ENOENT && missing_ok => {
                let mut names: Vec<String> = here.into_iter().map(|(_, n)| n).collect();
                names.push(name);
                names.extend(pending.into_iter().rev().filter(|n| !n.is_empty() && n != "."));
                return Ok((dir, names));
            }
            Err(e) if e.errno == libc::ENOENT => return Err(not_found(path)),
            Err(e) => return Err(vfs_error(path, e)),
        };
        if child.kind == FileKind::Symlink && (follow || !pending.is_empty()) {
            hops += 1;
            if hops > SYMLINK_HOPS {
                return Err(ToolError::new(format!("{}: too many symlinks", path.text())));
            }
            let target = vfs.readlink(child.ino).map_err(|e| vfs_error(path, e))?;
            let target = String::from_utf8(target).map_err(|_| outside())?;
            if target.starts_with('/') {
                return Err(outside());
            }
            // The target is read from the directory holding the link.
            pending.extend(target.split('/').rev().map(str::to_owned));
            continue;
        }
        here.push((child, name));
    }
    let attr = here.last().map_or(root, |(attr, _)| *attr);
    Ok((attr, here.into_iter().map(|(_, name)| name).collect()))
}

/// Directories no tool writes into: the store's own, and git's unless the
/// server was started allowing it ([`WritePolicy`]).
const STORE_DIR: &str = ".cortex";
const GIT_DIR: &str = ".git";

/// Refuses a write that would land in `.cortex/`, or in `.git/` unless
/// `policy` allows it: by the path as written and by where its symlinks
/// lead (the part of it that exists is resolved, the rest taken as written).
pub fn may_write(vfs: &Vfs, path: &TreePath, policy: WritePolicy) -> Result<(), ToolError> {
    // A walk that fails otherwise (a symlink out of the tree) is refused by
    // the write itself; the path as written is checked all the same.
    let real = walk(vfs, path, true, true).map(|(_, names)| names).unwrap_or_default();
    for names in [&path.0, &real] {
        if names.iter().any(|n| n == STORE_DIR) {
            return Err(ToolError::new(format!(
                "{}: the tools do not write into {STORE_DIR}/, where a cortex store lives; refused",
                path.text()
            )));
        }
        if !policy.git && names.iter().any(|n| n == GIT_DIR) {
            return Err(ToolError::new(format!(
                "{}: the tools do not write into {GIT_DIR}/ (a hook or config there runs code at \
                 the person's next git command); refused. Use the session's files, or ask the person \
                 to start the server with `cortex mcp --allow-git-writes`",
                path.text()
            )));
        }
    }
    Ok(())
}

/// The directory that holds `path`, and the last name.
fn parent_of<'a>(vfs: &Vfs, path: &'a TreePath) -> Result<(Attr, &'a str), ToolError> {
    let Some((parent, name)) = path.split_last() else {
        return Err(ToolError::new(
            "the tree's root cannot be changed this way; name a path in it",
        ));
    };
    let dir = resolve(vfs, &parent, true)?;
    if dir.kind != FileKind::Dir {
        return Err(vfs_error(&parent, VfsError::new(libc::ENOTDIR, "not a directory")));
    }
    Ok((dir, name))
}

/// Reads a whole file (text or not).
pub async fn read_bytes(vfs: &Vfs, path: &TreePath) -> Result<Vec<u8>, ToolError> {
    let attr = resolve(vfs, path, true)?;
    match attr.kind {
        FileKind::File => {}
        FileKind::Dir => {
            return Err(ToolError::new(format!(
                "{} is a directory; list_dir lists it",
                path.text()
            )));
        }
        _ => return Err(ToolError::new(format!("{} is not a regular file", path.text()))),
    }
    if attr.size > FILE_MAX {
        return Err(ToolError::new(format!(
            "{} is {} bytes; files over {} bytes are not read whole here",
            path.text(),
            attr.size,
            FILE_MAX
        )));
    }
    let mut out = Vec::with_capacity(attr.size as usize);
    while (out.len() as u64) < attr.size {
        let chunk = vfs
            .read(attr.ino, out.len() as u64, (1 << 20) as u32)
            .await
            .map_err(|e| vfs_error(path, e))?;
        if chunk.is_empty() {
            break;
        }
        out.extend(chunk);
    }
    Ok(out)
}

/// Reads a text file: UTF-8 without NUL bytes, or an error that says so.
pub async fn read_text(vfs: &Vfs, path: &TreePath) -> Result<String, ToolError> {
    let bytes = read_bytes(vfs, path).await?;
    let len = bytes.len();
    match String::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => Ok(text),
        _ => Err(ToolError::new(format!(
            "{} is binary or not UTF-8 ({len} bytes); the file tools read and edit text only",
            path.text()
        ))),
    }
}

/// `read_file`: lines `start..=end` (1-based) of a text file, bounded.
pub async fn read_file(
    vfs: &Vfs,
    path: &TreePath,
    start: usize,
    end: Option<usize>,
) -> Result<Value, ToolError> {
    let text = read_text(vfs, path).await?;
    let lines = lines_of(&text);
    let total = lines.len();
    let start = start.max(1);
    if start > total.max(1) {
        return Err(ToolError::new(format!(
            "{} has {total} lines; start_line {start} is past the end",
            path.text()
        )));
    }
    let end = end.unwrap_or(total).min(total);
    let wanted: String = lines.get(start - 1..end).unwrap_or_default().concat();
    let (content, shown, truncated) = bounded_text(&wanted);
    let last = if shown == 0 { start.saturating_sub(1) } else { start + shown - 1 };
    let mut out = json!({
        "path": path.text(),
        "start_line": start,
        "end_line": last,
        "total_lines": total,
        "bytes": text.len(),
        "content": content,
        "truncated": truncated,
    });
    if truncated {
        out["next_start_line"] = json!(last + 1);
    }
    Ok(out)
}

/// Makes the directories of `path` that are missing.
fn make_dirs(vfs: &Vfs, path: &TreePath, changes: &mut Changes) -> Result<Attr, ToolError> {
    let mut attr = vfs.getattr(InodeNo::ROOT).map_err(|e| vfs_error(path, e))?;
    let mut done = TreePath::default();
    for name in &path.0 {
        done.0.push(name.clone());
        // Only a name that is not there is made; anything else there (a
        // symlink out of the tree, a file) answers for itself.
        let there = vfs.lookup(attr.ino, name.as_bytes()).is_ok();
        attr = match resolve(vfs, &done, true) {
            Ok(a) if a.kind == FileKind::Dir => a,
            Ok(_) => return Err(vfs_error(&done, VfsError::new(libc::ENOTDIR, "not a directory"))),
            Err(e) if there => return Err(e),
            Err(_) => {
                let made = vfs
                    .mkdir(attr.ino, name.as_bytes(), 0o755, caller())
                    .map_err(|e| vfs_error(&done, e))?;
                changes
                    .push(Invalidation::Entry { parent: attr.ino, name: name.as_bytes().to_vec() });
                changes.push(Invalidation::Inode(attr.ino));
                made
            }
        };
    }
    Ok(attr)
}

/// Replaces a file's content (creating it, and its directories, if need be).
/// Answers whether it was created.
pub async fn write_bytes(
    vfs: &Vfs,
    path: &TreePath,
    data: &[u8],
    changes: &mut Changes,
) -> Result<bool, ToolError> {
    let Some((parent, name)) = path.split_last() else {
        return Err(ToolError::new("the tree's root is a directory; name a file to write"));
    };
    let dir = make_dirs(vfs, &parent, changes)?;
    let there = vfs.lookup(dir.ino, name.as_bytes()).is_ok();
    let (ino, created) = match resolve(vfs, path, true) {
        Ok(a) if a.kind == FileKind::File => {
            let set = SetAttr { size: Some(0), ..SetAttr::default() };
            vfs.setattr(a.ino, set, caller()).await.map_err(|e| vfs_error(path, e))?;
            (a.ino, false)
        }
        Ok(a) if a.kind == FileKind::Dir => {
            return Err(ToolError::new(format!(
                "{} is a directory; name a file to write",
                path.text()
            )));
        }
        Ok(_) => return Err(ToolError::new(format!("{} is not a regular file", path.text()))),
        Err(e) if there => return Err(e),
        Err(_) => {
            let a = vfs
                .create(dir.ino, name.as_bytes(), 0o644, caller())
                .map_err(|e| vfs_error(path, e))?;
            changes.push(Invalidation::Entry { parent: dir.ino, name: name.as_bytes().to_vec() });
            changes.push(Invalidation::Inode(dir.ino));
            (a.ino, true)
        }
    };
    let mut offset = 0usize;
    while offset < data.len() {
        let end = (offset + (1 << 20)).min(data.len());
        let n = vfs
            .write(ino, offset as u64, &data[offset..end])
            .await
            .map_err(|e| vfs_error(path, e))?;
        offset += n as usize;
    }
    changes.push(Invalidation::Inode(ino));
    Ok(created)
}

/// `edit_file`: replaces an exact string (once, unless `all`).
pub async fn edit_file(
    vfs: &Vfs,
    path: &TreePath,
    old: &str,
    new: &str,
    all: bool,
    changes: &mut Changes,
) -> Result<Value, ToolError> {
    if old.is_empty() {
        return Err(ToolError::new("old_string is empty; give the exact text to replace"));
    }
    let text = read_text(vfs, path).await?;
    let count = text.matches(old).count();
    if count == 0 {
        return Err(ToolError::new(format!(
            "old_string was not found in {}; read_file shows its current text (whitespace counts)",
            path.text()
        )));
    }
    if count > 1 && !all {
        return Err(ToolError::new(format!(
            "old_string occurs {count} times in {}; include more surrounding text to make it unique, \
             or pass replace_all",
            path.text()
        )));
    }
    let edited = if all { text.replace(old, new) } else { text.replacen(old, new, 1) };
    write_bytes(vfs, path, edited.as_bytes(), changes).await?;
    Ok(
        json!({ "path": path.text(), "replacements": if all { count } else { 1 }, "bytes": edited.len() }),
    )
}

fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::File => "file",
        FileKind::Dir => "dir",
        FileKind::Symlink => "symlink",
        FileKind::Special(_) => "special",
    }
}

/// `list_dir`: a directory's entries by name, a page at a time.
pub fn list_dir(
    vfs: &Vfs,
    path: &TreePath,
    offset: usize,
    limit: usize,
) -> Result<Value, ToolError> {
    let dir = resolve(vfs, path, true)?;
    if dir.kind != FileKind::Dir {
        return Err(ToolError::new(format!(
            "{} is not a directory; read_file reads files",
            path.text()
        )));
    }
    let mut entries = vfs.readdir(dir.ino).map_err(|e| vfs_error(path, e))?;
    entries.retain(|e| e.name != b"." && e.name != b"..");
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let total = entries.len();
    let page: Vec<Value> = entries
        .iter()
        .skip(offset)
        .take(limit)
        .map(|e| {
            let size = vfs.getattr(e.ino).map(|a| a.size).unwrap_or(0);
            json!({
                "name": String::from_utf8_lossy(&e.name),
                "kind": kind_name(e.kind),
                "size": size,
            })
        })
        .collect();
    let mut out = json!({ "path": path.text(), "entries": page, "total": total });
    if offset + limit < total {
        out["next_cursor"] = json!((offset + limit).to_string());
    }
    Ok(out)
}

/// `delete_path`: a file, a symlink, or a directory (with `recursive`, and
/// what is in it). Answers how many entries went.
pub fn delete_path(
    vfs: &Vfs,
    path: &TreePath,
    recursive: bool,
    changes: &mut Changes,
) -> Result<usize, ToolError> {
    let (dir, name) = parent_of(vfs, path)?;
    let attr = resolve(vfs, path, false)?;
    let mut count = 0;
    if attr.kind == FileKind::Dir {
        if !recursive {
            let inside = vfs.readdir(attr.ino).map_err(|e| vfs_error(path, e))?;
            if inside.iter().any(|e| e.name != b"." && e.name != b"..") {
                return Err(vfs_error(path, VfsError::new(libc::ENOTEMPTY, "directory not empty")));
            }
        }
        count += empty_dir(vfs, path, attr.ino)?;
        changes.extend(vfs.rmdir(dir.ino, name.as_bytes()).map_err(|e| vfs_error(path, e))?);
    } else {
        changes.extend(vfs.unlink(dir.ino, name.as_bytes()).map_err(|e| vfs_error(path, e))?);
    }
    Ok(count + 1)
}

fn empty_dir(vfs: &Vfs, path: &TreePath, ino: InodeNo) -> Result<usize, ToolError> {
    let mut count = 0;
    for e in vfs.readdir(ino).map_err(|e| vfs_error(path, e))? {
        if e.name == b"." || e.name == b".." {
            continue;
        }
        if e.kind == FileKind::Dir {
            count += empty_dir(vfs, path, e.ino)?;
            vfs.rmdir(ino, &e.name).map_err(|e| vfs_error(path, e))?;
        } else {
            vfs.unlink(ino, &e.name).map_err(|e| vfs_error(path, e))?;
        }
        count += 1;
    }
    Ok(count)
}

/// `move_path`: renames a file or directory (its new directories made).
pub fn move_path(
    vfs: &Vfs,
    from: &TreePath,
    to: &TreePath,
    overwrite: bool,
    changes: &mut Changes,
) -> Result<(), ToolError> {
    let (src_dir, src_name) = parent_of(vfs, from)?;
    resolve(vfs, from, false)?;
    let Some((to_parent, to_name)) = to.split_last() else {
        return Err(ToolError::new("the destination is the tree's root; name a path in it"));
    };
    if to.0.starts_with(&from.0) {
        return Err(ToolError::new(format!("{} cannot move inside itself", from.text())));
    }
    let dst_dir = make_dirs(vfs, &to_parent, changes)?;
    let mode = if overwrite { RenameMode::Replace } else { RenameMode::NoReplace };
    let touched = vfs
        .rename(src_dir.ino, src_name.as_bytes(), dst_dir.ino, to_name.as_bytes(), mode)
        .map_err(|e| vfs_error(if e.errno == libc::EEXIST { to } else { from }, e))?;
    changes.extend(touched);
    Ok(())
}
