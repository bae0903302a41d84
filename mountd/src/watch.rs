//! `cortex watch DIR`: the daemon's watches of real directories.
//!
//! Each watch is a task owning a [`Mirror`] (the core's bookkeeping) and an
//! inotify watcher (`notify`) on every directory the mirror takes, one
//! level each (ignored directories such as `target/` are never watched, so
//! a build inside them costs nothing). Events are paths; they are gathered
//! until the directory is quiet for [`QUIET`] or [`MAX_WAIT`] has passed
//! since the first, and held while git holds `.git/index.lock` (a
//! checkout or pull writing thousands of files lands as one snapshot). An
//! overflowed event queue or a watcher error makes the next sync a rescan
//! of the whole directory. Every [`POLL`] the view's head is checked: with
//! `--pull`, what landed there from elsewhere is written back.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cortex::service::Views;
use cortex::service::control::WatchInfo;
use cortex::store::View;
use cortex::watch::{Mirror, Pulled, Targets, is_private};
use notify::{EventKind, RecursiveMode, Watcher, event::AccessKind, event::AccessMode};
use tokio::sync::{mpsc, oneshot};

/// How long the directory must be quiet before a batch is taken.
const QUIET: Duration = Duration::from_millis(50);
/// A batch is taken at the latest this long after its first event.
const MAX_WAIT: Duration = Duration::from_secs(1);
/// How long a batch waits at most for git to release `.git/index.lock`.
const MAX_HOLD: Duration = Duration::from_secs(60);
/// How often the view's head is checked for changes from elsewhere.
const POLL: Duration = Duration::from_millis(250);

/// A request to a watch's task.
enum Command {
    Stop(oneshot::Sender<()>),
    /// Pull now (after a merge) and say what is left alone.
    Pull(oneshot::Sender<Vec<String>>),
}

struct Handle {
    view: View,
    info: Arc<Mutex<WatchInfo>>,
    commands: mpsc::Sender<Command>,
}

/// The daemon's watches, by directory.
#[derive(Default)]
pub struct Watches {
    by_dir: Mutex<BTreeMap<PathBuf, Handle>>,
}

impl Watches {
    /// Starts watching `dir` into `view`: the first sync lands before this
    /// answers. A directory may be watched once.
    pub async fn start(
        &self,
        views: Arc<Views>,
        dir: &Path,
        view: View,
        pull: bool,
    ) -> Result<WatchInfo> {
        let dir = std::fs::canonicalize(dir).with_context(|| format!("watch {}", dir.display()))?;
        if let Some(h) = self.by_dir.lock().unwrap().get(&dir)
            && h.info.lock().unwrap().live
        {
            bail!(
                "{} is already watched (into {}); `cortex watch --stop {}` first",
                dir.display(),
                h.view.name(),
                dir.display()
            );
        }
        if let Some(other) =
            self.live().into_iter().find(|w| w.dir.starts_with(&dir) || dir.starts_with(&w.dir))
        {
            bail!("{} overlaps {}, watched already", dir.display(), other.dir.display());
        }
        let (events_tx, events) = mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |event| {
            let _ = events_tx.send(event);
        })?;
        views.flush().await?;
        let store = views.view_store(&view).await?;
        let (mirror, synced) = Mirror::start(&store, &dir, pull).await?;
        if synced.snapshot.is_some() {
            views.landed(view.clone()).await?;
        }
        watch_dir(&mut watcher, &dir, b"")?;
        for rel in &synced.new_dirs {
            let _ = watch_dir(&mut watcher, &dir, rel);
        }
        let info = Arc::new(Mutex::new(WatchInfo {
            dir: dir.clone(),
            view: view.name().to_owned(),
            pull,
            snapshots: synced.snapshot.is_some() as u64,
            last_snapshot: synced.snapshot.as_ref().map(|s| s.id.0),
            live: true,
            ..WatchInfo::default()
        }));
        let (commands_tx, commands) = mpsc::channel(4);
        let task = Task { views, view: view.clone(), mirror, watcher, info: info.clone() };
        // What was made before the watches began: looked at once more.
        tokio::spawn(task.run(events, commands, Targets::All));
        self.by_dir
            .lock()
            .unwrap()
            .insert(dir.clone(), Handle { view, info: info.clone(), commands: commands_tx });
        tracing::info!(dir = %dir.display(), "watching");
        let answer = info.lock().unwrap().clone();
        Ok(answer)
    }

    /// Stops watching `dir` (a stopped watch is forgotten too).
    pub async fn stop(&self, dir: &Path) -> Result<()> {
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let Some(handle) = self.by_dir.lock().unwrap().remove(&dir) else {
            bail!("{} is not watched", dir.display());
        };
        let (tx, rx) = oneshot::channel();
        if handle.commands.send(Command::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
        tracing::info!(dir = %dir.display(), "watch stopped");
        Ok(())
    }

    /// Every watch, live or stopped.
    pub fn list(&self) -> Vec<WatchInfo> {
        self.by_dir.lock().unwrap().values().map(|h| h.info.lock().unwrap().clone()).collect()
    }

    fn live(&self) -> Vec<WatchInfo> {
        self.list().into_iter().filter(|w| w.live).collect()
    }

    /// Whether any watch is live (the daemon stays while one is).
    pub fn any_live(&self) -> bool {
        !self.live().is_empty()
    }

    /// Pulls now into every pulling watch of `view` (a merge just landed
    /// there): what each left alone, by directory.
    pub async fn pull_now(&self, view: &View) -> Vec<(String, Vec<String>)> {
        let senders: Vec<(PathBuf, mpsc::Sender<Command>)> = self
            .by_dir
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, h)| &h.view == view && h.info.lock().unwrap().pull)
            .map(|(d, h)| (d.clone(), h.commands.clone()))
            .collect();
        let mut out = Vec::new();
        for (dir, commands) in senders {
            let (tx, rx) = oneshot::channel();
            if commands.send(Command::Pull(tx)).await.is_err() {
                continue;
            }
            if let Ok(kept) = rx.await
                && !kept.is_empty()
            {
                out.push((dir.display().to_string(), kept));
            }
        }
        out
    }
}

/// Watches one directory of the tree (one level).
fn watch_dir(watcher: &mut notify::RecommendedWatcher, dir: &Path, rel: &[u8]) -> Result<()> {
    let path = dir.join(std::ffi::OsStr::from_bytes(rel));
    watcher
        .watch(&path, RecursiveMode::NonRecursive)
        .with_context(|| format!("watch {}", path.display()))
}

struct Task {
    views: Arc<Views>,
    view: View,
    mirror: Mirror,
    watcher: notify::RecommendedWatcher,
    info: Arc<Mutex<WatchInfo>>,
}

/// Paths gathered for the next sync.
#[derive(Default)]
struct Batch {
    paths: BTreeSet<Vec<u8>>,
    rescan: bool,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Batch {
    fn touch(&mut self) {
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// When the batch is due, if anything is in it.
    fn due(&self) -> Option<tokio::time::Instant> {
        let (first, last) = (self.first?, self.last?);
        Some(tokio::time::Instant::from_std((last + QUIET).min(first + MAX_WAIT)))
    }
}

impl Task {
    async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
        mut commands: mpsc::Receiver<Command>,
        first: Targets,
    ) {
        let mut batch = Batch::default();
        if let Targets::All = first {
            batch.rescan = true;
            batch.touch();
        }
        let mut poll = tokio::time::interval(POLL);
        loop {
            let due = batch.due();
            tokio::select! {
                Some(event) = events.recv() => self.gather(&mut batch, event),
                _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {
                    if self.git_busy() && batch.first.is_some_and(|f| f.elapsed() < MAX_HOLD) {
                        batch.last = Some(Instant::now());
                        continue;
                    }
                    let taken = std::mem::take(&mut batch);
                    if let Err(stopped) = self.sync(taken, &mut batch).await {
                        self.stopped(stopped);
                        break;
                    }
                }
                command = commands.recv() => match command {
                    Some(Command::Pull(reply)) => {
                        self.pull().await;
                        // Everything still left alone, whichever pull left it.
                        let _ = reply.send(self.mirror.kept());
                    }
                    Some(Command::Stop(reply)) => {
                        let _ = reply.send(());
                        break;
                    }
                    None => break,
                },
                _ = poll.tick() => {
                    self.pull().await;
                }
            }
        }
        self.info.lock().unwrap().live = false;
    }

    /// Adds an event's paths to the batch.
    fn gather(&self, batch: &mut Batch, event: notify::Result<notify::Event>) {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(dir = %self.mirror.dir().display(), "watcher error, rescanning: {e}");
                batch.rescan = true;
                batch.touch();
                return;
            }
        };
        if event.need_rescan() {
            tracing::info!(dir = %self.mirror.dir().display(), "events were lost; rescanning");
            batch.rescan = true;
            batch.touch();
            return;
        }
        // Opening and reading change nothing (the watch's own reads among them).
        if let EventKind::Access(kind) = event.kind
            && kind != AccessKind::Close(AccessMode::Write)
        {
            return;
        }
        for path in &event.paths {
            let Ok(rel) = path.strip_prefix(self.mirror.dir()) else { continue };
            let rel = rel.as_os_str().as_bytes();
            if is_private(rel) {
                continue;
            }
            let name = rel.rsplit(|&b| b == b'/').next().unwrap_or(b"");
            // Ignore rules changed: what is taken may change anywhere.
            if name == b".gitignore" || name == b".ignore" {
                batch.rescan = true;
            }
            batch.paths.insert(rel.to_vec());
            batch.touch();
        }
    }

    /// Whether git is writing the tree (a checkout, a pull, a merge).
    fn git_busy(&self) -> bool {
        self.mirror.dir().join(".git/index.lock").exists()
    }

    /// Takes a batch into the view. An error that ends the watch (its
    /// directory went) is returned; others are logged and kept in status,
    /// and the next sync rescans.
    async fn sync(&mut self, batch: Batch, next: &mut Batch) -> std::result::Result<(), String> {
        let targets = if batch.rescan { Targets::All } else { Targets::Paths(batch.paths) };
        if matches!(targets, Targets::All) {
            self.info.lock().unwrap().rescans += 1;
        }
        match self.try_sync(targets).await {
            Ok(new_dirs) => {
                for rel in &new_dirs {
                    let _ = watch_dir(&mut self.watcher, self.mirror.dir(), rel);
                }
                // What was made in them before their watch began.
                if !new_dirs.is_empty() {
                    next.paths.extend(new_dirs);
                    next.touch();
                }
                self.info.lock().unwrap().kept = self.mirror.kept();
                Ok(())
            }
            Err(_) if !self.mirror.dir().is_dir() => Err(format!(
                "{} is gone; the watch stopped (the view keeps its files)",
                self.mirror.dir().display()
            )),
            Err(e) => {
                tracing::error!(dir = %self.mirror.dir().display(), "watch sync failed: {e:#}");
                self.info.lock().unwrap().error = Some(format!("{e:#}"));
                next.rescan = true;
                next.touch();
                Ok(())
            }
        }
    }

    async fn try_sync(&mut self, targets: Targets) -> anyhow::Result<Vec<Vec<u8>>> {
        // Unsaved writes through mounts first: the sync commits on top of them.
        self.views.flush().await?;
        let store = self.views.view_store(&self.view).await?;
        let synced = self.mirror.sync(&store, targets).await?;
        if let Some(snapshot) = &synced.snapshot {
            self.views.landed(self.view.clone()).await?;
            let mut info = self.info.lock().unwrap();
            info.snapshots += 1;
            info.last_snapshot = Some(snapshot.id.0);
            info.error = None;
        }
        Ok(synced.new_dirs)
    }

    /// Follows the view's head; with `--pull`, writes its changes back.
    async fn pull(&mut self) -> Pulled {
        let result = async {
            let store = self.views.view_store(&self.view).await?;
            self.mirror.pull(&store).await
        }
        .await;
        match result {
            Ok(pulled) => {
                if !pulled.kept.is_empty() {
                    tracing::info!(dir = %self.mirror.dir().display(), kept = ?pulled.kept, "left alone: changed in the directory too");
                }
                self.info.lock().unwrap().kept = self.mirror.kept();
                pulled
            }
            Err(e) => {
                tracing::warn!(dir = %self.mirror.dir().display(), "pull failed: {e}");
                Pulled::default()
            }
        }
    }

    fn stopped(&self, why: String) {
        tracing::warn!("{why}");
        let mut info = self.info.lock().unwrap();
        info.error = Some(why);
        info.live = false;
    }
}
