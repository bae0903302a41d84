//! Importing a directory into main as one snapshot.
//!
//! A blocking walker (the `ignore` crate: `.gitignore` and `.ignore` rules)
//! reads and hashes every file and streams the contents the store has not
//! seen to the async side, which writes them in batches while the walk goes
//! on. The walk also yields every directory's entries; trees are built from
//! the deepest directory up, written, and main moves to the new root in one
//! commit. Any error (a file that vanishes, one that cannot be read) aborts
//! before that commit, so the store is left as it was: contents written
//! before the error are unreferenced, never half a tree.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::ids::ContentHash;
use crate::snapshot;
use crate::store::{BlobWrite, CHUNK_SIZE, NewSnapshot, STORE_DIR, Snapshot, Store};
use crate::tree::{Entry, EntryKind, MODE_MASK, SpecialKind, Timestamp, Tree};

/// How to import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Import `.git/` too (skipped by default).
    pub include_git: bool,
    /// Ignore `.gitignore` / `.ignore` rules and take every file.
    pub no_ignore: bool,
    /// What made this import ("init" or "import"), recorded in the snapshot.
    pub source: String,
}

/// Told about the walk as it goes; called from the walker thread.
pub trait Progress: Send + Sync {
    fn file(&self, _bytes: u64) {}
}

/// Progress that goes nowhere.
#[derive(Debug)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// What an import did.
#[derive(Clone, Debug)]
pub struct ImportReport {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
    /// Entries of no kind a tree can hold, left out, with their paths.
    pub skipped: Vec<PathBuf>,
    pub elapsed: Duration,
    /// The new snapshot, or `None` when the tree had not changed.
    pub snapshot: Option<Snapshot>,
}

/// A message from the walker to the writer.
pub(crate) enum Write {
    Blob(BlobWrite),
    Chunk(ContentHash, Vec<u8>),
}

/// What the walker found.
struct Walked {
    dirs: BTreeMap<Vec<u8>, DirInfo>,
    files: u64,
    symlinks: u64,
    specials: u64,
    bytes: u64,
    skipped: Vec<PathBuf>,
}

#[derive(Default)]
struct DirInfo {
    meta: Option<(u32, Timestamp)>,
    entries: Vec<Entry>,
}

/// Imports `dir` into main. See the module documentation.
pub async fn import(
    store: &Store,
    dir: &Path,
    options: &ImportOptions,
    progress: Arc<dyn Progress>,
) -> Result<ImportReport> {
    let started = Instant::now();
    let root = readable_dir(dir)?;

    let head = store.history().head().await?;
    // Contents main already has need not be sent again.
    let known: HashSet<ContentHash> = snapshot::walk(store, head.root)
        .await?
        .into_iter()
        .filter_map(|(_, e)| match e.kind {
            EntryKind::File { content, .. } => Some(content),
            _ => None,
        })
        .collect();

    let (tx, mut rx) = mpsc::channel::<Write>(64);
    let walker = {
        let root = root.clone();
        let options = options.clone();
        tokio::task::spawn_blocking(move || walk(&root, &options, known, tx, progress))
    };

    let written = write_contents(store, &mut rx).await;
    let walked = walker.await.map_err(|e| Error::InvalidInput(format!("import walker: {e}")))??;
    written?;

    let (root_hash, trees) = build_trees(walked.dirs)?;
    store.objects().put_trees(trees).await?;

    let mut report = ImportReport {
        files: walked.files,
        dirs: 0,
        symlinks: walked.symlinks,
        bytes: walked.bytes,
        skipped: walked.skipped,
        elapsed: Duration::ZERO,
        snapshot: None,
    };
    report.dirs = count_dirs(store, root_hash).await?;
    let message = format!("{} {}", options.source, root.display());
    let counts = (walked.files + walked.symlinks + walked.specials, walked.bytes);
    report.snapshot = commit(store, head, root_hash, counts, &options.source, message).await?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// `dir`, made absolute, if it is a directory this process can read.
fn readable_dir(dir: &Path) -> Result<PathBuf> {
    let root = std::fs::canonicalize(dir).map_err(|e| Error::io("import", dir, e))?;
    let meta = std::fs::metadata(&root).map_err(|e| Error::io("import", &root, e))?;
    if !meta.is_dir() {
        return Err(Error::InvalidInput(format!(
            "cannot import {}: not a directory",
            dir.display()
        )));
    }
    std::fs::read_dir(&root).map_err(|e| Error::io("read directory", &root, e))?;
    Ok(root)
}

/// Writes what the walker sends, blobs in batches, while it goes on. After
/// a failed write the rest is drained unwritten, so the walker can finish;
/// the first error is the answer.
pub(crate) async fn write_contents(store: &Store, rx: &mut mpsc::Receiver<Write>) -> Result<()> {
    let mut pending: Vec<BlobWrite> = Vec::new();
    let mut pending_bytes = 0usize;
    let mut write_error = None;
    while let Some(msg) = rx.recv().await {
        if write_error.is_some() {
            continue;
        }
        let result = match msg {
            Write::Chunk(hash, data) => store.objects().put_chunk(hash, data).await,
            Write::Blob(blob) => {
                pending_bytes += match &blob {
                    BlobWrite::Inline { data, .. } => data.len(),
                    BlobWrite::Chunked { .. } => 0,
                };
                pending.push(blob);
                if pending.len() >= 512 || pending_bytes >= 8 << 20 {
                    pending_bytes = 0;
                    store.objects().put_blobs(std::mem::take(&mut pending)).await
                } else {
                    Ok(())
                }
            }
        };
        if let Err(e) = result {
            write_error = Some(e);
        }
    }
    match write_error {
        Some(e) => Err(e),
        None => store.objects().put_blobs(pending).await,
    }
}

/// Makes the imported tree main's new snapshot; `None` when main already
/// is that tree. Main may move while the directory is read (a mount's
/// writes): the tree is the directory's whatever main is, so the commit is
/// tried again on the new head, and after a few tries with main's turn
/// alone.
async fn commit(
    store: &Store,
    mut head: Snapshot,
    root_hash: ContentHash,
    (files, bytes): (u64, u64),
    source: &str,
    message: String,
) -> Result<Option<Snapshot>> {
    let mut tries = 0;
    loop {
        tries += 1;
        let _turn = if tries > crate::store::TRIES_BEFORE_ALONE {
            Some(store.main_turn(crate::store::Turn::Alone).await)
        } else {
            None
        };
        if tries > 1 {
            head = store.history().head().await?;
        }
        let changes = snapshot::diff(store, head.root, root_hash).await?;
        if changes.is_empty() {
            return Ok(None);
        }
        let new = NewSnapshot {
            parent: head.id,
            root: root_hash,
            source: source.to_owned(),
            message: message.clone(),
            files,
            bytes,
            changes,
        };
        match store.history().commit(new).await {
            Ok(snapshot) => return Ok(Some(snapshot)),
            Err(Error::HeadMoved { .. }) => {
                tracing::info!(tries, "main moved during the import; committing again");
            }
            Err(e) => return Err(e),
        }
    }
}

async fn count_dirs(store: &Store, root: ContentHash) -> Result<u64> {
    let all = snapshot::walk(store, root).await?;
    Ok(all.iter().filter(|(_, e)| e.is_dir()).count() as u64)
}

/// A walk of `dir` as import walks: `.gitignore` and `.ignore` rules (also
/// those of the directories above it) unless `no_ignore`, hidden files
/// taken, symlinks not followed, `.cortex/` and (unless `include_git`)
/// `.git/` left out.
pub(crate) fn walk_builder(dir: &Path, include_git: bool, no_ignore: bool) -> ignore::WalkBuilder {
    let mut builder = ignore::WalkBuilder::new(dir);
    builder
        .hidden(false)
        .follow_links(false)
        .require_git(false)
        .parents(true)
        .git_ignore(!no_ignore)
        .git_global(!no_ignore)
        .git_exclude(!no_ignore)
        .ignore(!no_ignore);
    builder.filter_entry(move |e| {
        let name = e.file_name().as_bytes();
        e.depth() == 0 || (name != STORE_DIR.as_bytes() && (include_git || name != b".git"))
    });
    builder
}

fn walk(
    root: &Path,
    options: &ImportOptions,
    mut known: HashSet<ContentHash>,
    tx: mpsc::Sender<Write>,
    progress: Arc<dyn Progress>,
) -> Result<Walked> {
    let builder = walk_builder(root, options.include_git, options.no_ignore);

    let mut walked = Walked {
        dirs: BTreeMap::new(),
        files: 0,
        symlinks: 0,
        specials: 0,
        bytes: 0,
        skipped: Vec::new(),
    };
    walked.dirs.insert(Vec::new(), DirInfo::default());
    for item in builder.build() {
        let item = item.map_err(|e| walk_error(root, e))?;
        if item.depth() == 0 {
            continue;
        }
        let path = item.path();
        let rel = path.strip_prefix(root).expect("walk stays below its root");
        let rel_bytes = rel.as_os_str().as_bytes().to_vec();
        let (parent, name) = match rel_bytes.iter().rposition(|&b| b == b'/') {
            Some(i) => (rel_bytes[..i].to_vec(), rel_bytes[i + 1..].to_vec()),
            None => (Vec::new(), rel_bytes.clone()),
        };
        let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io("read", path, e))?;
        let mode = meta.mode() & MODE_MASK;
        let mtime = Timestamp { sec: meta.mtime(), nsec: meta.mtime_nsec() as u32 };
        let file_type = meta.file_type();
        if file_type.is_dir() {
            walked.dirs.entry(rel_bytes).or_default().meta = Some((mode, mtime));
            continue;
        }
        let kind = match leaf_kind(path, &meta, &mut known, &tx)? {
            Some(kind @ EntryKind::Symlink { .. }) => {
                walked.symlinks += 1;
                kind
            }
            Some(kind @ EntryKind::File { size, .. }) => {
                walked.files += 1;
                walked.bytes += size;
                progress.file(size);
                kind
            }
            Some(kind) => {
                walked.specials += 1;
                kind
            }
            None => {
                walked.skipped.push(rel.to_path_buf());
                continue;
            }
        };
        let entry = Entry { name, kind, mode, mtime, owner: None, xattrs: Vec::new() };
        walked.dirs.entry(parent).or_default().entries.push(entry);
    }
    Ok(walked)
}

/// What the non-directory at `path` holds: a file's content is read,
/// hashed and sent to the writer unless `known` has it; `None` for a kind
/// no tree can hold.
pub(crate) fn leaf_kind(
    path: &Path,
    meta: &std::fs::Metadata,
    known: &mut HashSet<ContentHash>,
    tx: &mpsc::Sender<Write>,
) -> Result<Option<EntryKind>> {
    let file_type = meta.file_type();
    Ok(Some(if file_type.is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| Error::io("read link", path, e))?;
        EntryKind::Symlink { target: target.as_os_str().as_bytes().to_vec() }
    } else if file_type.is_file() {
        let (content, size) = read_file(path, known, tx)?;
        EntryKind::File { content, size }
    } else if let Some(special) = SpecialKind::from_mode(meta.mode()) {
        EntryKind::Special { kind: special, rdev: meta.rdev() }
    } else {
        return Ok(None);
    }))
}

pub(crate) fn walk_error(root: &Path, e: ignore::Error) -> Error {
    // Report the underlying I/O error with its path when there is one.
    fn find(e: &ignore::Error) -> Option<(Option<&Path>, &std::io::Error)> {
        match e {
            ignore::Error::WithPath { path, err } => {
                find(err).map(|(_, io)| (Some(path.as_path()), io))
            }
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
                find(err)
            }
            ignore::Error::Io(io) => Some((None, io)),
            _ => None,
        }
    }
    match find(&e) {
        Some((path, io)) => {
            Error::io("read", path.unwrap_or(root), std::io::Error::new(io.kind(), io.to_string()))
        }
        None => Error::InvalidInput(format!("cannot walk {}: {e}", root.display())),
    }
}

/// Reads and hashes one file, sending its content to the writer unless the
/// store has it. Large files are read, hashed and sent a chunk at a time.
fn read_file(
    path: &Path,
    known: &mut HashSet<ContentHash>,
    tx: &mpsc::Sender<Write>,
) -> Result<(ContentHash, u64)> {
    use std::io::Read;
    let io = |e| Error::io("read", path, e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut first = Vec::new();
    (&mut file).take(CHUNK_SIZE as u64 + 1).read_to_end(&mut first).map_err(io)?;
    let send = |msg| {
        tx.blocking_send(msg).map_err(|_| Error::InvalidInput("import writer stopped".into()))
    };
    if first.len() <= CHUNK_SIZE {
        let hash = ContentHash::of(&first);
        let size = first.len() as u64;
        if known.insert(hash) {
            send(Write::Blob(BlobWrite::Inline { hash, data: first }))?;
        }
        return Ok((hash, size));
    }
    // Large: hash the whole while storing it as chunks.
    let mut whole = blake3::Hasher::new();
    let mut chunks = Vec::new();
    let mut size = 0u64;
    let mut pending = first;
    let mut eof = false;
    while !eof || !pending.is_empty() {
        if pending.len() < CHUNK_SIZE && !eof {
            let want = (CHUNK_SIZE - pending.len()) as u64;
            eof = (&mut file).take(want).read_to_end(&mut pending).map_err(io)? == 0;
            continue;
        }
        let rest = pending.split_off(pending.len().min(CHUNK_SIZE));
        whole.update(&pending);
        size += pending.len() as u64;
        let hash = ContentHash::of(&pending);
        chunks.push(hash);
        send(Write::Chunk(hash, std::mem::replace(&mut pending, rest)))?;
    }
    let hash = ContentHash::from(whole.finalize());
    if known.insert(hash) {
        send(Write::Blob(BlobWrite::Chunked { hash, size, chunks }))?;
    }
    Ok((hash, size))
}

/// A tree's hash and encoding, ready to write.
type EncodedTree = (ContentHash, Vec<u8>);

/// Builds every directory's tree, deepest first, and returns the root's hash
/// with the encoded trees to write.
fn build_trees(mut dirs: BTreeMap<Vec<u8>, DirInfo>) -> Result<(ContentHash, Vec<EncodedTree>)> {
    let depth =
        |p: &[u8]| if p.is_empty() { 0 } else { 1 + p.iter().filter(|&&b| b == b'/').count() };
    let mut order: Vec<Vec<u8>> = dirs.keys().cloned().collect();
    order.sort_by_key(|p| std::cmp::Reverse(depth(p)));
    let mut encoded = Vec::with_capacity(order.len());
    let mut root = None;
    for path in order {
        let info = dirs.remove(&path).expect("each directory is built once");
        let tree = Tree::new(info.entries)?;
        let bytes = tree.encode();
        let hash = ContentHash::of(&bytes);
        encoded.push((hash, bytes));
        if path.is_empty() {
            root = Some(hash);
            continue;
        }
        let (parent, name) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (path[..i].to_vec(), path[i + 1..].to_vec()),
            None => (Vec::new(), path.clone()),
        };
        let (mode, mtime) = info.meta.unwrap_or((0o755, Timestamp::now()));
        let kind = EntryKind::Dir { tree: hash };
        let entry = Entry { name, kind, mode, mtime, owner: None, xattrs: Vec::new() };
        dirs.entry(parent).or_default().entries.push(entry);
    }
    Ok((root.expect("the root directory is always walked"), encoded))
}
