//! File operations on a view by path, as agents write paths: checked so
//! that nothing leaves the tree, then resolved, read and written through
//! the same VFS the mounts serve (so a mount of the view sees a write at
//! once, once its kernel cache is told). [`run`] is the one entry point:
//! a [`PathOp`] in, a [`PathAnswer`] and what it invalidated out.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::InodeNo;
use crate::vfs::{Attr, Caller, FileKind, Invalidation, RenameMode, SetAttr, Vfs, VfsError};

/// The largest text answered at once (a file's lines, a unit's body);
/// longer text is cut at a line, with [`TRUNCATED`] at the end.
pub const TEXT_MAX: usize = 100_000;
/// The marker that ends text cut short.
pub const TRUNCATED: &str = "\n[… truncated by cortex: ask for a later range]\n";

/// A refusal the caller can act on: the message says what to do instead.
fn refuse(message: impl Into<String>) -> Error {
    Error::InvalidInput(message.into())
}

/// What writes by path may reach besides the tree's ordinary files.
/// `.cortex/` is never writable (it is where a store lives when the tree is
/// exported); `.git/` only when the person starting the server allows it:
/// a hook or a config written there runs code at their next git command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritePolicy {
    /// Writes may go below `.git/` (`cortex mcp --allow-git-writes`).
    #[serde(default)]
    pub git: bool,
}

/// A file operation by path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PathOp {
    /// Lines `start_line..=end_line` (1-based) of a text file, bounded.
    Read { path: TreePath, start_line: usize, end_line: Option<usize> },
    /// Bytes `start..end` of a text file (a unit's span), bounded.
    ReadSpan { path: TreePath, start: usize, end: usize },
    /// A file's whole content replaced (the file and its directories made
    /// if missing).
    Write { path: TreePath, content: String },
    /// An exact string replaced, once (it must be unique) or everywhere.
    Edit { path: TreePath, old: String, new: String, all: bool },
    /// Bytes `start..end` of a text file replaced by `text` (a unit's new
    /// source).
    Splice { path: TreePath, start: usize, end: usize, text: String },
    /// A directory's entries by name, a page at a time.
    List { path: TreePath, offset: usize, limit: usize },
    /// A file, a symlink, or a directory (with `recursive`, and what is in it).
    Delete { path: TreePath, recursive: bool },
    /// A rename (the destination's directories made).
    Move { from: TreePath, to: TreePath, overwrite: bool },
}

impl PathOp {
    /// Whether the operation writes.
    pub fn writes(&self) -> bool {
        !matches!(self, PathOp::Read { .. } | PathOp::ReadSpan { .. } | PathOp::List { .. })
    }

    /// The paths it writes (checked against the [`WritePolicy`]).
    fn written(&self) -> Vec<&TreePath> {
        match self {
            PathOp::Read { .. } | PathOp::ReadSpan { .. } | PathOp::List { .. } => vec![],
            PathOp::Write { path, .. }
            | PathOp::Edit { path, .. }
            | PathOp::Splice { path, .. }
            | PathOp::Delete { path, .. } => vec![path],
            PathOp::Move { from, to, .. } => vec![from, to],
        }
    }
}

/// Lines of a text file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FileText {
    pub path: String,
    pub start_line: usize,
    /// The last line given (`start_line - 1` when none is).
    pub end_line: usize,
    pub total_lines: usize,
    /// The whole file's size.
    pub bytes: usize,
    pub content: String,
    /// Cut at [`TEXT_MAX`]; then `next_start_line` is where to go on.
    pub truncated: bool,
    pub next_start_line: Option<usize>,
}

/// One entry of a directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DirEntry {
    pub name: String,
    pub kind: EntryType,
    pub size: u64,
}

/// What a directory entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EntryType {
    File,
    Dir,
    Symlink,
    Special,
}

/// A page of a directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Listing {
    pub path: String,
    pub entries: Vec<DirEntry>,
    pub total: usize,
    /// Where the next page starts, if there is one.
    pub next: Option<usize>,
}

/// What a [`PathOp`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum PathAnswer {
    Lines(FileText),
    Span { text: String, truncated: bool },
    Written { created: bool, bytes: usize },
    Edited { replacements: usize, bytes: usize },
    Spliced { bytes: usize },
    Listing(Listing),
    Deleted { count: usize },
    Moved,
}

/// Runs `op` on `vfs`: its answer, and what it invalidated (for the kernel
/// caches of the view's mounts; given even when the operation failed part
/// way).
pub async fn run(vfs: &Vfs, op: PathOp, policy: WritePolicy) -> (Result<PathAnswer>, Changes) {
    let mut changes = Vec::new();
    let answer = run_op(vfs, op, policy, &mut changes).await;
    (answer, changes)
}

async fn run_op(
    vfs: &Vfs,
    op: PathOp,
    policy: WritePolicy,
    changes: &mut Changes,
) -> Result<PathAnswer> {
    for path in op.written() {
        may_write(vfs, path, policy)?;
    }
    Ok(match op {
        PathOp::Read { path, start_line, end_line } => {
            PathAnswer::Lines(read_file(vfs, &path, start_line, end_line).await?)
        }
        PathOp::ReadSpan { path, start, end } => {
            let text = read_text(vfs, &path).await?;
            let span = text.get(start..end).unwrap_or_default();
            let (text, _, truncated) = bounded_text(span);
            PathAnswer::Span { text, truncated }
        }
        PathOp::Write { path, content } => {
            let created = write_bytes(vfs, &path, content.as_bytes(), changes).await?;
            PathAnswer::Written { created, bytes: content.len() }
        }
        PathOp::Edit { path, old, new, all } => {
            let (replacements, bytes) = edit_file(vfs, &path, &old, &new, all, changes).await?;
            PathAnswer::Edited { replacements, bytes }
        }
        PathOp::Splice { path, start, end, text } => {
            let old = read_text(vfs, &path).await?;
            if end > old.len()
                || start > end
                || !old.is_char_boundary(start)
                || !old.is_char_boundary(end)
            {
                return Err(refuse(format!(
                    "bytes {start}..{end} are not a span of {}; it changed: look it up again",
                    path.text()
                )));
            }
            let edited = format!("{}{}{}", &old[..start], text, &old[end..]);
            write_bytes(vfs, &path, edited.as_bytes(), changes).await?;
            PathAnswer::Spliced { bytes: edited.len() }
        }
        PathOp::List { path, offset, limit } => {
            PathAnswer::Listing(list_dir(vfs, &path, offset, limit)?)
        }
        PathOp::Delete { path, recursive } => {
            PathAnswer::Deleted { count: delete_path(vfs, &path, recursive, changes)? }
        }
        PathOp::Move { from, to, overwrite } => {
            move_path(vfs, &from, &to, overwrite, changes)?;
            PathAnswer::Moved
        }
    })
}

/// The lines of `text`, each with its newline.
pub fn lines_of(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// `text` bounded to [`TEXT_MAX`] at a line boundary: the text (with the
/// marker if cut), how many whole lines it has, and whether it was cut.
pub fn bounded_text(text: &str) -> (String, usize, bool) {
    if text.len() <= TEXT_MAX {
        return (text.to_owned(), lines_of(text).len(), false);
    }
    let mut out = String::new();
    let mut lines = 0;
    for line in lines_of(text) {
        if out.len() + line.len() > TEXT_MAX {
            break;
        }
        out.push_str(line);
        lines += 1;
    }
    if lines == 0 {
        // One huge line: cut inside it, at a character boundary.
        let mut end = TEXT_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str(&text[..end]);
    }
    out.push_str(TRUNCATED);
    (out, lines, true)
}

/// The longest path accepted, as PATH_MAX.
pub const PATH_MAX: usize = 4096;
/// Files larger than this are not read or edited whole.
pub const FILE_MAX: u64 = 16 << 20;
/// Symlinks followed in one path before giving up (as Linux's ELOOP).
const SYMLINK_HOPS: usize = 40;

/// A path inside the tree, as components. Relative to the tree's root; no
/// `..`, no NUL, no absolute paths (they name something outside).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TreePath(pub Vec<String>);

impl TryFrom<String> for TreePath {
    type Error = Error;
    fn try_from(raw: String) -> Result<TreePath> {
        TreePath::parse(&raw)
    }
}

impl From<TreePath> for String {
    fn from(path: TreePath) -> String {
        path.text()
    }
}

impl TreePath {
    pub fn parse(raw: &str) -> Result<TreePath> {
        if raw.len() > PATH_MAX {
            return Err(refuse(format!(
                "the path is {} bytes; paths are limited to {PATH_MAX}",
                raw.len()
            )));
        }
        if raw.contains('\0') {
            return Err(refuse("the path contains a NUL byte"));
        }
        if raw.starts_with('/') || raw.starts_with('~') {
            return Err(refuse(format!(
                "{raw:?} is absolute; paths are relative to the root of the tree \
                 (`src/lib.rs`), and nothing outside the tree can be reached"
            )));
        }
        let mut parts = Vec::new();
        for part in raw.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    return Err(refuse(format!(
                        "{raw:?} contains `..`; paths stay inside the tree: write them from its root"
                    )));
                }
                name if name.len() > crate::vfs::NAME_MAX => {
                    return Err(refuse(format!(
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

fn vfs_error(path: &TreePath, e: VfsError) -> Error {
    let what = if path.is_root() { "the tree's root".to_owned() } else { path.text() };
    let hint = match e.errno {
        libc::ENOENT => "; list_dir shows what is there",
        libc::EEXIST => "; pass overwrite to replace it",
        libc::ENOTEMPTY => "; pass recursive to delete a directory and what is in it",
        libc::EROFS => "; this view is read-only",
        _ => "",
    };
    refuse(format!("{what}: {}{hint}", e.message))
}

fn not_found(path: &TreePath) -> Error {
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
pub fn resolve(vfs: &Vfs, path: &TreePath, follow: bool) -> Result<Attr> {
    walk(vfs, path, follow, false).map(|(attr, _)| attr)
}

/// [`resolve`], also giving the names of the path it arrived at: where the
/// symlinks on the way really lead. With `missing_ok`, a name that is not
/// there ends the walk: the names still to walk (the rest of the path, or
/// of a symlink's target) are taken as they are written.
fn walk(vfs: &Vfs, path: &TreePath, follow: bool, missing_ok: bool) -> Result<(Attr, Vec<String>)> {
    let root = vfs.getattr(InodeNo::ROOT).map_err(|e| vfs_error(path, e))?;
    let outside = || {
        refuse(format!("{}: a symlink on the way points outside the tree; refused", path.text()))
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
                return Err(refuse(format!("{}: too many symlinks", path.text())));
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
pub fn may_write(vfs: &Vfs, path: &TreePath, policy: WritePolicy) -> Result<()> {
    // A walk that fails otherwise (a symlink out of the tree) is refused by
    // the write itself; the path as written is checked all the same.
    let real = walk(vfs, path, true, true).map(|(_, names)| names).unwrap_or_default();
    for names in [&path.0, &real] {
        if names.iter().any(|n| n == STORE_DIR) {
            return Err(refuse(format!(
                "{}: the tools do not write into {STORE_DIR}/, where a cortex store lives; refused",
                path.text()
            )));
        }
        if !policy.git && names.iter().any(|n| n == GIT_DIR) {
            return Err(refuse(format!(
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
fn parent_of<'a>(vfs: &Vfs, path: &'a TreePath) -> Result<(Attr, &'a str)> {
    let Some((parent, name)) = path.split_last() else {
        return Err(refuse("the tree's root cannot be changed this way; name a path in it"));
    };
    let dir = resolve(vfs, &parent, true)?;
    if dir.kind != FileKind::Dir {
        return Err(vfs_error(&parent, VfsError::new(libc::ENOTDIR, "not a directory")));
    }
    Ok((dir, name))
}

/// Reads a whole file (text or not).
pub async fn read_bytes(vfs: &Vfs, path: &TreePath) -> Result<Vec<u8>> {
    let attr = resolve(vfs, path, true)?;
    match attr.kind {
        FileKind::File => {}
        FileKind::Dir => {
            return Err(refuse(format!("{} is a directory; list_dir lists it", path.text())));
        }
        _ => return Err(refuse(format!("{} is not a regular file", path.text()))),
    }
    if attr.size > FILE_MAX {
        return Err(refuse(format!(
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
pub async fn read_text(vfs: &Vfs, path: &TreePath) -> Result<String> {
    let bytes = read_bytes(vfs, path).await?;
    let len = bytes.len();
    match String::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => Ok(text),
        _ => Err(refuse(format!(
            "{} is binary or not UTF-8 ({len} bytes); the file tools read and edit text only",
            path.text()
        ))),
    }
}

/// Lines `start..=end` (1-based) of a text file, bounded.
async fn read_file(
    vfs: &Vfs,
    path: &TreePath,
    start: usize,
    end: Option<usize>,
) -> Result<FileText> {
    let text = read_text(vfs, path).await?;
    let lines = lines_of(&text);
    let total = lines.len();
    let start = start.max(1);
    if start > total.max(1) {
        return Err(refuse(format!(
            "{} has {total} lines; start_line {start} is past the end",
            path.text()
        )));
    }
    let end = end.unwrap_or(total).min(total);
    let wanted: String = lines.get(start - 1..end).unwrap_or_default().concat();
    let (content, shown, truncated) = bounded_text(&wanted);
    let last = if shown == 0 { start.saturating_sub(1) } else { start + shown - 1 };
    Ok(FileText {
        path: path.text(),
        start_line: start,
        end_line: last,
        total_lines: total,
        bytes: text.len(),
        content,
        truncated,
        next_start_line: truncated.then_some(last + 1),
    })
}

/// Makes the directories of `path` that are missing.
fn make_dirs(vfs: &Vfs, path: &TreePath, changes: &mut Changes) -> Result<Attr> {
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
async fn write_bytes(
    vfs: &Vfs,
    path: &TreePath,
    data: &[u8],
    changes: &mut Changes,
) -> Result<bool> {
    let Some((parent, name)) = path.split_last() else {
        return Err(refuse("the tree's root is a directory; name a file to write"));
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
            return Err(refuse(format!("{} is a directory; name a file to write", path.text())));
        }
        Ok(_) => return Err(refuse(format!("{} is not a regular file", path.text()))),
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

/// Replaces an exact string (once, unless `all`): how many, and the new size.
async fn edit_file(
    vfs: &Vfs,
    path: &TreePath,
    old: &str,
    new: &str,
    all: bool,
    changes: &mut Changes,
) -> Result<(usize, usize)> {
    if old.is_empty() {
        return Err(refuse("old_string is empty; give the exact text to replace"));
    }
    let text = read_text(vfs, path).await?;
    let count = text.matches(old).count();
    if count == 0 {
        return Err(refuse(format!(
            "old_string was not found in {}; read_file shows its current text (whitespace counts)",
            path.text()
        )));
    }
    if count > 1 && !all {
        return Err(refuse(format!(
            "old_string occurs {count} times in {}; include more surrounding text to make it unique, \
             or pass replace_all",
            path.text()
        )));
    }
    let edited = if all { text.replace(old, new) } else { text.replacen(old, new, 1) };
    write_bytes(vfs, path, edited.as_bytes(), changes).await?;
    Ok((if all { count } else { 1 }, edited.len()))
}

fn entry_type(kind: FileKind) -> EntryType {
    match kind {
        FileKind::File => EntryType::File,
        FileKind::Dir => EntryType::Dir,
        FileKind::Symlink => EntryType::Symlink,
        FileKind::Special(_) => EntryType::Special,
    }
}

/// A directory's entries by name, a page at a time.
fn list_dir(vfs: &Vfs, path: &TreePath, offset: usize, limit: usize) -> Result<Listing> {
    let dir = resolve(vfs, path, true)?;
    if dir.kind != FileKind::Dir {
        return Err(refuse(format!("{} is not a directory; read_file reads files", path.text())));
    }
    let mut entries = vfs.readdir(dir.ino).map_err(|e| vfs_error(path, e))?;
    entries.retain(|e| e.name != b"." && e.name != b"..");
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let total = entries.len();
    let page = entries
        .iter()
        .skip(offset)
        .take(limit)
        .map(|e| DirEntry {
            name: String::from_utf8_lossy(&e.name).into_owned(),
            kind: entry_type(e.kind),
            size: vfs.getattr(e.ino).map(|a| a.size).unwrap_or(0),
        })
        .collect();
    let next = (offset + limit < total).then_some(offset + limit);
    Ok(Listing { path: path.text(), entries: page, total, next })
}

/// Deletes a file, a symlink, or a directory (with `recursive`, and
/// what is in it). Answers how many entries went.
fn delete_path(
    vfs: &Vfs,
    path: &TreePath,
    recursive: bool,
    changes: &mut Changes,
) -> Result<usize> {
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

fn empty_dir(vfs: &Vfs, path: &TreePath, ino: InodeNo) -> Result<usize> {
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

/// Renames a file or directory (its new directories made).
fn move_path(
    vfs: &Vfs,
    from: &TreePath,
    to: &TreePath,
    overwrite: bool,
    changes: &mut Changes,
) -> Result<()> {
    let (src_dir, src_name) = parent_of(vfs, from)?;
    resolve(vfs, from, false)?;
    let Some((to_parent, to_name)) = to.split_last() else {
        return Err(refuse("the destination is the tree's root; name a path in it"));
    };
    if to.0.starts_with(&from.0) {
        return Err(refuse(format!("{} cannot move inside itself", from.text())));
    }
    let dst_dir = make_dirs(vfs, &to_parent, changes)?;
    let mode = if overwrite { RenameMode::Replace } else { RenameMode::NoReplace };
    let touched = vfs
        .rename(src_dir.ino, src_name.as_bytes(), dst_dir.ino, to_name.as_bytes(), mode)
        .map_err(|e| vfs_error(if e.errno == libc::EEXIST { to } else { from }, e))?;
    changes.extend(touched);
    Ok(())
}
