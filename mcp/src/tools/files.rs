//! The file tools: a view's files by path, read and written through the
//! same VFS its mounts serve.

use cortex::service::files::{DirEntry, FileText};
use cortex::service::{PathAnswer, PathOp, TreePath};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::tool::{Cursor, Cx, Effect, LIST_MAX, PathArg, Text, Tool, ToolError, unexpected};

fn wrong() -> ToolError {
    unexpected("file operation")
}

pub struct ReadFile;

/// Which lines of which file.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFileParams {
    /// A path relative to the root of the tree, like `src/lib.rs`. Absolute paths and `..` are refused.
    path: PathArg,
    /// First line to read, from 1.
    #[schemars(range(min = 1))]
    start_line: Option<u32>,
    /// Last line to read (inclusive); default: the end.
    end_line: Option<u32>,
}

impl Tool for ReadFile {
    const NAME: &'static str = "read_file";
    const TITLE: &'static str = "Read a file";
    const DESCRIPTION: &'static str = "Read a text file of the tree, whole or a range of lines. Long \
        files come back in parts: when `truncated` is true, call again with start_line = next_start_line.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = ReadFileParams;
    type Output = FileText;

    async fn run(cx: &Cx<'_>, p: ReadFileParams) -> Result<FileText, ToolError> {
        let op = PathOp::Read {
            path: p.path.0,
            start_line: p.start_line.unwrap_or(1) as usize,
            end_line: p.end_line.map(|n| n as usize),
        };
        match cx.path(op).await? {
            PathAnswer::Lines(text) => Ok(text),
            _ => Err(wrong()),
        }
    }
}

pub struct WriteFile;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFileParams {
    /// A path relative to the root of the tree, like `src/lib.rs`. Absolute paths and `..` are refused.
    path: PathArg,
    /// The whole new content of the file.
    content: Text,
}

/// A file written.
#[derive(Serialize, JsonSchema)]
pub struct Written {
    path: String,
    bytes: usize,
    /// The file was new.
    created: bool,
}

impl Tool for WriteFile {
    const NAME: &'static str = "write_file";
    const TITLE: &'static str = "Write a file";
    const DESCRIPTION: &'static str = "Create or replace a text file with the given content (its \
        directories are made). Mounts of this view see it at once; the code graph and search follow.";
    const EFFECT: Effect = Effect::Destructive;
    type Params = WriteFileParams;
    type Output = Written;

    async fn run(cx: &Cx<'_>, p: WriteFileParams) -> Result<Written, ToolError> {
        let path = p.path.0.text();
        match cx.path(PathOp::Write { path: p.path.0, content: p.content.0 }).await? {
            PathAnswer::Written { created, bytes } => Ok(Written { path, bytes, created }),
            _ => Err(wrong()),
        }
    }
}

pub struct EditFile;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditFileParams {
    /// A path relative to the root of the tree, like `src/lib.rs`. Absolute paths and `..` are refused.
    path: PathArg,
    /// The exact text to find, whitespace included.
    old_string: Text,
    /// What to put in its place.
    new_string: Text,
    /// Replace every occurrence; default false.
    #[serde(default)]
    replace_all: bool,
}

/// A file edited.
#[derive(Serialize, JsonSchema)]
pub struct Edited {
    path: String,
    replacements: usize,
    /// The file's size now.
    bytes: usize,
}

impl Tool for EditFile {
    const NAME: &'static str = "edit_file";
    const TITLE: &'static str = "Edit a file";
    const DESCRIPTION: &'static str = "Replace an exact piece of text in a file. old_string must \
        occur exactly once (include surrounding lines to make it unique) unless replace_all is true.";
    const EFFECT: Effect = Effect::Writes;
    type Params = EditFileParams;
    type Output = Edited;

    async fn run(cx: &Cx<'_>, p: EditFileParams) -> Result<Edited, ToolError> {
        let path = p.path.0.text();
        let op = PathOp::Edit {
            path: p.path.0,
            old: p.old_string.0,
            new: p.new_string.0,
            all: p.replace_all,
        };
        match cx.path(op).await? {
            PathAnswer::Edited { replacements, bytes } => Ok(Edited { path, replacements, bytes }),
            _ => Err(wrong()),
        }
    }
}

pub struct ListDir;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDirParams {
    /// A directory, relative to the tree's root; default: the root.
    path: Option<PathArg>,
    /// At most this many entries; default 200.
    #[schemars(range(min = 1, max = LIST_MAX))]
    limit: Option<u32>,
    cursor: Option<Cursor>,
}

/// A page of a directory, by name.
#[derive(Serialize, JsonSchema)]
pub struct DirPage {
    path: String,
    entries: Vec<DirEntry>,
    /// Entries in all.
    total: usize,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

impl Tool for ListDir {
    const NAME: &'static str = "list_dir";
    const TITLE: &'static str = "List a directory";
    const DESCRIPTION: &'static str = "List a directory of the tree: names, kinds (file, dir, \
        symlink) and sizes, by name, a page at a time.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = ListDirParams;
    type Output = DirPage;

    async fn run(cx: &Cx<'_>, p: ListDirParams) -> Result<DirPage, ToolError> {
        let path = p.path.map(|p| p.0).unwrap_or_default();
        let offset = Cursor::offset(&p.cursor)?;
        let limit = p.limit.unwrap_or(200) as usize;
        match cx.path(PathOp::List { path, offset, limit }).await? {
            PathAnswer::Listing(l) => Ok(DirPage {
                path: l.path,
                entries: l.entries,
                total: l.total,
                next_cursor: l.next.map(|n| n.to_string()),
            }),
            _ => Err(wrong()),
        }
    }
}

pub struct DeletePath;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletePathParams {
    /// A path relative to the root of the tree, like `src/lib.rs`. Absolute paths and `..` are refused.
    path: PathArg,
    /// Delete a directory and everything in it.
    #[serde(default)]
    recursive: bool,
}

/// What went.
#[derive(Serialize, JsonSchema)]
pub struct Deleted {
    path: String,
    /// Entries deleted, the path's own included.
    deleted: usize,
}

impl Tool for DeletePath {
    const NAME: &'static str = "delete_path";
    const TITLE: &'static str = "Delete a file or directory";
    const DESCRIPTION: &'static str =
        "Delete a file or symlink, or a directory (non-empty ones only with recursive).";
    const EFFECT: Effect = Effect::Destructive;
    type Params = DeletePathParams;
    type Output = Deleted;

    async fn run(cx: &Cx<'_>, p: DeletePathParams) -> Result<Deleted, ToolError> {
        let path = p.path.0.text();
        match cx.path(PathOp::Delete { path: p.path.0, recursive: p.recursive }).await? {
            PathAnswer::Deleted { count } => Ok(Deleted { path, deleted: count }),
            _ => Err(wrong()),
        }
    }
}

pub struct MovePath;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MovePathParams {
    /// A path relative to the root of the tree, like `src/lib.rs`. Absolute paths and `..` are refused.
    from: PathArg,
    /// The new path, relative to the tree's root.
    to: PathArg,
    /// Replace an existing destination.
    #[serde(default)]
    overwrite: bool,
}

/// Where it went.
#[derive(Serialize, JsonSchema)]
pub struct Moved {
    from: String,
    to: String,
}

impl Tool for MovePath {
    const NAME: &'static str = "move_path";
    const TITLE: &'static str = "Move or rename";
    const DESCRIPTION: &'static str = "Move or rename a file or directory inside the tree. An \
        existing destination is an error unless overwrite is true.";
    const EFFECT: Effect = Effect::Writes;
    type Params = MovePathParams;
    type Output = Moved;

    async fn run(cx: &Cx<'_>, p: MovePathParams) -> Result<Moved, ToolError> {
        let moved = Moved { from: p.from.0.text(), to: p.to.0.text() };
        let op = PathOp::Move { from: p.from.0, to: p.to.0, overwrite: p.overwrite };
        match cx.path(op).await? {
            PathAnswer::Moved => Ok(moved),
            _ => Err(wrong()),
        }
    }
}

/// A path as a tool's argument gives it, for a graph question.
pub(crate) fn path_text(path: &Option<PathArg>) -> String {
    path.as_ref().map(|p| p.0.text()).unwrap_or_else(|| TreePath::default().text())
}
