//! The daemon: owns one embedded store, serves its mounts through FUSE, and
//! answers the control socket. One per store (the store's lock sees to it).
//!
//! Every mount of main shares one VFS view, so what one mount writes the
//! others read. Changes reach the store on fsync, every second while there
//! are any, and at unmount. The daemon exits when its last mount goes.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cortex::control::{
    self, DaemonStatus, EntryInfo, MountInfo, Request, Response, SnapshotInfo, TransferInfo,
};
use cortex::embed::Model;
use cortex::index::IndexReport;
use cortex::query::{Answer, GraphQuery};
use cortex::search::{Results, Search};
use cortex::session::Outcome;
use cortex::store::{OpenOptions, Store, StoreLocation};
use cortex::tools::ToolError;
use cortex::vfs::{Invalidation, Vfs, VfsConfig};
use fuser::{BackgroundSession, Config, MountOption, SessionACL};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tracing::Instrument;

use crate::fuse::CortexFs;
use crate::peers::{MountId, Peers};

/// What to mount when the daemon starts (`--foreground`).
#[derive(Debug, Clone)]
pub struct MountSpec {
    pub mountpoint: PathBuf,
    pub read_only: bool,
    pub allow_other: bool,
    /// A session's view instead of main's.
    pub session: Option<String>,
    /// Fork the session first if it does not exist.
    pub create: bool,
}

struct Mounted {
    id: MountId,
    session: BackgroundSession,
    read_only: bool,
    /// `main` or the session's name.
    view: String,
    /// The mounts of the same view, told of this one's changes.
    peers: Arc<Peers>,
}

/// A session's view: its store handle, its VFS, and its mounts' peers
/// (separate from main's: inode numbers are per view).
#[derive(Clone)]
struct SessionView {
    vfs: Arc<Vfs>,
    peers: Arc<Peers>,
}

struct Daemon {
    store: Arc<Store>,
    main: Mutex<Option<Arc<Vfs>>>,
    /// Session views, by session name, loaded by their first mount.
    sessions: Mutex<BTreeMap<String, SessionView>>,
    mounts: Mutex<BTreeMap<PathBuf, Mounted>>,
    /// The mounts' kernel sides, told of changes from elsewhere.
    peers: Arc<Peers>,
    /// One index run at a time.
    indexing: tokio::sync::Mutex<()>,
    next_id: std::sync::atomic::AtomicU64,
    /// Set by the first mount: until then an empty daemon is starting, not done.
    ever_mounted: std::sync::atomic::AtomicBool,
    stop: Notify,
    /// The embedding model, loaded on first need (an error when missing).
    model: tokio::sync::OnceCell<std::result::Result<Arc<Model>, String>>,
    /// Wakes the embedder: something may need vectors.
    embed_wake: Notify,
    /// Sessions whose search was asked for: the embedder keeps them current
    /// too (besides main and mounted sessions).
    searched: Mutex<BTreeSet<String>>,
    /// Connections that keep the daemon running (`cortex mcp` servers).
    attached: std::sync::atomic::AtomicUsize,
    /// When the failed store was last tried to be reopened (`recover`).
    last_recovery: tokio::sync::Mutex<Option<std::time::Instant>>,
}

/// How often a failed store is tried to be reopened.
const RECOVERY_INTERVAL: Duration = Duration::from_secs(3);

/// Runs the daemon for the store directory `dir` until its last mount goes
/// or it is told to stop.
pub async fn run(dir: PathBuf, first: Option<MountSpec>) -> Result<()> {
    let location = StoreLocation::Embedded(dir.clone());
    let store = Store::open(&location, OpenOptions::default()).await?;
    let listener = bind(&dir)?;
    let daemon = Arc::new(Daemon {
        store: Arc::new(store),
        main: Mutex::new(None),
        sessions: Mutex::new(BTreeMap::new()),
        mounts: Mutex::new(BTreeMap::new()),
        peers: Peers::new(),
        indexing: tokio::sync::Mutex::new(()),
        next_id: Default::default(),
        ever_mounted: Default::default(),
        stop: Notify::new(),
        model: tokio::sync::OnceCell::new(),
        embed_wake: Notify::new(),
        searched: Mutex::new(BTreeSet::new()),
        attached: Default::default(),
        last_recovery: Default::default(),
    });
    if let Some(spec) = first {
        daemon.mount(spec).await?;
    }
    tracing::info!(store = %dir.display(), pid = std::process::id(), "mount daemon ready");
    // The first write to index should not wait for the queries, nor for
    // the list of code files.
    std::thread::spawn(cortex::graph::Language::compile_all);
    let warm = daemon.clone();
    tokio::spawn(async move {
        if let Ok(Some(root)) = warm.store.graph_root().await {
            let _ = warm.store.code_paths_of(root).await;
        }
    });

    let ticker = tokio::spawn(tick(daemon.clone()));
    let embedder = tokio::spawn(embed(daemon.clone()));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                tokio::spawn(serve(daemon.clone(), stream));
            }
            _ = daemon.stop.notified() => break,
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    drop(listener); // clients now see "refused" rather than wait on us
    ticker.abort();
    embedder.abort();
    let _ = ticker.await;
    let _ = embedder.await;
    daemon.shutdown().await;
    // Close the store before the socket goes: a client that sees the socket
    // gone may open the store at once.
    // Connections still being answered hold the daemon for a moment.
    let mut daemon = daemon;
    for _ in 0..250 {
        match Arc::try_unwrap(daemon) {
            Ok(d) => {
                // Every view holds the database: all go before it closes.
                drop(d.main);
                drop(d.sessions);
                match Arc::try_unwrap(d.store) {
                    Ok(store) => store.close().await,
                    Err(_) => tracing::warn!("store still referenced at exit"),
                }
                break;
            }
            Err(still) => {
                daemon = still;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let _ = std::fs::remove_file(control::socket_path(&dir));
    Ok(())
}

/// Binds the control socket, replacing a stale one left by a dead daemon.
fn bind(dir: &Path) -> Result<UnixListener> {
    let path = control::socket_path(dir);
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            bail!("another mount daemon already listens on {}", path.display());
        }
        std::fs::remove_file(&path).with_context(|| format!("remove stale {}", path.display()))?;
    }
    let listener =
        UnixListener::bind(&path).with_context(|| format!("listen on {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Flushes dirty views every second and notices mounts unmounted from
/// outside (`fusermount3 -u`).
async fn tick(daemon: Arc<Daemon>) {
    let started = std::time::Instant::now();
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        interval.tick().await;
        // A store that failed to write takes nothing more (`store::health`)
        // until it is reopened, once its disk has room; mounts serve reads
        // meanwhile and keep their writes for the flush after.
        let failed = cortex::store::health::failure().is_some() && !daemon.recover().await;
        let view = daemon.main.lock().unwrap().clone();
        if let Some(vfs) = view
            && vfs.is_dirty()
            && !failed
        {
            if let Err(e) = vfs.flush().await {
                tracing::error!("flush failed: {e}");
            } else if let Err(e) = daemon.index().await {
                tracing::error!("indexing failed: {e:#}");
            } else {
                daemon.embed_wake.notify_one();
            }
        }
        let sessions: Vec<SessionView> =
            daemon.sessions.lock().unwrap().values().cloned().collect();
        for sv in sessions.iter().filter(|sv| sv.vfs.is_dirty() && !failed) {
            if let Err(e) = sv.vfs.flush().await {
                tracing::error!("flush of a session failed: {e}");
            } else {
                daemon.embed_wake.notify_one();
            }
        }
        let gone: Vec<PathBuf> = {
            let mounts = daemon.mounts.lock().unwrap();
            mounts
                .iter()
                .filter(|(_, m)| m.session.guard.is_finished())
                .map(|(p, _)| p.clone())
                .collect()
        };
        for path in gone {
            tracing::info!(mountpoint = %path.display(), "unmounted from outside");
            daemon.forget_mount(&path);
        }
        let empty = daemon.mounts.lock().unwrap().is_empty()
            && daemon.attached.load(std::sync::atomic::Ordering::SeqCst) == 0;
        let ever = daemon.ever_mounted.load(std::sync::atomic::Ordering::SeqCst);
        // A daemon nobody mounts through within a minute was started in vain.
        if empty && (ever || started.elapsed() > Duration::from_secs(60)) {
            daemon.stop.notify_one();
        }
    }
}

/// Keeps the search rows and vectors of main, the mounted sessions and the
/// sessions searched current, in the background: woken after writes,
/// imports and searches, and once a minute in case a wake was missed.
async fn embed(daemon: Arc<Daemon>) {
    loop {
        let _ = tokio::time::timeout(Duration::from_secs(60), daemon.embed_wake.notified()).await;
        let Ok(model) = daemon.model().await else { continue };
        let mut views: Vec<Option<String>> = vec![None];
        views.extend(daemon.sessions.lock().unwrap().keys().cloned().map(Some));
        views.extend(daemon.searched.lock().unwrap().iter().cloned().map(Some));
        views.dedup();
        for view in views {
            let result = async {
                let (store, _) = daemon.updated_view(view.as_deref()).await?;
                cortex::search::embed_pending(&store, &model, &|p| {
                    tracing::debug!(units = p.units, embedded = p.embedded, "embedding");
                })
                .await?;
                anyhow::Ok(())
            };
            if let Err(e) = result.await {
                // A session removed meanwhile, say: not worth more than a line.
                tracing::warn!(view = view.as_deref().unwrap_or("main"), "embedding: {e:#}");
            }
        }
    }
}

async fn serve(daemon: Arc<Daemon>, stream: UnixStream) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut attached = false;
    while let Ok(Some(line)) = lines.next_line().await {
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(Request::Attach) if !attached => {
                attached = true;
                daemon.attached.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                daemon.ever_mounted.store(true, std::sync::atomic::Ordering::SeqCst);
                Response::Ok
            }
            Ok(request) => daemon.handle(request).await,
            Err(e) => Response::Error { message: format!("unreadable request: {e}") },
        };
        let mut text = serde_json::to_string(&response).expect("responses serialise");
        text.push('\n');
        if write.write_all(text.as_bytes()).await.is_err() {
            break;
        }
    }
    if attached {
        daemon.attached.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Daemon {
    async fn handle(self: &Arc<Self>, request: Request) -> Response {
        let span = tracing::debug_span!("request", kind = request.kind());
        let response = self.answer(request).instrument(span.clone()).await;
        if let Response::Error { message } = &response {
            span.in_scope(|| tracing::debug!("answered with an error: {message}"));
        }
        response
    }

    async fn answer(self: &Arc<Self>, request: Request) -> Response {
        let result = match request {
            Request::Mount { mountpoint, read_only, allow_other, session, create } => {
                let spec = MountSpec { mountpoint, read_only, allow_other, session, create };
                self.mount(spec).await.map(|()| Response::Ok)
            }
            Request::Umount { mountpoint, discard } => self.umount(&mountpoint, discard).await,
            Request::Flush => self.flush().await.map(|()| Response::Ok),
            Request::Status => self.status().await.map(Response::Status),
            Request::Ls { path } => self.ls(&path).await,
            Request::Cat { path } => self.cat(&path).await,
            Request::Log { limit } => self.log(limit).await,
            Request::Export { dir, force } => self.export(&dir, force).await,
            Request::Import { dir, include_git, no_ignore } => {
                self.import(&dir, include_git, no_ignore).await
            }
            Request::Graph { query, session } => self.graph(&query, session.as_deref()).await,
            Request::Session { command } => self.session(&command).await,
            Request::Search { search, session } => self.search(&search, session).await,
            Request::Index { session } => self.index_view(session).await,
            Request::Tool { session, name, args, policy } => {
                let result =
                    cortex::tools::call(self.as_ref(), session.as_deref(), policy, &name, args)
                        .await;
                Ok(Response::Tool { outcome: result })
            }
            Request::Attach => Ok(Response::Ok),
        };
        result.unwrap_or_else(|e| Response::Error { message: format!("{e:#}") })
    }

    async fn view(&self) -> Result<Arc<Vfs>> {
        if let Some(vfs) = self.main.lock().unwrap().clone() {
            return Ok(vfs);
        }
        // SAFETY: getuid/getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let config = VfsConfig { uid, gid, read_only: false };
        let vfs = Arc::new(Vfs::load(self.store.clone(), config).await?);
        let mut slot = self.main.lock().unwrap();
        Ok(slot.get_or_insert(vfs).clone())
    }

    async fn mount(self: &Arc<Self>, spec: MountSpec) -> Result<()> {
        let mountpoint = std::fs::canonicalize(&spec.mountpoint)
            .with_context(|| format!("mountpoint {}", spec.mountpoint.display()))?;
        if self.mounts.lock().unwrap().contains_key(&mountpoint) {
            bail!("{} is already mounted by this daemon", mountpoint.display());
        }
        cortex::mountinfo::check_mountpoint(&mountpoint)?;
        let (view, vfs, peers) = match &spec.session {
            None => ("main".to_owned(), self.view().await?, self.peers.clone()),
            Some(name) => {
                let sv = self.session_view(name, spec.create).await?;
                (name.clone(), sv.vfs, sv.peers)
            }
        };
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let fs = CortexFs::new(vfs, tokio::runtime::Handle::current(), id, peers.clone());
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("cortex".into()),
            MountOption::Subtype("cortex".into()),
            MountOption::DefaultPermissions,
            MountOption::NoAtime,
        ];
        if spec.read_only {
            config.mount_options.push(MountOption::RO);
        }
        if spec.allow_other {
            config.acl = SessionACL::All;
        }
        config.n_threads = Some(4);
        config.clone_fd = true;
        let target = mountpoint.clone();
        let session = tokio::task::spawn_blocking(move || fuser::spawn_mount(fs, &target, &config))
            .await?
            .with_context(|| format!("mount {}", mountpoint.display()))?;
        // Answer only once the mount serves: its root is inode 1.
        let probe = mountpoint.clone();
        let live = tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(&probe).map(|m| m.ino() == 1)
        })
        .await?;
        if !matches!(live, Ok(true)) {
            let _ = tokio::task::spawn_blocking(move || session.umount_and_join()).await;
            bail!("{} did not come up as a cortex mount", mountpoint.display());
        }
        tracing::info!(mountpoint = %mountpoint.display(), view, read_only = spec.read_only, "mounted");
        peers.add(id, session.notifier());
        self.mounts
            .lock()
            .unwrap()
            .insert(mountpoint, Mounted { id, session, read_only: spec.read_only, view, peers });
        self.ever_mounted.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Unmounts after a final flush. If that flush fails (the store's disk
    /// is full, say), the mount stays, so that what it holds unsaved can
    /// still be read and copied out, unless `discard` says to go anyway.
    async fn umount(self: &Arc<Self>, mountpoint: &Path, discard: bool) -> Result<Response> {
        let path = std::fs::canonicalize(mountpoint).unwrap_or_else(|_| mountpoint.to_path_buf());
        if !self.mounts.lock().unwrap().contains_key(&path) {
            return Ok(Response::NotMounted);
        }
        if let Err(e) = self.flush().await {
            if !discard {
                bail!(
                    "{} is still mounted: the final flush failed ({e:#}); what was written since \
                     the last successful flush is only in the mount. Copy out what you need, or \
                     fix the cause and try again; `cortex umount --discard {}` unmounts without it",
                    path.display(),
                    path.display()
                );
            }
            tracing::error!(mountpoint = %path.display(), "unmounting without a final flush: {e:#}");
        }
        let Some(mounted) = self.forget_mount(&path) else {
            return Ok(Response::NotMounted);
        };
        let result = tokio::task::spawn_blocking(move || mounted.session.umount_and_join()).await?;
        if let Err(e) = result {
            bail!("unmount {}: {e}", path.display());
        }
        tracing::info!(mountpoint = %path.display(), "unmounted");
        // With no mounts left the ticker stops the daemon within a second,
        // after this answer has gone out.
        Ok(Response::Ok)
    }

    /// Takes a mount out of the books; unmounting it is the caller's.
    fn forget_mount(&self, path: &Path) -> Option<Mounted> {
        let mounted = self.mounts.lock().unwrap().remove(path)?;
        mounted.peers.remove(mounted.id);
        Some(mounted)
    }

    /// The head as the mounts see it: pending writes flushed first.
    async fn current_root(&self) -> Result<cortex::ids::ContentHash> {
        self.flush().await?;
        Ok(self.store.head().await?.root)
    }

    async fn ls(&self, path: &[u8]) -> Result<Response> {
        let root = self.current_root().await?;
        let listing = cortex::snapshot::list(&self.store, root, path).await?;
        let entries = listing.iter().map(|(p, e)| EntryInfo::new(p, e)).collect();
        Ok(Response::Entries { entries })
    }

    async fn cat(&self, path: &[u8]) -> Result<Response> {
        let root = self.current_root().await?;
        let data = cortex::snapshot::read_file(&self.store, root, path).await?;
        Ok(Response::Bytes { data })
    }

    async fn log(&self, limit: usize) -> Result<Response> {
        self.flush().await?;
        let snapshots = self.store.log(limit).await?.iter().map(SnapshotInfo::from).collect();
        Ok(Response::Log { snapshots })
    }

    async fn export(&self, dir: &Path, force: bool) -> Result<Response> {
        self.flush().await?;
        let head = self.store.head().await?;
        let started = std::time::Instant::now();
        let options = cortex::export::ExportOptions { force };
        let r = cortex::export::export(&self.store, head.root, dir, options).await?;
        let seconds = started.elapsed().as_secs_f64();
        Ok(Response::Transfer(TransferInfo::from_export(&r, &head, seconds)))
    }

    /// Imports into main, then brings the mounted view up to date and
    /// tells the kernel what changed.
    async fn import(&self, dir: &Path, include_git: bool, no_ignore: bool) -> Result<Response> {
        self.flush().await?;
        let options =
            cortex::import::ImportOptions { include_git, no_ignore, source: "import".into() };
        let progress = Arc::new(cortex::import::NoProgress);
        let r = cortex::import::import(&self.store, dir, &options, progress).await?;
        let index = self.index().await?;
        let view = self.main.lock().unwrap().clone();
        if let Some(vfs) = view {
            let invalidations = vfs.refresh().await?;
            let peers = self.peers.clone();
            tokio::task::spawn_blocking(move || peers.changed_outside(&invalidations)).await?;
        }
        let mut info = TransferInfo::from_import(&r);
        info.index = Some(index);
        self.embed_wake.notify_one();
        Ok(Response::Transfer(info))
    }

    /// Answers from main's graph, after bringing it to what the mounts show.
    async fn graph(
        &self,
        query: &cortex::query::GraphQuery,
        session: Option<&str>,
    ) -> Result<Response> {
        self.flush().instrument(tracing::debug_span!("flush")).await?;
        let Some(name) = session else {
            self.index().await?;
            let answer = cortex::query::run(&self.store, query)
                .instrument(tracing::debug_span!("graph.query"))
                .await?;
            return Ok(Response::Graph { answer });
        };
        // A session's graph lives in its namespace; brought to its head.
        let store = self.store.session(&cortex::ids::SessionName::parse(name)?).await?;
        {
            let _one = self.indexing.lock().await;
            cortex::index::index_head(&store).await?;
        }
        Ok(Response::Graph { answer: cortex::query::run(&store, query).await? })
    }

    /// The model, loaded once; the error says how to install it.
    async fn model(&self) -> std::result::Result<Arc<Model>, String> {
        self.model
            .get_or_init(|| async {
                tokio::task::spawn_blocking(|| cortex::search::load_model().map(Arc::new))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
            })
            .await
            .clone()
    }

    /// A view's store handle, with its graph and search rows brought to
    /// its head (after pending writes are flushed).
    async fn updated_view(&self, session: Option<&str>) -> Result<(Store, IndexReport)> {
        self.flush().await?;
        let store = match session {
            Some(name) => self.store.session(&cortex::ids::SessionName::parse(name)?).await?,
            None => self.store.with_main().await?,
        };
        let _one = self.indexing.lock().await;
        let report = cortex::search::update(&store).await?;
        Ok((store, report))
    }

    /// `cortex search`: ranked units of a view.
    async fn search(
        &self,
        search: &cortex::search::Search,
        session: Option<String>,
    ) -> Result<Response> {
        let (store, _) = self.updated_view(session.as_deref()).await?;
        if let Some(name) = session {
            self.searched.lock().unwrap().insert(name);
        }
        let model = self.model().await.ok();
        let results = cortex::search::search(&store, model.as_deref(), search).await?;
        self.embed_wake.notify_one();
        Ok(Response::Search { results })
    }

    /// `cortex index`: a view brought up to date, and how far embedding is.
    async fn index_view(&self, session: Option<String>) -> Result<Response> {
        let (store, report) = self.updated_view(session.as_deref()).await?;
        if let Some(name) = session {
            self.searched.lock().unwrap().insert(name);
        }
        let note = self.model().await.err();
        self.embed_wake.notify_one();
        Ok(Response::Index { report, progress: store.search_progress().await?, note })
    }

    /// A session command. Pending writes go to the store first; after a
    /// merge, the mounts of main see the result at once.
    async fn session(&self, command: &cortex::session::Command) -> Result<Response> {
        use cortex::session::Command;
        if let Command::Remove { name, force: true } = command {
            for path in self.mounted_at(name) {
                let Some(mounted) = self.forget_mount(&path) else { continue };
                self.flush().await?;
                tokio::task::spawn_blocking(move || mounted.session.umount_and_join()).await??;
                tracing::info!(mountpoint = %path.display(), "unmounted to remove its session");
            }
        }
        let closing = match command {
            Command::Remove { name, .. } => Some(name),
            Command::Merge { name, options } if !options.keep && !options.dry_run => Some(name),
            _ => None,
        };
        if let Some(name) = closing {
            let at = self.mounted_at(name);
            if let Some(path) = at.first() {
                bail!(
                    "session {name} is mounted at {}; unmount it first (`cortex umount {}`){}",
                    path.display(),
                    path.display(),
                    if matches!(command, Command::Merge { .. }) {
                        ", or merge with --keep"
                    } else {
                        ""
                    }
                );
            }
        }
        self.flush().await?;
        let mut outcome = cortex::session::execute(&self.store, command).await?;
        if let Outcome::Listed(list) = &mut outcome {
            for entry in list {
                entry.mounted =
                    self.mounted_at(&entry.name).iter().map(|p| p.display().to_string()).collect();
            }
        }
        match command {
            Command::Merge { name, .. } => {
                let main = self.main.lock().unwrap().clone();
                if let Some(vfs) = main {
                    let invalidations = vfs.refresh().await?;
                    let peers = self.peers.clone();
                    tokio::task::spawn_blocking(move || peers.changed_outside(&invalidations))
                        .await?;
                }
                // A closed session's view goes; a kept one sees the new main.
                let closed = matches!(&outcome, Outcome::Merged(report) if report.closed);
                let session = if closed {
                    self.sessions.lock().unwrap().remove(name.as_str());
                    None
                } else {
                    self.sessions.lock().unwrap().get(name.as_str()).cloned()
                };
                if let Some(sv) = session {
                    let invalidations = sv.vfs.refresh().await?;
                    tokio::task::spawn_blocking(move || sv.peers.changed_outside(&invalidations))
                        .await?;
                }
            }
            Command::Remove { name, .. } => {
                self.sessions.lock().unwrap().remove(name.as_str());
            }
            _ => {}
        }
        self.embed_wake.notify_one();
        Ok(Response::Session { outcome })
    }

    /// Brings the code graph to main's head; one run at a time.
    async fn index(&self) -> Result<cortex::index::IndexReport> {
        let _one = self.indexing.lock().await;
        Ok(cortex::index::index_head(&self.store).await?)
    }

    /// Writes every view's pending changes: main's and the sessions'.
    /// Reopens the store after a storage failure, once its disk has room
    /// (tried every few seconds): true when writes are taken again.
    async fn recover(&self) -> bool {
        let mut last = self.last_recovery.lock().await;
        if last.is_some_and(|at| at.elapsed() < RECOVERY_INTERVAL) {
            return false;
        }
        *last = Some(std::time::Instant::now());
        match self.store.reopen().await {
            Ok(()) => {
                tracing::info!("the store was reopened after its failure; unsaved writes follow");
                true
            }
            Err(e) => {
                tracing::debug!("the failed store is not reopened yet: {e}");
                false
            }
        }
    }

    async fn flush(&self) -> Result<()> {
        let view = self.main.lock().unwrap().clone();
        if let Some(vfs) = view {
            vfs.flush().await?;
        }
        let sessions: Vec<SessionView> = self.sessions.lock().unwrap().values().cloned().collect();
        for sv in sessions {
            sv.vfs.flush().await?;
        }
        Ok(())
    }

    /// A session's view, loaded once (and forked first with `create`).
    async fn session_view(&self, name: &str, create: bool) -> Result<SessionView> {
        if let Some(sv) = self.sessions.lock().unwrap().get(name) {
            return Ok(sv.clone());
        }
        let name = &cortex::ids::SessionName::parse(name)?;
        let exists = self.store.sessions().await?.iter().any(|s| &s.name == name);
        if !exists {
            if !create {
                bail!(
                    "no session named {name}; `cortex session new {name}` makes one, or mount with --create"
                );
            }
            self.store.create_session(name, &cortex::store::View::Main).await?;
        }
        let store = Arc::new(self.store.session(name).await?);
        // SAFETY: getuid/getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let config = VfsConfig { uid, gid, read_only: false };
        let vfs = Arc::new(Vfs::load(store, config).await?);
        let sv = SessionView { vfs, peers: Peers::new() };
        let mut sessions = self.sessions.lock().unwrap();
        Ok(sessions.entry(name.to_string()).or_insert(sv).clone())
    }

    /// Where a view is mounted.
    fn mounted_at(&self, view: &str) -> Vec<PathBuf> {
        self.mounts
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, m)| m.view == view)
            .map(|(p, _)| p.clone())
            .collect()
    }

    async fn shutdown(&self) {
        if let Err(e) = self.flush().await {
            tracing::error!("flush at shutdown failed: {e:#}");
        }
        let paths: Vec<PathBuf> = self.mounts.lock().unwrap().keys().cloned().collect();
        for path in paths {
            let Some(mounted) = self.forget_mount(&path) else { continue };
            let done = tokio::task::spawn_blocking(move || mounted.session.umount_and_join()).await;
            if !matches!(done, Ok(Ok(()))) {
                tracing::warn!(mountpoint = %path.display(), "unmount at shutdown failed");
            }
        }
    }

    async fn status(&self) -> Result<DaemonStatus> {
        let mounts = self
            .mounts
            .lock()
            .unwrap()
            .iter()
            .map(|(p, m)| MountInfo {
                mountpoint: p.clone(),
                view: m.view.clone(),
                read_only: m.read_only,
            })
            .collect();
        Ok(DaemonStatus::of(&self.store, std::process::id(), mounts).await?)
    }
}

/// The MCP tools run here, on the daemon's views: a tool's write is seen by
/// the view's mounts at once.
impl cortex::tools::Host for Daemon {
    async fn vfs(&self, session: Option<&str>) -> Result<Arc<Vfs>, ToolError> {
        match session {
            None => self.view().await.map_err(tool_error),
            Some(name) => Ok(self.session_view(name, false).await.map_err(tool_error)?.vfs),
        }
    }

    async fn changed(&self, session: Option<&str>, changes: Vec<Invalidation>) {
        let peers = match session {
            None => Some(self.peers.clone()),
            Some(name) => self.sessions.lock().unwrap().get(name).map(|sv| sv.peers.clone()),
        };
        if let Some(peers) = peers
            && !changes.is_empty()
        {
            let _ = tokio::task::spawn_blocking(move || peers.changed_outside(&changes)).await;
        }
    }

    async fn graph(&self, query: &GraphQuery, session: Option<&str>) -> Result<Answer, ToolError> {
        match Daemon::graph(self, query, session).await.map_err(tool_error)? {
            Response::Graph { answer } => Ok(answer),
            _ => Err(ToolError::new("the graph gave no answer")),
        }
    }

    async fn search(&self, search: &Search, session: Option<&str>) -> Result<Results, ToolError> {
        match Daemon::search(self, search, session.map(str::to_owned)).await.map_err(tool_error)? {
            Response::Search { results } => Ok(results),
            _ => Err(ToolError::new("the search gave no answer")),
        }
    }

    async fn session(&self, command: &cortex::session::Command) -> Result<Outcome, ToolError> {
        match Daemon::session(self, command).await.map_err(tool_error)? {
            Response::Session { outcome } => Ok(outcome),
            _ => Err(ToolError::new("the session command gave no answer")),
        }
    }
}

fn tool_error(e: anyhow::Error) -> ToolError {
    ToolError::new(format!("{e:#}"))
}
