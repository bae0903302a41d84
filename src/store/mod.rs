//! The store: SurrealDB, and the only module that speaks SurrealQL.
//!
//! Everything durable goes through here: file contents and tree objects
//! (content-addressed, written once, shared by every snapshot and session),
//! the numbered snapshots of main, main's head, and the journal. Every query
//! binds its parameters; the only SurrealQL text not written in this module
//! is the migrations under `migrations/`, which ship with the binary.
//!
//! Moving main is one transaction that checks the head it expects, so a
//! change prepared against an old head is refused rather than lost, and a
//! crash at any point leaves main at the old snapshot or the new one.

pub mod check;
mod client;
mod connection;
mod content;
pub mod graph;
mod graph_cache;
mod graph_codec;
mod graph_full;
mod graph_read;
pub mod health;
mod history;
mod keyword;
pub mod location;
mod lock;
mod migrate;
mod notes;
pub mod postings;
mod retry;
pub mod search;
pub mod sessions;
pub mod terms;
mod tls;
mod tokens;

use std::sync::Arc;

use surrealdb::opt::auth::Root;

pub use content::Objects;
pub use content::{BlobWrite, CHUNK_SIZE};
pub use graph::CodeGraph;
pub use graph_full::{FreshNames, ParseWriter, StoredParse};
pub use history::History;
pub use history::{Change, ChangeOp, JournalEntry, NewSnapshot, Snapshot};
pub use location::{STORE_DIR, StoreLocation};
pub use lock::held_by_daemon;
pub use migrate::SCHEMA_VERSION;
pub use notes::{NoteFilter, NoteRow, Notes};
pub use search::SearchIndex;
pub use sessions::Sessions;
pub use tokens::{TokenRow, Tokens};

/// True when no process holds the embedded store in `dir` (the `.cortex`
/// directory).
pub fn is_free(dir: &std::path::Path) -> bool {
    lock::is_free(&dir.join("lock"))
}

use crate::error::{Error, Result};
use crate::ids::SessionName;
use client::Client;
use health::db_error;
use lock::StoreLock;

/// The namespace and database that hold main.
const MAIN_NS: &str = "main";
const DATABASE: &str = location::DEFAULT_DATABASE;

/// A view's namespace: a `SessionName` is checked, so it may become an
/// identifier.
fn namespace_of(view: &View) -> String {
    match view {
        View::Main => MAIN_NS.to_owned(),
        View::Session(name) => format!("session_{name}"),
    }
}

/// An open store, seen through one view: main, or a session.
///
/// Contents, chunks and trees are shared by every view and live in main's
/// namespace (`objects`); a view's history (snapshots, head, journal), its
/// code graph and its facts live in the view's own namespace (`db`): `main`,
/// or `session_<name>` for a session.
pub struct Store {
    /// The engine's clients, shared by every handle (see `connection.rs`).
    conn: Arc<connection::Connection>,
    /// This view's namespace.
    ns: String,
    view: View,
    /// Shared by every handle on the connection (see `graph.rs`).
    code_paths: Arc<graph::CodePathsCache>,
    /// Shared by every handle on the connection (see `content.rs`).
    trees: Arc<content::TreeCache>,
    /// Shared by every handle on the connection (see `graph_cache.rs`).
    graph_rows: Arc<graph_cache::GraphCache>,
    /// Turns to move main (see [`Store::main_turn`]).
    main_turn: Arc<tokio::sync::RwLock<()>>,
}

/// A handle on main's view, and only main's: made by [`Store::main`].
#[derive(Debug)]
pub struct Main(Store);

impl std::ops::Deref for Main {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.0
    }
}

/// How a change to main shares its turn ([`Store::main_turn`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    Shared,
    Alone,
}

/// A turn to move main, held until dropped.
#[derive(Debug)]
pub enum MainTurn {
    Shared(tokio::sync::OwnedRwLockReadGuard<()>),
    Alone(tokio::sync::OwnedRwLockWriteGuard<()>),
}

/// Tries of a merge or an import before it takes main's turn alone.
pub const TRIES_BEFORE_ALONE: u32 = 2;

/// Which view of the store a `Store` reads and writes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    Main,
    Session(SessionName),
}

impl View {
    /// Main's view, or the session's if one is named.
    pub fn of(session: Option<SessionName>) -> View {
        session.map_or(View::Main, View::Session)
    }

    /// The session, if this is one's view.
    pub fn session(&self) -> Option<&SessionName> {
        match self {
            View::Main => None,
            View::Session(name) => Some(name),
        }
    }

    /// `main`, or the session's name.
    pub fn name(&self) -> &str {
        match self {
            View::Main => "main",
            View::Session(name) => name.as_str(),
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("location", &self.location().to_string()).finish()
    }
}

/// How to open a store.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenOptions {
    /// Create the store if there is none (`cortex init`).
    pub create: bool,
    /// Let the engine repair what it finds, even where that loses data
    /// (`check::before_open` otherwise refuses). Only `cortex fsck
    /// --repair` asks for it, and only on a copy of the store.
    pub engine_repair: bool,
}

/// The store's facets: what a reader holds in mind at once.
impl Store {
    /// Contents, chunks and trees: immutable, content-addressed, shared by every view.
    pub fn objects(&self) -> Objects<'_> {
        Objects { store: self }
    }

    /// A view's snapshots: its head, the snapshots before it, the journal, and the one way to move
    /// the head (`commit`).
    pub fn history(&self) -> History<'_> {
        History { store: self }
    }

    /// A view's code graph: files' units, edges and the name index, written per snapshot and read
    /// by the graph's questions.
    pub fn graph(&self) -> CodeGraph<'_> {
        CodeGraph { store: self }
    }

    /// A view's search rows: keyword and vector search, the vectors still to compute, and the
    /// vector cache.
    pub fn search(&self) -> SearchIndex<'_> {
        SearchIndex { store: self }
    }

    /// The session registry (in main's namespace): forking, listing, removing and rebasing
    /// sessions, their conflicts and claims.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { store: self }
    }

    /// The MCP server's bearer tokens (their hashes, in main's namespace).
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens { store: self }
    }

    /// Notes on the code (issue 22): this view's.
    pub fn notes(&self) -> Notes<'_> {
        Notes { store: self }
    }
}

impl Store {
    /// Opens (or with `create`, creates) the store at `location`, applying any
    /// migrations the binary has and the store lacks.
    pub async fn open(location: &StoreLocation, options: OpenOptions) -> Result<Store> {
        let budget = crate::memory::Budget::from_env()?;
        let (db, lock) = match location {
            StoreLocation::Embedded(dir) => open_embedded(dir, options, &budget).await?,
            StoreLocation::Memory => (connect_memory(&budget).await?, None),
            StoreLocation::Remote(url) => (open_remote(url).await?, None),
        };
        db.use_ns(MAIN_NS, location.database())
            .await
            .map_err(|e| db_error("select the main namespace", e))?;
        let store = Store {
            conn: Arc::new(connection::Connection::new(location.clone(), db, lock)),
            ns: MAIN_NS.to_owned(),
            view: View::Main,
            code_paths: Arc::default(),
            trees: Arc::new(content::TreeCache::new(&budget)),
            graph_rows: Arc::new(graph_cache::GraphCache::new(&budget)),
            main_turn: Arc::default(),
        };
        match store.prepare(options).await {
            Ok(()) => Ok(store),
            Err(e) => {
                // Shut the engine down properly before reporting.
                store.close().await;
                Err(e)
            }
        }
    }

    /// Migrates (or refuses) the store and makes sure main has a head.
    async fn prepare(&self, options: OpenOptions) -> Result<()> {
        let location = self.location();
        // Memory and remote stores are set up on first use; an embedded store
        // directory is only set up by `cortex init`.
        let allow_fresh = options.create || !matches!(location, StoreLocation::Embedded(_));
        let before = migrate::apply(&*self.db().await?, allow_fresh).await?;
        if before == 0 && !allow_fresh {
            return Err(Error::NoStore(format!(
                "{location} is not an initialised cortex store; run `cortex init`"
            )));
        }
        self.history().ensure_head().await
    }

    /// Opens a fresh in-memory store, for tests.
    pub async fn memory() -> Result<Store> {
        Store::open(&StoreLocation::Memory, OpenOptions { create: true, ..OpenOptions::default() })
            .await
    }

    pub fn location(&self) -> &StoreLocation {
        self.conn.location()
    }

    /// This view's client of the engine.
    async fn db(&self) -> Result<Arc<Client>> {
        self.conn.client(&self.ns).await
    }

    /// The client of main's namespace, where the objects every view shares
    /// live.
    async fn objects_db(&self) -> Result<Arc<Client>> {
        self.conn.client(MAIN_NS).await
    }

    /// Opens the engine again after a storage failure stopped writes
    /// (`health`), once its disk has room: the daemon's way back from a
    /// full disk without unmounting. Every handle on the connection goes on
    /// with the new engine. Refused for a store that did not fail, or is
    /// not embedded, or whose disk still lacks the room.
    pub async fn reopen(&self) -> Result<()> {
        let Some(failure) = health::failure() else {
            return Err(Error::InvalidInput("the store has not failed; nothing to reopen".into()));
        };
        let StoreLocation::Embedded(dir) = self.location() else {
            return Err(Error::StoreFailed(failure));
        };
        let kv = dir.join("store");
        let need = check::room_to_recover(&kv);
        if let Some(space) = disk_space(&kv)
            && space.available < need
        {
            return Err(check::no_room(&kv, need, space.available));
        }
        self.conn.reopen().await
    }

    /// The size and free space of the filesystem an embedded store lives
    /// on; `None` for a store elsewhere (or if the system will not say).
    pub fn disk_space(&self) -> Option<DiskSpace> {
        let StoreLocation::Embedded(dir) = self.location() else { return None };
        disk_space(dir)
    }

    /// A turn to move main, in this process. A mount's flush of main takes
    /// a shared turn (`Turn::Shared`: flushes go on side by side, each
    /// checking the head it was prepared against). A merge or an import
    /// that main keeps moving under takes the turn alone (`Turn::Alone`)
    /// after a few tries: flushes then wait for its one commit, so it
    /// finishes however busy the writers are, and they lose nothing.
    pub async fn main_turn(&self, turn: Turn) -> MainTurn {
        match turn {
            Turn::Shared => MainTurn::Shared(self.main_turn.clone().read_owned().await),
            Turn::Alone => MainTurn::Alone(self.main_turn.clone().write_owned().await),
        }
    }

    /// The view this handle reads and writes.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// Another handle on main (sharing the connection), as a second writer
    /// would have.
    pub async fn with_main(&self) -> Result<Store> {
        self.with_view(View::Main).await
    }

    /// Main's handle, from any view's: what only main may do (a merge
    /// moves main) takes a [`Main`], so a session's handle cannot be given
    /// in its place.
    pub async fn main(&self) -> Result<Main> {
        Ok(Main(self.with_view(View::Main).await?))
    }

    /// Another handle on the same store, seen through `view` (the session's
    /// namespace must exist: see `sessions.rs`). Shares the connection.
    pub(crate) async fn with_view(&self, view: View) -> Result<Store> {
        let ns = namespace_of(&view);
        self.conn.client(&ns).await?;
        Ok(Store {
            conn: self.conn.clone(),
            ns,
            view,
            code_paths: self.code_paths.clone(),
            trees: self.trees.clone(),
            graph_rows: self.graph_rows.clone(),
            main_turn: self.main_turn.clone(),
        })
    }

    /// The schema version recorded in the store.
    pub async fn schema_version(&self) -> Result<u64> {
        migrate::current_version(&*self.db().await?).await
    }

    /// Reads a string fact from `meta` (such as the tree's home directory).
    pub async fn meta_get(&self, key: &str) -> Result<Option<String>> {
        let mut res = self
            .db()
            .await?
            .query("SELECT VALUE value FROM ONLY type::record('meta', $key)")
            .bind(("key", key.to_owned()))
            .await
            .map_err(|e| db_error("read meta", e))?;
        let value: Option<String> = res.take(0).map_err(|e| db_error("read meta", e))?;
        Ok(value)
    }

    /// Records a string fact in `meta`.
    pub async fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        health::check_writable()?;
        self.db()
            .await?
            .query("UPSERT type::record('meta', $key) SET value = $value")
            .bind(("key", key.to_owned()))
            .bind(("value", value.to_owned()))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error("write meta", e))?;
        Ok(())
    }
}

/// A filesystem's size and the space left for this process (root may use
/// the blocks the filesystem keeps back for it).
#[derive(Clone, Copy, Debug)]
pub struct DiskSpace {
    pub total: u64,
    pub available: u64,
}

/// `statvfs` of the filesystem holding `path`.
pub fn disk_space(path: &std::path::Path) -> Option<DiskSpace> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path and `st` is a statvfs-sized buffer
    // that the call fills; it is read only when the call succeeded.
    let st = unsafe {
        if libc::statvfs(c.as_ptr(), st.as_mut_ptr()) != 0 {
            return None;
        }
        st.assume_init()
    };
    let unit = st.f_frsize as u64;
    // SAFETY: geteuid cannot fail and touches no memory.
    let free = if unsafe { libc::geteuid() } == 0 { st.f_bfree } else { st.f_bavail };
    Some(DiskSpace { total: st.f_blocks as u64 * unit, available: free as u64 * unit })
}

async fn connect(url: &str) -> Result<surrealdb::Surreal<surrealdb::engine::any::Any>> {
    tls::install_provider();
    let shown = location::redact_url(url);
    // `CORTEX_DB_CA` is read for TLS connections only: a ws:// or
    // http:// store does not depend on it.
    let tls = if url.starts_with("wss://") { tls::configured()? } else { None };
    let connected = match tls {
        Some(config) => {
            let options = surrealdb::opt::Config::new().rustls(config);
            surrealdb::engine::any::connect((url, options)).await
        }
        None => surrealdb::engine::any::connect(url).await,
    };
    connected.map_err(|e| {
        tls::explain(&shown, &e.to_string()).unwrap_or_else(|| db_error(format!("open {shown}"), e))
    })
}

/// A fresh in-memory engine.
async fn connect_memory(budget: &crate::memory::Budget) -> Result<Client> {
    client::open_local("memory", budget)
        .await
        .map_err(|e| Error::Corrupt(format!("cannot start an in-memory store: {}", one_line(&e))))
}

async fn open_embedded(
    dir: &std::path::Path,
    options: OpenOptions,
    budget: &crate::memory::Budget,
) -> Result<(Client, Option<StoreLock>)> {
    let kv = dir.join("store");
    if !dir.is_dir() {
        if !options.create {
            return Err(Error::NoStore(format!(
                "no cortex store at {}; run `cortex init` to create one",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create store directory", dir, e))?;
    } else if !kv.is_dir() && !options.create {
        return Err(Error::NoStore(format!(
            "{} is not a cortex store (it has no store/ inside); run `cortex init`",
            dir.display()
        )));
    }
    let lock = StoreLock::acquire(dir)?;
    // Damage the engine would "repair" by losing data is refused first,
    // before anything in the directory is touched.
    if !options.engine_repair {
        check::before_open(&kv, check::Tail::Cut)?;
    }
    let db = connect_embedded(&kv, budget).await?;
    health::arm();
    Ok((db, Some(lock)))
}

/// Starts the engine on the store directory `kv`, checked by the caller
/// (`check::before_open`).
async fn connect_embedded(kv: &std::path::Path, budget: &crate::memory::Budget) -> Result<Client> {
    let kv_str = kv.to_str().ok_or_else(|| {
        Error::InvalidInput(format!("store path {} is not valid UTF-8", kv.display()))
    })?;
    if kv_str.contains(['?', '#']) {
        return Err(Error::InvalidInput(format!(
            "store path {} may not contain '?' or '#'",
            kv.display()
        )));
    }
    client::open_local(&format!("surrealkv://{kv_str}"), budget).await.map_err(|e| {
        let message = one_line(&e);
        if message.contains("(os error 28)") {
            let available = disk_space(kv).map_or(0, |d| d.available);
            return check::no_room(kv, check::room_needed(kv), available);
        }
        Error::Corrupt(format!("cannot open the store at {}: {message}", kv.display()))
    })
}

async fn open_remote(url: &str) -> Result<Client> {
    // The URL's path names the database (`StoreLocation::database`).
    let db = connect(location::split_remote(url).0).await?;
    // Credentials come from the environment only: never argv, never logs.
    let user = std::env::var("CORTEX_DB_USER").ok();
    let pass = std::env::var("CORTEX_DB_PASS").ok();
    match (user, pass) {
        (Some(username), Some(password)) => {
            db.signin(Root { username, password })
                .await
                .map_err(|e| db_error(format!("sign in to {}", location::redact_url(url)), e))?;
        }
        (None, None) => {}
        _ => {
            return Err(Error::InvalidInput(
                "set both CORTEX_DB_USER and CORTEX_DB_PASS, or neither".into(),
            ));
        }
    }
    Ok(Client::Remote(db))
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

impl Store {
    /// Records a schema version without migrating: only for tests that need
    /// a store "from a newer cortex".
    #[doc(hidden)]
    pub async fn force_schema_version_for_tests(&self, version: u64) -> Result<()> {
        self.db()
            .await?
            .query("UPSERT meta:schema SET version = $version")
            .bind(("version", version as i64))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error("write the schema version", e))?;
        Ok(())
    }
}

impl Store {
    /// Closes the store and, for an embedded one, waits until the engine has
    /// let go of its files, so that another process can open it at once.
    /// (Dropping a `Store` also closes it, but in the background.)
    pub async fn close(self) {
        let Store { conn, .. } = self;
        // Another view of the store still holds it open, or this one.
        if let Ok(conn) = Arc::try_unwrap(conn) {
            conn.close().await;
        }
    }
}
