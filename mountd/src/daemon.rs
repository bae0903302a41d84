//! The daemon: owns one embedded store, serves its mounts through FUSE, and
//! answers the control socket. One per store (the store's lock sees to it).
//!
//! Every mount of main shares one VFS view, so what one mount writes the
//! others read. Changes reach the store on fsync, every second while there
//! are any, and at unmount. The daemon exits when its last mount goes.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cortex::ids::SessionName;
use cortex::service::control::{self, DaemonStatus, Memory, MountInfo, Request, Response};
use cortex::service::{Notifier, Service, Views};
use cortex::session::{Command, Outcome};
use cortex::store::{OpenOptions, Store, StoreLocation, View};
use fuser::{BackgroundSession, Config, MountOption, SessionACL};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tracing::Instrument;

use crate::fuse::CortexFs;
use crate::peers::{MountId, Peers};
use crate::watch::Watches;

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
    view: View,
    /// The mounts of the same view, told of this one's changes.
    peers: Arc<Peers>,
}

/// Each view's mounts (separate per view: inode numbers are per view).
type PeersByView = Arc<Mutex<BTreeMap<String, Arc<Peers>>>>;

struct Daemon {
    /// Every view's VFS; the mounts serve them (and the watches write them).
    views: Arc<Views>,
    mounts: Mutex<BTreeMap<PathBuf, Mounted>>,
    /// The mounts' kernel sides by view (`View::name`), told of changes
    /// from elsewhere.
    peers: PeersByView,
    next_id: std::sync::atomic::AtomicU64,
    /// Set by the first mount: until then an empty daemon is starting, not done.
    ever_mounted: std::sync::atomic::AtomicBool,
    stop: Notify,
    /// Connections that keep the daemon running (`cortex mcp` servers).
    attached: std::sync::atomic::AtomicUsize,
    /// When the failed store was last tried to be reopened (`recover`).
    last_recovery: tokio::sync::Mutex<Option<std::time::Instant>>,
    /// Directories kept in step with views (`cortex watch`).
    watches: Watches,
}

/// How often a failed store is tried to be reopened.
const RECOVERY_INTERVAL: Duration = Duration::from_secs(3);

/// Runs the daemon for the store directory `dir` until its last mount goes
/// or it is told to stop.
/// `dir` holds the control socket: the store's own directory, or for a
/// server's store this machine's runtime directory for it.
pub async fn run(location: StoreLocation, dir: PathBuf, first: Option<MountSpec>) -> Result<()> {
    let store = Store::open(&location, OpenOptions::default()).await?;
    let listener = bind(&dir)?;
    let peers = PeersByView::default();
    let daemon = Arc::new(Daemon {
        views: Arc::new(Views::mounted(store, notifier(peers.clone()))),
        mounts: Mutex::new(BTreeMap::new()),
        peers,
        next_id: Default::default(),
        ever_mounted: Default::default(),
        stop: Notify::new(),
        attached: Default::default(),
        last_recovery: Default::default(),
        watches: Watches::default(),
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
        let store = warm.views.store();
        if let Ok(Some(root)) = store.graph().graph_root().await {
            let _ = store.graph().code_paths_of(root).await;
        }
    });

    let ticker = tokio::spawn(tick(daemon.clone()));
    // Other machines' daemons move a server's store too.
    let follower =
        matches!(location, StoreLocation::Remote(_)).then(|| tokio::spawn(follow(daemon.clone())));
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
    if let Some(follower) = follower {
        follower.abort();
        let _ = follower.await;
    }
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
                match Arc::try_unwrap(d.views) {
                    Ok(views) => views.shut().await,
                    Err(_) => tracing::warn!("views still referenced at exit"),
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

/// Passes a view's changes from elsewhere (a tool's write, a merge, an
/// import) to its mounts' kernel caches.
fn notifier(peers: PeersByView) -> Notifier {
    Arc::new(move |view: View, changes| {
        let peers = peers.lock().unwrap().get(view.name()).cloned();
        Box::pin(async move {
            if let Some(peers) = peers {
                let _ = tokio::task::spawn_blocking(move || peers.changed_outside(&changes)).await;
            }
        })
    })
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
        let dirty = daemon.views.loaded().into_iter().filter(|(_, vfs)| vfs.is_dirty());
        for (view, vfs) in dirty.filter(|_| !failed) {
            if let Err(e) = vfs.flush().await {
                tracing::error!(view = view.name(), "flush failed: {e}");
                continue;
            }
            // Main's graph follows its writes at once (searches and tools
            // bring a session's up to date when they ask).
            if view == View::Main
                && let Err(e) = daemon.views.index_main().await
            {
                tracing::error!("indexing failed: {e}");
                continue;
            }
            daemon.views.wake_embedder();
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
            && daemon.attached.load(std::sync::atomic::Ordering::SeqCst) == 0
            && !daemon.watches.any_live();
        let ever = daemon.ever_mounted.load(std::sync::atomic::Ordering::SeqCst);
        // A daemon nobody mounts through within a minute was started in vain.
        if empty && (ever || started.elapsed() > Duration::from_secs(60)) {
            daemon.stop.notify_one();
        }
    }
}

/// How often a daemon of a server's store looks for heads moved by others.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(250);

/// Brings each loaded view to its head when another machine's daemon moved
/// it (a server's store is shared): reading the head every
/// [`FOLLOW_INTERVAL`], one query per loaded view; its mounts are told.
async fn follow(daemon: Arc<Daemon>) {
    let mut interval = tokio::time::interval(FOLLOW_INTERVAL);
    loop {
        interval.tick().await;
        for (view, vfs) in daemon.views.loaded() {
            let head = async { daemon.views.view_store(&view).await?.history().head().await };
            match head.await {
                Ok(head) if head.id != vfs.head().id => {
                    if let Err(e) = daemon.views.landed(view.clone()).await {
                        tracing::warn!(view = view.name(), "following the store failed: {e}");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(view = view.name(), "reading the head failed: {e}"),
            }
        }
    }
}

/// Keeps the search rows and vectors of main, the mounted sessions and the
/// sessions searched current, in the background: woken after writes,
/// imports and searches, and once a minute in case a wake was missed.
async fn embed(daemon: Arc<Daemon>) {
    loop {
        let _ = tokio::time::timeout(Duration::from_secs(60), daemon.views.embed_wanted()).await;
        // Without a model, the search rows are still kept current.
        let model = daemon.views.model().await.ok();
        for view in daemon.views.embed_views() {
            if let Err(e) = daemon.views.embed_view(&view, model.as_deref()).await {
                // A session removed meanwhile, say: not worth more than a line.
                tracing::warn!(view = view.name(), "embedding: {e}");
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
        // Somebody waits for this: background embedding waits for it.
        let _busy = cortex::foreground::busy();
        let span = tracing::debug_span!("request", kind = request.kind());
        let response = self.answer(request).instrument(span.clone()).await;
        if let Response::Error { message } = &response {
            span.in_scope(|| tracing::debug!("answered with an error: {message}"));
        }
        response
    }

    async fn answer(self: &Arc<Self>, request: Request) -> Response {
        let views = &self.views;
        let result = match request {
            Request::Mount { mountpoint, read_only, allow_other, session, create } => {
                let spec = MountSpec { mountpoint, read_only, allow_other, session, create };
                self.mount(spec).await.map(|()| Response::Ok)
            }
            Request::Umount { mountpoint, discard } => self.umount(&mountpoint, discard).await,
            Request::Flush => views.flush().await.map(|()| Response::Ok).map_err(Into::into),
            Request::Status => self.status().await.map(Response::Status),
            Request::Ls { path } => views
                .ls(path)
                .await
                .map(|entries| Response::Entries { entries })
                .map_err(Into::into),
            Request::Cat { path } => {
                views.cat(path).await.map(|data| Response::Bytes { data }).map_err(Into::into)
            }
            Request::Log { limit } => views
                .log(limit)
                .await
                .map(|snapshots| Response::Log { snapshots })
                .map_err(Into::into),
            Request::Export { dir, force } => {
                views.export(dir, force).await.map(Response::Transfer).map_err(Into::into)
            }
            Request::Import { dir, include_git, no_ignore } => {
                let options = cortex::import::ImportOptions {
                    include_git,
                    no_ignore,
                    source: "import".into(),
                };
                let progress = Arc::new(cortex::import::NoProgress);
                views
                    .import(dir, options, progress)
                    .await
                    .map(Response::Transfer)
                    .map_err(Into::into)
            }
            Request::Graph { query, view } => views
                .graph(view, query)
                .await
                .map(|answer| Response::Graph { answer })
                .map_err(Into::into),
            Request::Session { command } => self.session(command).await,
            Request::Search { search, view } => views
                .search(view, search)
                .await
                .map(|results| Response::Search { results })
                .map_err(Into::into),
            Request::Index { view } => {
                views.index(view).await.map(Response::Index).map_err(Into::into)
            }
            Request::Path { view, operation, policy } => views
                .path(view, operation, policy)
                .await
                .map(|answer| Response::Path { answer })
                .map_err(Into::into),
            Request::Watch { dir, session, pull } => self.watch(dir, session, pull).await,
            Request::Unwatch { dir } => self.watches.stop(&dir).await.map(|()| Response::Ok),
            Request::Attach => Ok(Response::Ok),
            Request::Metrics => views
                .metrics_text()
                .await
                .map(|text| Response::Metrics { text })
                .map_err(Into::into),
        };
        // Each cause said once (a SurrealDB error repeats its message as
        // its own cause's): the CLI prints it as one line.
        result.unwrap_or_else(|e| Response::Error { message: cortex::error::one_line(e.as_ref()) })
    }

    async fn mount(self: &Arc<Self>, spec: MountSpec) -> Result<()> {
        let mountpoint = std::fs::canonicalize(&spec.mountpoint)
            .with_context(|| format!("mountpoint {}", spec.mountpoint.display()))?;
        if self.mounts.lock().unwrap().contains_key(&mountpoint) {
            bail!("{} is already mounted by this daemon", mountpoint.display());
        }
        cortex::mountinfo::check_mountpoint(&mountpoint)?;
        let (view, vfs) = match &spec.session {
            None => (View::Main, self.views.vfs(&View::Main).await?),
            Some(name) => {
                let name = SessionName::parse(name)?;
                let vfs = self.views.session_vfs(&name, spec.create).await?;
                (View::Session(name), vfs)
            }
        };
        let peers = self
            .peers
            .lock()
            .unwrap()
            .entry(view.name().to_owned())
            .or_insert_with(Peers::new)
            .clone();
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
        tracing::info!(mountpoint = %mountpoint.display(), view = view.name(), read_only = spec.read_only, "mounted");
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
        if let Err(e) = self.views.flush().await {
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

    /// Starts keeping a view in step with `dir` (`cortex watch`); the
    /// daemon stays while a watch is live.
    async fn watch(&self, dir: PathBuf, session: Option<String>, pull: bool) -> Result<Response> {
        let view = match session {
            None => View::Main,
            Some(name) => {
                let name = SessionName::parse(&name)?;
                self.views.session_vfs(&name, false).await?;
                View::Session(name)
            }
        };
        let info = self.watches.start(self.views.clone(), &dir, view, pull).await?;
        self.ever_mounted.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(Response::Watch(info))
    }

    /// Takes a mount out of the books; unmounting it is the caller's.
    fn forget_mount(&self, path: &Path) -> Option<Mounted> {
        let mounted = self.mounts.lock().unwrap().remove(path)?;
        mounted.peers.remove(mounted.id);
        Some(mounted)
    }

    /// A session command, after the checks only the daemon can make (the
    /// session's mounts); a listing says where each session is mounted.
    async fn session(&self, command: Command) -> Result<Response> {
        if let Command::Remove { name, force: true } = &command {
            for path in self.mounted_at(name) {
                let Some(mounted) = self.forget_mount(&path) else { continue };
                self.views.flush().await?;
                tokio::task::spawn_blocking(move || mounted.session.umount_and_join()).await??;
                tracing::info!(mountpoint = %path.display(), "unmounted to remove its session");
            }
        }
        let closing = match &command {
            Command::Remove { name, .. } => Some(name),
            Command::Merge { name, options, .. } if !options.keep && !options.dry_run => Some(name),
            _ => None,
        };
        if let Some(name) = closing
            && let Some(path) = self.mounted_at(name).first()
        {
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
        let removed = match &command {
            Command::Remove { name, .. } => Some(name.to_string()),
            _ => None,
        };
        let mut outcome = self.views.session(command).await?;
        // A merge into main reaches the watched directories that pull.
        if let Outcome::Merged(report) = &mut outcome
            && report.snapshot.is_some()
        {
            report.left_in_watched = self.watches.pull_now(&View::Main).await;
        }
        if let Some(name) = removed {
            self.peers.lock().unwrap().remove(&name);
        }
        if let Outcome::Listed(list) = &mut outcome {
            for entry in list {
                entry.mounted =
                    self.mounted_at(&entry.name).iter().map(|p| p.display().to_string()).collect();
            }
        }
        Ok(Response::Session { outcome })
    }

    /// Reopens the store after a storage failure, once its disk has room
    /// (tried every few seconds): true when writes are taken again.
    async fn recover(&self) -> bool {
        let mut last = self.last_recovery.lock().await;
        if last.is_some_and(|at| at.elapsed() < RECOVERY_INTERVAL) {
            return false;
        }
        *last = Some(std::time::Instant::now());
        match self.views.store().reopen().await {
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

    /// Where a view is mounted.
    fn mounted_at(&self, session: &str) -> Vec<PathBuf> {
        self.mounts
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, m)| matches!(&m.view, View::Session(name) if name.as_str() == session))
            .map(|(p, _)| p.clone())
            .collect()
    }

    async fn shutdown(&self) {
        for watch in self.watches.list() {
            let _ = self.watches.stop(&watch.dir).await;
        }
        if let Err(e) = self.views.flush().await {
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
                view: m.view.name().to_owned(),
                read_only: m.read_only,
            })
            .collect();
        let memory = Memory::of_this_process(self.views.store(), &self.views.loaded());
        let mut status =
            DaemonStatus::of(self.views.store(), std::process::id(), mounts, Some(memory)).await?;
        status.embed_per_hour = self.views.embed_rate().map(|r| (r * 3600.0) as u64);
        status.watches = self.watches.list();
        Ok(status)
    }
}
