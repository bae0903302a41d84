//! The one place views live: each view's `Vfs` (main's and each session's,
//! loaded on first use), flushing them all, one index run at a time, the
//! embedding model loaded once. The daemon holds one (its mounts serve the
//! same `Vfs`s, and a [`Notifier`] tells their kernel caches what changed);
//! a process with no daemon to ask holds its own ([`Views::in_process`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::control::{EntryInfo, SnapshotInfo, TransferInfo};
use super::files::{self, PathAnswer, PathOp, WritePolicy};
use super::{BoxFuture, IndexState, Service};
use crate::embed::Model;
use crate::error::Result;
use crate::ids::SessionName;
use crate::import::ImportOptions;
use crate::index::IndexReport;
use crate::query::{Answer, GraphQuery};
use crate::search::{Mode, Progress, Results, Search};
use crate::session::{Command, Outcome};
use crate::store::{Store, View};
use crate::vfs::{Invalidation, Vfs, VfsConfig};

/// Files whose search rows a search writes before it answers, in a daemon;
/// past it the daemon writes them in the background, and searches answer
/// from the rows there are meanwhile (a write through a mount changes a
/// few files; an import or a first index, thousands).
const SYNC_INLINE: usize = 256;

/// How long a search waits for an index or row build under way before it
/// answers from the rows there are.
const SEARCH_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

/// Files whose search rows a search writes before it answers without a
/// daemon, where nothing writes them in the background:
/// a tree of a few thousand files has its rows written at its first search
/// (seconds); past it the search answers from the rows there are and says
/// that `cortex index` (or a mount) writes the rest. SurrealDB's full-text
/// index takes minutes over the cargo registry's 26,000 files.
const SYNC_INLINE_NO_DAEMON: usize = 2_000;

/// Tells a view's mounts what changed under them (their kernel caches drop
/// it). Without one, nothing is mounted: writes are saved at once instead.
pub type Notifier = Arc<dyn Fn(View, Vec<Invalidation>) -> BoxFuture<'static, ()> + Send + Sync>;

pub struct Views {
    store: Arc<Store>,
    main: Mutex<Option<Arc<Vfs>>>,
    sessions: Mutex<BTreeMap<SessionName, Arc<Vfs>>>,
    notifier: Option<Notifier>,
    /// One index run at a time.
    indexing: tokio::sync::Mutex<()>,
    /// The embedding model, loaded on first need (an error when missing).
    model: tokio::sync::OnceCell<std::result::Result<Arc<Model>, String>>,
    /// Wakes whoever embeds in the background: something may need vectors.
    embed_wake: tokio::sync::Notify,
    /// Sessions whose search was asked for: worth keeping embedded.
    searched: Mutex<BTreeSet<SessionName>>,
    /// The background embedder's run on main, while one is under way: when
    /// it started and how many units main had then, and its last count.
    embedding: Mutex<Option<EmbedRun>>,
}

#[derive(Debug, Clone, Copy)]
struct EmbedRun {
    started: std::time::Instant,
    first: u64,
    at: std::time::Instant,
    embedded: u64,
}

impl Views {
    /// Views over main's `store` that mounts serve: `notifier` tells them
    /// of changes.
    pub fn mounted(store: Store, notifier: Notifier) -> Views {
        Views::new(store, Some(notifier))
    }

    /// Views in a process with no mounts: each write is saved at once.
    pub fn in_process(store: Store) -> Views {
        Views::new(store, None)
    }

    fn new(store: Store, notifier: Option<Notifier>) -> Views {
        Views {
            store: Arc::new(store),
            main: Mutex::new(None),
            sessions: Mutex::new(BTreeMap::new()),
            notifier,
            indexing: tokio::sync::Mutex::new(()),
            model: tokio::sync::OnceCell::new(),
            embed_wake: tokio::sync::Notify::new(),
            searched: Mutex::new(BTreeSet::new()),
            embedding: Mutex::new(None),
        }
    }

    /// Main's store handle.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A view's VFS, loaded once. A session must exist.
    pub async fn vfs(&self, view: &View) -> Result<Arc<Vfs>> {
        match view {
            View::Main => {
                if let Some(vfs) = self.main.lock().unwrap().clone() {
                    return Ok(vfs);
                }
                let vfs = Arc::new(Vfs::load(self.store.clone(), config()).await?);
                Ok(self.main.lock().unwrap().get_or_insert(vfs).clone())
            }
            View::Session(name) => self.session_vfs(name, false).await,
        }
    }

    /// A session's VFS, loaded once; with `create`, the session is forked
    /// from main first if it does not exist.
    pub async fn session_vfs(&self, name: &SessionName, create: bool) -> Result<Arc<Vfs>> {
        if let Some(vfs) = self.sessions.lock().unwrap().get(name) {
            return Ok(vfs.clone());
        }
        let exists = self.store.sessions().list().await?.iter().any(|s| &s.name == name);
        if !exists {
            if !create {
                return Err(crate::Error::InvalidInput(format!(
                    "no session named {name}; `cortex session new {name}` makes one, or mount with --create"
                )));
            }
            self.store.sessions().create_session(name, &View::Main).await?;
        }
        let store = Arc::new(self.store.sessions().session(name).await?);
        let vfs = Arc::new(Vfs::load(store, config()).await?);
        Ok(self.sessions.lock().unwrap().entry(name.clone()).or_insert(vfs).clone())
    }

    /// The VFSs loaded now, with their views.
    pub fn loaded(&self) -> Vec<(View, Arc<Vfs>)> {
        let mut all: Vec<(View, Arc<Vfs>)> =
            self.main.lock().unwrap().iter().map(|v| (View::Main, v.clone())).collect();
        for (name, vfs) in self.sessions.lock().unwrap().iter() {
            all.push((View::Session(name.clone()), vfs.clone()));
        }
        all
    }

    /// This process's metrics ([`crate::metrics`]), the gauges read now:
    /// the caches' sizes, and the queues of main (units waiting for a
    /// vector; 1 on `index` while main's graph is behind its head).
    pub async fn metrics_text(&self) -> Result<String> {
        let m = crate::metrics::global();
        let memory = super::control::Memory::of_this_process(&self.store, &self.loaded());
        let content: u64 = memory.content_caches.iter().map(|(_, c)| c.held).sum();
        m.cache_bytes.with_label_values(&["content"]).set(content as i64);
        m.cache_bytes.with_label_values(&["tree"]).set(memory.trees.held as i64);
        m.cache_bytes.with_label_values(&["graph"]).set(memory.graph.held as i64);
        let progress = self.store.search().search_progress().await?;
        let waiting = progress.units.saturating_sub(progress.embedded);
        m.queue.with_label_values(&["embed"]).set(waiting as i64);
        let head = self.store.history().head().await?;
        let behind = self.store.graph().graph_root().await? != Some(head.root);
        m.queue.with_label_values(&["index"]).set(i64::from(behind));
        Ok(m.text())
    }

    /// Writes every view's pending changes to the store.
    pub async fn flush(&self) -> Result<()> {
        for (_, vfs) in self.loaded() {
            vfs.flush().await?;
        }
        Ok(())
    }

    /// A view's store handle.
    pub async fn view_store(&self, view: &View) -> Result<Store> {
        match view {
            View::Main => self.store.with_main().await,
            View::Session(name) => self.store.sessions().session(name).await,
        }
    }

    /// Something changed in `view` from outside its mounts' kernel side.
    async fn changed(&self, view: View, changes: Vec<Invalidation>) {
        match &self.notifier {
            Some(notify) if !changes.is_empty() => notify(view, changes).await,
            Some(_) => {}
            // Nothing mounted batches writes here: save them now.
            None => {
                if let Err(e) = self.flush().await {
                    tracing::error!("saving a write failed: {e}");
                }
            }
        }
    }

    /// A loaded view brought to its head as the store has it (after a
    /// merge or an import), its mounts told.
    async fn refresh(&self, view: View) -> Result<()> {
        let vfs = match &view {
            View::Main => self.main.lock().unwrap().clone(),
            View::Session(name) => self.sessions.lock().unwrap().get(name).cloned(),
        };
        if let Some(vfs) = vfs {
            let invalidations = vfs.refresh().await?;
            self.changed(view, invalidations).await;
        }
        Ok(())
    }

    /// A view's head moved by a commit made outside its VFS (a watched
    /// directory's changes): its mounts follow, main's graph too.
    pub async fn landed(&self, view: View) -> Result<()> {
        self.refresh(view.clone()).await?;
        if view == View::Main {
            self.index_main().await?;
        }
        self.embed_wake.notify_one();
        Ok(())
    }

    /// Forgets a session's view (its session went).
    pub fn forget(&self, name: &SessionName) {
        self.sessions.lock().unwrap().remove(name);
    }

    /// Brings main's graph to its head; one run at a time.
    pub async fn index_main(&self) -> Result<IndexReport> {
        let _one = self.indexing.lock().await;
        crate::index::index_head(&self.store).await
    }

    /// A view's store handle, with its graph and search rows brought to
    /// its head (after pending writes are flushed).
    async fn updated(&self, view: &View) -> Result<(Store, IndexReport)> {
        let store = self.to_search(view).await?;
        let _one = self.indexing.lock().await;
        let report = crate::search::update(&store).await?;
        Ok((store, report))
    }

    /// A view's store handle, pending writes flushed, the view noted as
    /// one worth keeping searchable.
    async fn to_search(&self, view: &View) -> Result<Store> {
        self.flush().await?;
        let store = self.view_store(view).await?;
        if let View::Session(name) = view {
            self.searched.lock().unwrap().insert(name.clone());
        }
        Ok(store)
    }

    /// A view's store handle for a search: its graph brought to its head,
    /// and its search rows too unless that means rewriting more than
    /// [`SYNC_INLINE`] files' rows in a daemon, which then writes them in
    /// the background while the search answers from the rows there are
    /// (and says so).
    async fn searchable(&self, view: &View) -> Result<Store> {
        let store = self.to_search(view).await?;
        // An index or a background build of rows holds the turn: a search
        // waits a moment for it, then answers from the rows there are.
        let Ok(_one) = tokio::time::timeout(SEARCH_WAIT, self.indexing.lock()).await else {
            return Ok(store);
        };
        crate::index::index_head(&store).await?;
        let window = crate::search::window();
        if let Some(pending) = crate::search::pending(&store, window).await? {
            let daemon = self.notifier.is_some();
            let inline = if daemon { SYNC_INLINE } else { SYNC_INLINE_NO_DAEMON };
            if pending.paths.len() <= inline {
                crate::search::sync_pending(&store, pending, window).await?;
            } else if daemon {
                self.embed_wake.notify_one();
            }
        }
        Ok(store)
    }

    /// The model, loaded once; the error says how to install it.
    pub async fn model(&self) -> std::result::Result<Arc<Model>, String> {
        self.model
            .get_or_init(|| async {
                tokio::task::spawn_blocking(|| crate::search::load_model().map(Arc::new))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
            })
            .await
            .clone()
    }

    /// Waits until something may need vectors (a search, an index, a write).
    pub async fn embed_wanted(&self) {
        self.embed_wake.notified().await
    }

    /// Something may need vectors: wakes [`Views::embed_wanted`].
    pub fn wake_embedder(&self) {
        self.embed_wake.notify_one();
    }

    /// Brings a view's search rows to its head and, given a model, embeds
    /// what has no vector yet (the daemon's background worker).
    pub async fn embed_view(&self, view: &View, model: Option<&Model>) -> Result<usize> {
        let (store, _) = self.updated(view).await?;
        let Some(model) = model else { return Ok(0) };
        let background = crate::embed::Priority::Background;
        let embedded = crate::search::embed_pending(&store, model, background, &|p| {
            tracing::debug!(units = p.units, embedded = p.embedded, "embedding");
            if *view == View::Main {
                let now = std::time::Instant::now();
                let mut run = self.embedding.lock().unwrap();
                let run = run.get_or_insert(EmbedRun {
                    started: now,
                    first: p.embedded,
                    at: now,
                    embedded: p.embedded,
                });
                (run.at, run.embedded) = (now, p.embedded);
            }
        })
        .await;
        // A rate spans one run: the next starts its own after the idle time.
        if *view == View::Main {
            *self.embedding.lock().unwrap() = None;
        }
        embedded
    }

    /// Main's embedding rate in units per second, once the background
    /// embedder has run for a few seconds.
    pub fn embed_rate(&self) -> Option<f64> {
        let run = (*self.embedding.lock().unwrap())?;
        let secs = run.at.duration_since(run.started).as_secs_f64();
        (secs >= 5.0).then(|| run.embedded.saturating_sub(run.first) as f64 / secs)
    }

    /// The views worth keeping embedded: main, loaded sessions and
    /// sessions searched lately.
    pub fn embed_views(&self) -> Vec<View> {
        let mut views = vec![View::Main];
        let loaded = self.sessions.lock().unwrap().keys().cloned().collect::<BTreeSet<_>>();
        let searched = self.searched.lock().unwrap().clone();
        views.extend(loaded.union(&searched).cloned().map(View::Session));
        views
    }

    /// Main's head root as the mounts see it: pending writes flushed first.
    async fn current_root(&self) -> Result<crate::ids::ContentHash> {
        self.flush().await?;
        Ok(self.store.history().head().await?.root)
    }

    async fn import_dir(
        &self,
        dir: PathBuf,
        options: ImportOptions,
        progress: Arc<dyn crate::import::Progress>,
    ) -> Result<TransferInfo> {
        self.flush().await?;
        let r = crate::import::import(&self.store, &dir, &options, progress).await?;
        // The code graph follows main; derived data, so a failure here loses
        // no import (the next index catches up).
        let index = match self.index_main().await {
            Ok(index) => Some(index),
            Err(e) => {
                tracing::error!("the import landed, but indexing its code failed: {e}");
                None
            }
        };
        self.refresh(View::Main).await?;
        self.embed_wake.notify_one();
        let mut info = TransferInfo::from_import(&r);
        info.index = index;
        Ok(info)
    }

    async fn run_session(&self, command: Command) -> Result<Outcome> {
        if command.reads_the_tree() {
            self.flush().await?;
        }
        if let Command::Note { session, command } = &command {
            return self.run_note(View::of(session.clone()), command).await.map(Outcome::Note);
        }
        // What a merge with a message changes, read while the session is
        // there to read: its intent note names those units.
        let intent = match &command {
            Command::Merge { name, options, message: Some(why) } if !options.dry_run => {
                let diff = crate::session::diff(&self.store, name, true).await?;
                let changed = crate::session::changed_units(&diff);
                Some((name.clone(), why.clone(), changed))
            }
            _ => None,
        };
        let outcome = crate::session::execute(&self.store, &command).await?;
        match &command {
            Command::Merge { name, .. } => {
                let snapshot = match &outcome {
                    Outcome::Merged(report) => report.snapshot,
                    _ => None,
                };
                if let (Some((name, why, changed)), Some(snapshot)) = (intent, snapshot) {
                    self.index_main().await?;
                    let model = self.model().await.ok();
                    let main = self.store.with_main().await?;
                    crate::notes::intent(&main, model.as_deref(), &name, &why, &changed, snapshot)
                        .await?;
                }
                self.refresh(View::Main).await?;
                // A closed session's view goes; a kept one sees the new main.
                if matches!(&outcome, Outcome::Merged(report) if report.closed) {
                    self.forget(name);
                } else {
                    self.refresh(View::Session(name.clone())).await?;
                }
            }
            Command::Remove { name, .. } => self.forget(name),
            _ => {}
        }
        self.embed_wake.notify_one();
        Ok(outcome)
    }

    /// A note command in `view`, its graph brought to its head first (a
    /// note follows the code as it is now), with the model where one is.
    async fn run_note(
        &self,
        view: View,
        command: &crate::notes::NoteCommand,
    ) -> Result<crate::notes::NoteOutcome> {
        use crate::notes::NoteCommand;
        let store = self.view_store(&view).await?;
        {
            let _one = self.indexing.lock().await;
            crate::index::index_head(&store).await?;
        }
        let model = match command {
            NoteCommand::Add { .. } | NoteCommand::Recall { .. } => self.model().await.ok(),
            _ => None,
        };
        crate::notes::execute(&store, model.as_deref(), command).await
    }

    async fn run_path(&self, view: View, op: PathOp, policy: WritePolicy) -> Result<PathAnswer> {
        let vfs = self.vfs(&view).await?;
        let writes = op.writes();
        let (answer, changes) = files::run(&vfs, op, policy).await;
        if writes {
            self.changed(view, changes).await;
            self.embed_wake.notify_one();
        }
        answer
    }

    async fn index_view(&self, view: View) -> Result<IndexState> {
        let (store, report) = self.updated(&view).await?;
        // Where mounts are served, a background embedder follows: say why
        // it cannot. Elsewhere nothing embeds unless asked (`embed_all`).
        let note = match self.notifier {
            Some(_) => self.model().await.err(),
            None => None,
        };
        self.embed_wake.notify_one();
        Ok(IndexState { report, progress: store.search().search_progress().await?, note })
    }

    /// Closes the store after saving every view's writes.
    pub async fn shut(self) {
        if let Err(e) = self.flush().await {
            tracing::error!("flush at exit failed: {e}");
        }
        // Every view holds the database: all go before it closes.
        drop(self.main);
        drop(self.sessions);
        match Arc::try_unwrap(self.store) {
            Ok(store) => store.close().await,
            Err(_) => tracing::warn!("store still referenced at exit"),
        }
    }
}

/// Entries show as owned by this process's user unless they record one.
fn config() -> VfsConfig {
    // SAFETY: getuid/getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    // The memory budget's content share (`CORTEX_MEMORY`, `CORTEX_CONTENT_CACHE`).
    let content_cache = crate::memory::Budget::current().content_cache;
    VfsConfig { uid, gid, read_only: false, content_cache }
}

impl Service for Views {
    fn ls(&self, path: Vec<u8>) -> BoxFuture<'_, Result<Vec<EntryInfo>>> {
        Box::pin(async move {
            let root = self.current_root().await?;
            let listing = crate::snapshot::list(&self.store, root, &path).await?;
            Ok(listing.iter().map(|(p, e)| EntryInfo::new(p, e)).collect())
        })
    }

    fn cat(&self, path: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>>> {
        Box::pin(async move {
            let root = self.current_root().await?;
            crate::snapshot::read_file(&self.store, root, &path).await
        })
    }

    fn log(&self, limit: usize) -> BoxFuture<'_, Result<Vec<SnapshotInfo>>> {
        Box::pin(async move {
            self.flush().await?;
            Ok(self.store.history().log(limit).await?.iter().map(SnapshotInfo::from).collect())
        })
    }

    fn export(&self, dir: PathBuf, force: bool) -> BoxFuture<'_, Result<TransferInfo>> {
        Box::pin(async move {
            self.flush().await?;
            let head = self.store.history().head().await?;
            let started = std::time::Instant::now();
            let options = crate::export::ExportOptions { force };
            let r = crate::export::export(&self.store, head.root, &dir, options).await?;
            let seconds = started.elapsed().as_secs_f64();
            Ok(TransferInfo::from_export(&r, &head, seconds))
        })
    }

    fn import(
        &self,
        dir: PathBuf,
        options: ImportOptions,
        progress: Arc<dyn crate::import::Progress>,
    ) -> BoxFuture<'_, Result<TransferInfo>> {
        Box::pin(self.import_dir(dir, options, progress))
    }

    fn graph(&self, view: View, query: GraphQuery) -> BoxFuture<'_, Result<Answer>> {
        Box::pin(async move {
            self.flush().await?;
            let store = self.view_store(&view).await?;
            {
                let _one = self.indexing.lock().await;
                crate::index::index_head(&store).await?;
            }
            crate::query::run(&store, &query).await
        })
    }

    fn search(&self, view: View, search: Search) -> BoxFuture<'_, Result<Results>> {
        Box::pin(async move {
            let store = self.searchable(&view).await?;
            // A keyword search needs no model: none is loaded for it.
            let model = match search.mode {
                Mode::Keyword => None,
                _ => self.model().await.ok(),
            };
            let results = crate::search::search(&store, model.as_deref(), &search).await?;
            self.embed_wake.notify_one();
            Ok(results)
        })
    }

    fn index(&self, view: View) -> BoxFuture<'_, Result<IndexState>> {
        Box::pin(self.index_view(view))
    }

    fn embed_all<'a>(
        &'a self,
        view: View,
        progress: &'a (dyn Fn(Progress) + Sync),
    ) -> BoxFuture<'a, Result<IndexState>> {
        Box::pin(async move {
            let (store, report) = self.updated(&view).await?;
            let model = match self.model().await {
                Ok(model) => model,
                Err(note) => {
                    let progress = store.search().search_progress().await?;
                    return Ok(IndexState { report, progress, note: Some(note) });
                }
            };
            progress(store.search().search_progress().await?);
            let foreground = crate::embed::Priority::Foreground;
            crate::search::embed_pending(&store, &model, foreground, progress).await?;
            Ok(IndexState { report, progress: store.search().search_progress().await?, note: None })
        })
    }

    fn session(&self, command: Command) -> BoxFuture<'_, Result<Outcome>> {
        Box::pin(self.run_session(command))
    }

    fn path(
        &self,
        view: View,
        op: PathOp,
        policy: WritePolicy,
    ) -> BoxFuture<'_, Result<PathAnswer>> {
        Box::pin(self.run_path(view, op, policy))
    }

    fn metrics(&self) -> BoxFuture<'_, Result<String>> {
        Box::pin(self.metrics_text())
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin((*self).shut())
    }
}
