//! Keeping a view in step with a real directory edited outside Cortex
//! (`cortex watch DIR`), knowing nothing of how changes are noticed.
//!
//! A [`Mirror`] remembers what the directory held when Cortex last saw it
//! (each path's entry and its `lstat` signature). Told which paths changed
//! (the daemon's inotify watcher says so, debounced), it looks at those
//! paths again, as import would (`.gitignore` / `.ignore` honoured,
//! `.git/` and `.cortex/` left out), and applies what differs to the
//! view's head as one snapshot: an editor's save, a delete, a rename or a
//! branch switch of thousands of files are each one commit. Only the
//! changed paths are edited (`snapshot::apply`): what the view got from
//! elsewhere meanwhile (a mount, a merge) stays. A rescan (after the
//! kernel's event queue overflowed) compares the whole directory with
//! what was seen, reading only files whose `lstat` changed.
//!
//! With `pull`, the view's changes from elsewhere are written back into
//! the directory ([`Mirror::pull`]) for every path the person has not
//! touched since Cortex last saw it; the others are left alone and named.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::ids::ContentHash;
use crate::import::{self, Write};
use crate::snapshot;
use crate::store::{NewSnapshot, STORE_DIR, Snapshot, Store};
use crate::tree::{Entry, EntryKind, MODE_MASK, Timestamp, Tree};

/// What a path's `lstat` said: a path whose signature is unchanged is not
/// read again (git's index does the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    mode: u32,
}

impl Stat {
    fn of(meta: &std::fs::Metadata) -> Stat {
        Stat {
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            mode: meta.mode(),
        }
    }
}

/// A path as Cortex last saw it in the directory.
#[derive(Clone, Debug)]
struct Seen {
    /// A directory's entry carries the empty tree: its contents are
    /// entries of their own.
    entry: Entry,
    stat: Stat,
}

/// Which paths to look at again.
#[derive(Clone, Debug)]
pub enum Targets {
    /// The whole directory (the first sync, a rescan).
    All,
    /// These paths, relative to the directory; a directory among them is
    /// looked at with everything below it.
    Paths(BTreeSet<Vec<u8>>),
}

/// What one sync did.
#[derive(Debug, Default)]
pub struct Synced {
    /// The snapshot made, if anything differed.
    pub snapshot: Option<Snapshot>,
    /// Paths edited in the view.
    pub edited: usize,
    /// Directories seen for the first time: whoever notices changes
    /// should watch them, then have them looked at again (what was made
    /// in them before the watch began was seen now; what comes after, the
    /// watch sees).
    pub new_dirs: Vec<Vec<u8>>,
}

/// What a pull did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// Paths written into (or removed from) the directory.
    pub written: Vec<String>,
    /// Paths the view changed that the person changed too since Cortex
    /// last saw them: left alone.
    pub kept: Vec<String>,
}

/// A view's link to a real directory. See the module documentation.
#[derive(Debug)]
pub struct Mirror {
    dir: PathBuf,
    seen: BTreeMap<Vec<u8>, Seen>,
    /// The view's root as this mirror last synced or pulled it.
    root: ContentHash,
    pull: bool,
    /// Paths left alone by pulls, until the person's version lands.
    kept: BTreeSet<Vec<u8>>,
}

/// What the directory holds at the paths looked at.
#[derive(Default)]
struct Scanned {
    /// Present entries, by path (directories included).
    found: BTreeMap<Vec<u8>, Seen>,
    /// Paths looked at alone (present or not).
    exact: BTreeSet<Vec<u8>>,
    /// Directories looked at with everything below them ("" is the root).
    deep: BTreeSet<Vec<u8>>,
}

impl Mirror {
    /// Links `dir` to the view of `store`: the view is made to hold what
    /// the directory holds (as `cortex import` would, in one snapshot
    /// made by `source`) and the mirror remembers it.
    pub async fn start(store: &Store, dir: &Path, pull: bool) -> Result<(Mirror, Synced)> {
        let dir = watchable(dir)?;
        let head = store.history().head().await?;
        let mut mirror =
            Mirror { dir, seen: BTreeMap::new(), root: head.root, pull, kept: BTreeSet::new() };
        let scanned = mirror.scan(store, Targets::All).await?;
        let mut edits = mirror.edits(scanned);
        // The view's paths the directory does not have go.
        for (path, entry) in snapshot::walk(store, head.root).await? {
            if !entry.is_dir() && !mirror.seen.contains_key(&path) && !is_private(&path) {
                edits.insert(path, None);
            }
        }
        let synced = mirror.commit(store, edits).await?;
        Ok((mirror, synced))
    }

    /// The directory linked.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the view's changes are written back into the directory.
    pub fn pulls(&self) -> bool {
        self.pull
    }

    /// Paths a pull left alone (changed on both sides), still differing.
    pub fn kept(&self) -> Vec<String> {
        self.kept.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect()
    }

    /// Looks at `targets` again and applies what changed to the view's
    /// head as one snapshot.
    pub async fn sync(&mut self, store: &Store, targets: Targets) -> Result<Synced> {
        // A directory deleted while watched is not mirrored as the
        // deletion of everything it held.
        if !self.dir.is_dir() {
            return Err(Error::NotFound(format!(
                "the watched directory {} is gone",
                self.dir.display()
            )));
        }
        let scanned = self.scan(store, targets).await?;
        let edits = self.edits(scanned);
        self.commit(store, edits).await
    }

    /// Reads the targets on a blocking thread, writing new contents to the
    /// store as they are read.
    async fn scan(&mut self, store: &Store, targets: Targets) -> Result<Scanned> {
        let known: HashSet<ContentHash> =
            self.seen.values().filter_map(|s| content(&s.entry)).collect();
        let seen = std::mem::take(&mut self.seen);
        let dir = self.dir.clone();
        let (tx, mut rx) = mpsc::channel::<Write>(64);
        let reader = tokio::task::spawn_blocking(move || {
            let scanned = scan(&dir, &targets, &seen, known, tx);
            (seen, scanned)
        });
        let written = import::write_contents(store, &mut rx).await;
        let (seen, scanned) =
            reader.await.map_err(|e| Error::InvalidInput(format!("watch reader: {e}")))?;
        self.seen = seen;
        written?;
        scanned
    }

    /// The view's edits that make it hold what was scanned; `seen` follows.
    fn edits(&mut self, scanned: Scanned) -> BTreeMap<Vec<u8>, Option<Entry>> {
        let mut edits = BTreeMap::new();
        let mut gone: Vec<Vec<u8>> = Vec::new();
        for path in &scanned.exact {
            if !scanned.found.contains_key(path) && self.has(path) {
                gone.push(path.clone());
            }
        }
        for root in &scanned.deep {
            let below: Vec<Vec<u8>> = self
                .seen
                .range(prefix_of(root)..)
                .take_while(|(p, _)| p.starts_with(&prefix_of(root)))
                .filter(|(p, _)| !scanned.found.contains_key(*p))
                .map(|(p, _)| p.clone())
                .collect();
            gone.extend(below);
            if !root.is_empty() && !scanned.found.contains_key(root) && self.has(root) {
                gone.push(root.clone());
            }
        }
        gone.sort();
        gone.dedup();
        let mut removed: HashSet<Vec<u8>> = HashSet::new();
        for path in gone {
            // Below a path removed already: its removal covers it.
            let covered =
                (0..path.len()).filter(|&i| path[i] == b'/').any(|i| removed.contains(&path[..i]));
            if !covered {
                edits.insert(path.clone(), None);
                removed.insert(path.clone());
            }
            self.forget(&path);
        }
        for (path, now) in scanned.found {
            let before = self.seen.get(&path);
            let same = before.is_some_and(|b| b.entry.same_content(&now.entry));
            if !same {
                if before.is_some_and(|b| b.entry.is_dir()) {
                    self.forget(&path);
                }
                edits.insert(path.clone(), Some(now.entry.clone()));
                // The person's version lands: nothing is kept back any more.
                self.kept.remove(&path);
            }
            self.seen.insert(path, now);
        }
        edits
    }

    /// Whether `path` or anything below it was seen.
    fn has(&self, path: &[u8]) -> bool {
        self.seen.contains_key(path)
            || self.seen.range(prefix_of(path)..).next().is_some_and(|(p, _)| is_below(p, path))
    }

    /// Forgets `path` and everything below it.
    fn forget(&mut self, path: &[u8]) {
        self.seen.remove(path);
        let below: Vec<Vec<u8>> = self
            .seen
            .range(prefix_of(path)..)
            .take_while(|(p, _)| is_below(p, path))
            .map(|(p, _)| p.clone())
            .collect();
        for p in below {
            self.seen.remove(&p);
        }
    }

    /// Applies `edits` to the view's head and commits, again on the new
    /// head if it moved meanwhile (the edits name whole entries, so they
    /// mean the same on any head).
    async fn commit(
        &mut self,
        store: &Store,
        mut edits: BTreeMap<Vec<u8>, Option<Entry>>,
    ) -> Result<Synced> {
        let mut synced = Synced {
            new_dirs: edits
                .iter()
                .filter(|(_, e)| e.as_ref().is_some_and(Entry::is_dir))
                .map(|(p, _)| p.clone())
                .collect(),
            ..Synced::default()
        };
        let empty = Tree::default();
        store.objects().put_trees(vec![(empty.hash(), empty.encode())]).await?;
        let mut tries = 0;
        loop {
            tries += 1;
            let _turn = (tries > crate::store::TRIES_BEFORE_ALONE)
                .then(|| store.main_turn(crate::store::Turn::Alone));
            let _turn = match _turn {
                Some(turn) => Some(turn.await),
                None => None,
            };
            let head = store.history().head().await?;
            // A directory the view has already keeps what it holds: only
            // the edits below it apply.
            for path in synced.new_dirs.iter() {
                if snapshot::entry_at(store, head.root, path).await?.is_some_and(|e| e.is_dir()) {
                    edits.remove(path);
                }
            }
            synced.edited = edits.len();
            let root = snapshot::apply(store, head.root, &edits).await?;
            if root == head.root {
                self.root = root;
                return Ok(synced);
            }
            let changes = snapshot::diff(store, head.root, root).await?;
            let (files, bytes) = snapshot::counts_after(store, &head, &edits).await?;
            let new = NewSnapshot {
                parent: head.id,
                root,
                source: "watch".into(),
                message: format!("watch {}: {} changes", self.dir.display(), changes.len()),
                files,
                bytes,
                changes,
            };
            match store.history().commit(new).await {
                Ok(snapshot) => {
                    // Main moved before this commit: what moved it is for
                    // a pull to see, not taken as seen here.
                    if head.root == self.root {
                        self.root = root;
                    }
                    synced.snapshot = Some(snapshot);
                    return Ok(synced);
                }
                Err(Error::HeadMoved { .. }) => {
                    tracing::info!(tries, "the view moved during a watch sync; committing again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Brings the view's changes since this mirror last looked into the
    /// directory, for every path the person has not changed since Cortex
    /// saw it (without `pull`, only takes note that the view moved).
    pub async fn pull(&mut self, store: &Store) -> Result<Pulled> {
        let head = store.history().head().await?;
        if head.root == self.root {
            return Ok(Pulled::default());
        }
        let changes = snapshot::diff(store, self.root, head.root).await?;
        self.root = head.root;
        if !self.pull {
            return Ok(Pulled::default());
        }
        let mut wanted = Vec::new();
        for change in changes {
            let entry = snapshot::entry_at(store, head.root, &change.path).await?;
            let data = match entry.as_ref().map(|e| &e.kind) {
                Some(EntryKind::File { content, .. }) => {
                    Some(store.objects().read_blob(*content).await?)
                }
                _ => None,
            };
            wanted.push((change.path, entry, data));
        }
        let dir = self.dir.clone();
        let seen = std::mem::take(&mut self.seen);
        let (seen, result) = tokio::task::spawn_blocking(move || {
            let mut seen = seen;
            let result = write_back(&dir, &mut seen, wanted);
            (seen, result)
        })
        .await
        .map_err(|e| Error::InvalidInput(format!("watch writer: {e}")))?;
        self.seen = seen;
        let pulled = result?;
        self.kept.extend(pulled.kept.iter().map(|p| p.as_bytes().to_vec()));
        Ok(pulled)
    }
}

/// `dir`, made absolute, if it can be watched: a readable directory that
/// is not a Cortex mount (the mount's changes are the view's already).
fn watchable(dir: &Path) -> Result<PathBuf> {
    let root = std::fs::canonicalize(dir).map_err(|e| Error::io("watch", dir, e))?;
    if !std::fs::metadata(&root).map_err(|e| Error::io("watch", &root, e))?.is_dir() {
        return Err(Error::InvalidInput(format!(
            "cannot watch {}: not a directory",
            dir.display()
        )));
    }
    if crate::mountinfo::is_cortex_mount(&root) {
        return Err(Error::InvalidInput(format!(
            "cannot watch {}: it is a cortex mount, whose changes reach its view already",
            root.display()
        )));
    }
    Ok(root)
}

fn content(entry: &Entry) -> Option<ContentHash> {
    match entry.kind {
        EntryKind::File { content, .. } => Some(content),
        _ => None,
    }
}

/// `path` with a trailing slash: everything below it sorts from there.
fn prefix_of(path: &[u8]) -> Vec<u8> {
    if path.is_empty() { Vec::new() } else { snapshot::join(path, b"") }
}

/// Whether `path` lies strictly below `dir` ("" is the root).
fn is_below(path: &[u8], dir: &[u8]) -> bool {
    dir.is_empty() && !path.is_empty()
        || path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/'
}

/// Whether a path (relative to the watched directory) is one a watch never
/// takes: inside `.git/` or the store's own directory.
pub fn is_private(rel: &[u8]) -> bool {
    rel.split(|&b| b == b'/').any(|c| c == b".git" || c == STORE_DIR.as_bytes())
}

/// Looks at `targets` in `dir` (blocking). See [`Mirror::scan`].
fn scan(
    dir: &Path,
    targets: &Targets,
    seen: &BTreeMap<Vec<u8>, Seen>,
    mut known: HashSet<ContentHash>,
    tx: mpsc::Sender<Write>,
) -> Result<Scanned> {
    let mut scanned = Scanned::default();
    let paths = match targets {
        Targets::All => {
            scanned.deep.insert(Vec::new());
            walk(dir, b"", None, seen, &mut known, &tx, &mut scanned)?;
            return Ok(scanned);
        }
        Targets::Paths(paths) => paths,
    };
    // Each changed path is looked at through a walk of its parent
    // directory (one level), which applies every ignore rule above it.
    let mut by_parent: BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>> = BTreeMap::new();
    for path in paths.iter().filter(|p| !p.is_empty() && !is_private(p)) {
        let (parent, _) = split(path);
        by_parent.entry(parent.to_vec()).or_default().insert(path.clone());
        scanned.exact.insert(path.clone());
    }
    if paths.iter().any(|p| p.is_empty()) {
        scanned.deep.insert(Vec::new());
        walk(dir, b"", None, seen, &mut known, &tx, &mut scanned)?;
        return Ok(scanned);
    }
    let mut deep = Vec::new();
    for (parent, wanted) in by_parent {
        let abs = dir.join(std::ffi::OsStr::from_bytes(&parent));
        if !std::fs::symlink_metadata(&abs).is_ok_and(|m| m.is_dir()) {
            continue; // gone with its parent: each wanted path is absent
        }
        let mut level = Scanned::default();
        walk(dir, &parent, Some(&wanted), seen, &mut known, &tx, &mut level)?;
        for (path, found) in level.found {
            if found.entry.is_dir() {
                deep.push(path.clone());
            }
            scanned.found.insert(path, found);
        }
    }
    for path in deep {
        walk(dir, &path, None, seen, &mut known, &tx, &mut scanned)?;
        scanned.deep.insert(path);
    }
    Ok(scanned)
}

/// Walks `dir`'s subdirectory `rel` as import does: with `only`, one level
/// and only those paths; else everything below. Files whose `lstat` is as
/// seen are not read again.
fn walk(
    dir: &Path,
    rel: &[u8],
    only: Option<&BTreeSet<Vec<u8>>>,
    seen: &BTreeMap<Vec<u8>, Seen>,
    known: &mut HashSet<ContentHash>,
    tx: &mpsc::Sender<Write>,
    scanned: &mut Scanned,
) -> Result<()> {
    let start = dir.join(std::ffi::OsStr::from_bytes(rel));
    let mut builder = import::walk_builder(&start, false, false);
    if only.is_some() {
        builder.max_depth(Some(1));
    }
    for item in builder.build() {
        let item = match item {
            Ok(item) => item,
            // A path that went while it was walked: the next event says so.
            Err(e) if e.io_error().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) => {
                continue;
            }
            Err(e) => return Err(import::walk_error(&start, e)),
        };
        if item.depth() == 0 {
            continue;
        }
        let path = item.path();
        let rel_path = path.strip_prefix(dir).expect("below the watched directory");
        let rel_bytes = rel_path.as_os_str().as_bytes().to_vec();
        if only.is_some_and(|only| !only.contains(&rel_bytes)) {
            continue;
        }
        let meta = match std::fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", path, e)),
        };
        let stat = Stat::of(&meta);
        let (_, name) = split(&rel_bytes);
        let mode = meta.mode() & MODE_MASK;
        let mtime = Timestamp { sec: meta.mtime(), nsec: meta.mtime_nsec() as u32 };
        let kind = if meta.is_dir() {
            EntryKind::Dir { tree: Tree::default().hash() }
        } else if let Some(before) = seen.get(&rel_bytes).filter(|s| s.stat == stat) {
            before.entry.kind.clone()
        } else {
            match import::leaf_kind(path, &meta, known, tx) {
                Ok(Some(kind)) => kind,
                Ok(None) => continue, // a kind no tree holds (as import)
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    continue;
                }
                Err(e) => return Err(e),
            }
        };
        let entry = Entry { name: name.to_vec(), kind, mode, mtime, owner: None, xattrs: vec![] };
        scanned.found.insert(rel_bytes, Seen { entry, stat });
    }
    Ok(())
}

/// A path's parent and name.
fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b"", path),
    }
}

/// A path the view changed: its entry now (none: removed) and, for a
/// file, its bytes.
type Wanted = (Vec<u8>, Option<Entry>, Option<Vec<u8>>);

/// Writes the view's `wanted` entries into `dir` where the person left the
/// path as Cortex last saw it (blocking).
fn write_back(
    dir: &Path,
    seen: &mut BTreeMap<Vec<u8>, Seen>,
    wanted: Vec<Wanted>,
) -> Result<Pulled> {
    let mut pulled = Pulled::default();
    for (path, entry, data) in wanted {
        let abs = dir.join(std::ffi::OsStr::from_bytes(&path));
        let now = std::fs::symlink_metadata(&abs).ok();
        let before = seen.get(&path);
        let untouched = match (&now, before) {
            (None, None) => true,
            (Some(meta), Some(seen)) => Stat::of(meta) == seen.stat,
            _ => false,
        };
        let name = String::from_utf8_lossy(&path).into_owned();
        if !untouched {
            pulled.kept.push(name);
            continue;
        }
        match (&entry, data) {
            (None, _) => {
                if now.as_ref().is_some_and(|m| m.is_dir()) {
                    std::fs::remove_dir_all(&abs).map_err(|e| Error::io("remove", &abs, e))?;
                } else if now.is_some() {
                    std::fs::remove_file(&abs).map_err(|e| Error::io("remove", &abs, e))?;
                }
                seen.remove(&path);
            }
            (Some(entry), data) => {
                if !write_entry(&abs, entry, data)? {
                    continue;
                }
                let meta =
                    std::fs::symlink_metadata(&abs).map_err(|e| Error::io("read", &abs, e))?;
                seen.insert(path.clone(), Seen { entry: entry.clone(), stat: Stat::of(&meta) });
            }
        }
        pulled.written.push(name);
    }
    Ok(pulled)
}

/// Writes one entry at `abs` (a file through a temporary file renamed over
/// it, so no reader sees half of it); false for a kind not written back.
fn write_entry(abs: &Path, entry: &Entry, data: Option<Vec<u8>>) -> Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let parent = abs.parent().expect("below the watched directory");
    std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
    match (&entry.kind, data) {
        (EntryKind::File { .. }, Some(data)) => {
            let mut tmp = tempfile::NamedTempFile::new_in(parent)
                .map_err(|e| Error::io("write into", parent, e))?;
            std::io::Write::write_all(&mut tmp, &data).map_err(|e| Error::io("write", abs, e))?;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(entry.mode & MODE_MASK))
                .map_err(|e| Error::io("write", abs, e))?;
            tmp.persist(abs).map_err(|e| Error::io("write", abs, e.error))?;
        }
        (EntryKind::Symlink { target }, _) => {
            let _ = std::fs::remove_file(abs);
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), abs)
                .map_err(|e| Error::io("write", abs, e))?;
        }
        (EntryKind::Dir { .. }, _) => {
            std::fs::create_dir_all(abs).map_err(|e| Error::io("create", abs, e))?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}
