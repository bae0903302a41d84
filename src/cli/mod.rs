//! Command-line parsing and output: the only module that knows clap and the
//! terminal. One file per command; each has `Args` and `run`.

mod cat;
mod export;
mod fsck;
mod graph;
mod import;
mod init;
mod log;
mod ls;
mod mcp;
mod mount;
mod note;
mod output;
mod search;
mod session;
mod stats;
mod status;
mod token;
mod watch;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use cortex::service::{Remote, Service, Views};
use cortex::store::{OpenOptions, Store, StoreLocation, View};

pub use output::one_line;

/// A source tree in SurrealDB, for coding agents and their tools.
#[derive(Debug, Parser)]
#[command(name = "cortex", version, propagate_version = true)]
pub struct Cli {
    /// The store: a .cortex directory (or the directory holding one), mem://,
    /// or a ws:// / wss:// SurrealDB URL (credentials from CORTEX_DB_USER and
    /// CORTEX_DB_PASS; for wss://, CORTEX_DB_CA names a PEM file of the
    /// authorities to trust instead of the public roots). Default: the
    /// nearest .cortex at or above the current directory.
    #[arg(
        long,
        global = true,
        env = "CORTEX_STORE",
        hide_env_values = true,
        value_name = "PATH|URL"
    )]
    store: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a store for DIR (in DIR/.cortex) and import DIR's tree.
    Init(init::Args),
    /// Import (or re-import) DIR into main as one change.
    Import(import::Args),
    /// List a directory (or show one entry) of main.
    Ls(ls::Args),
    /// Print a file of main to stdout.
    Cat(cat::Args),
    /// Show main's changes, newest first.
    Log(log::Args),
    /// Show the store: where and what it is, and main's size and last change.
    Status(status::Args),
    /// Write main out into a directory.
    Export(export::Args),
    /// Mount main as a directory (through the store's daemon).
    Mount(mount::MountArgs),
    /// Unmount a cortex mount (also one left by a daemon that died).
    Umount(mount::UmountArgs),
    /// Keep main (or a session) in step with a directory edited outside
    /// Cortex (the daemon watches it; --stop ends it).
    Watch(watch::Args),
    /// The code units of a file or directory, as a tree.
    Units(graph::UnitsArgs),
    /// Find code units by name or id prefix.
    Symbol(graph::SymbolArgs),
    /// Who calls a unit (transitively with --depth).
    Callers(graph::WalkArgs),
    /// What a unit calls (transitively with --depth).
    Callees(graph::WalkArgs),
    /// What a file imports and what imports it.
    Deps(graph::DepsArgs),
    /// What depends on units or files, by depth, with the tests among them.
    Impact(graph::ImpactArgs),
    /// A unit's neighbourhood as Graphviz dot or Mermaid.
    Graph(graph::GraphArgs),
    /// Search code units by meaning and keywords.
    Search(search::SearchArgs),
    /// Bring the code graph and search index up to date (--wait: embed all).
    Index(search::IndexArgs),
    /// Sessions: copy-on-write views of main (new, list, rm).
    Session(session::SessionArgs),
    /// What a session changed, by file (and by unit with --units).
    Diff(session::DiffArgs),
    /// Merge a session into main, three-way, by unit for code.
    Merge(session::MergeArgs),
    /// A session's conflicts from its last merge attempt.
    Conflicts(session::ConflictsArgs),
    /// Claim files or units for a session (advisory).
    Claim(session::ClaimArgs),
    /// Release a session's claims.
    Release(session::ReleaseArgs),
    /// Who claims or has changed what, and where sessions will conflict.
    Who(session::WhoArgs),
    /// Serve the tree to agents: an MCP server on stdin/stdout, or over
    /// HTTP with --http.
    Mcp(mcp::McpArgs),
    /// Notes attached to the code (add, list, rm), for later agents.
    Note(note::Args),
    /// Find notes (and merges' messages) by a question in words.
    Recall(note::RecallArgs),
    /// A unit's changes across snapshots and merges, with their messages.
    History(note::HistoryArgs),
    /// Bearer tokens for `cortex mcp --http` (create, list, revoke).
    Token(token::Args),
    /// What the daemon measures: FUSE operations, writes, queues, caches,
    /// memory (a table, --json, or --prometheus).
    Stats(stats::Args),
    /// Check the store for damage (--repair DIR: recover into a new store).
    Fsck(fsck::Args),
}

/// What every command needs to find its store.
#[derive(Debug)]
pub struct Context {
    store: Option<String>,
}

impl Context {
    /// The store named by --store / CORTEX_STORE, or found from `start`.
    fn locate(&self, start: &std::path::Path) -> Result<StoreLocation> {
        Ok(match &self.store {
            Some(spec) => StoreLocation::parse(spec)?,
            None => StoreLocation::discover(start)?,
        })
    }

    /// The store directory of a running mount daemon, if one holds the store.
    fn daemon(&self) -> Result<Option<std::path::PathBuf>> {
        let location = self.locate(&std::env::current_dir()?)?;
        Ok(daemon_of(&location))
    }

    /// Runs `f` on the store's [`Service`]: its daemon's if one holds the
    /// store (so mounts see what the command does at once), else the store
    /// opened here, and closed after whatever `f` returned.
    async fn with_service<T>(&self, f: impl AsyncFnOnce(&dyn Service) -> Result<T>) -> Result<T> {
        let location = self.locate(&std::env::current_dir()?)?;
        with_service_at(location, f).await
    }

    /// Opens the store for the current directory, runs `f` on it, and
    /// closes it whatever `f` returned.
    async fn with_store<T>(&self, f: impl AsyncFnOnce(&Store) -> Result<T>) -> Result<T> {
        let location = self.locate(&std::env::current_dir()?)?;
        let store = open_store(&location).await?;
        let result = f(&store).await;
        store.close().await;
        result
    }
}

/// The directory of the daemon that holds the store at `location`, if one
/// runs.
fn daemon_of(location: &StoreLocation) -> Option<std::path::PathBuf> {
    let dir = match location {
        StoreLocation::Embedded(dir) => dir.clone(),
        // This machine's daemon of a server's store, if it runs one.
        StoreLocation::Remote(_) => location.runtime_dir().ok()??,
        StoreLocation::Memory => return None,
    };
    let socket = cortex::service::control::socket_path(&dir);
    std::os::unix::net::UnixStream::connect(socket).is_ok().then_some(dir)
}

/// [`Context::with_service`] for the store at `location`.
async fn with_service_at<T>(
    location: StoreLocation,
    f: impl AsyncFnOnce(&dyn Service) -> Result<T>,
) -> Result<T> {
    if let Some(dir) = daemon_of(&location) {
        return f(&Remote::new(dir)).await;
    }
    let views = Views::in_process(open_store(&location).await?);
    let result = f(&views).await;
    views.shut().await;
    result
}

/// Opens the store at `location`, waiting a moment for a daemon that is
/// closing it.
async fn open_store(location: &StoreLocation) -> Result<Store> {
    let started = std::time::Instant::now();
    Ok(loop {
        match Store::open(location, OpenOptions::default()).await {
            // A daemon that has stopped listening is closing the store:
            // it is free in a moment.
            Err(cortex::Error::Locked { holder, .. })
                if holder.contains("cortex-mountd")
                    && started.elapsed() < std::time::Duration::from_secs(5) =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => break other?,
        }
    })
}

/// The view a command's `--session` names (main without one).
fn view_of(session: &Option<String>) -> Result<View> {
    Ok(View::of(session.as_deref().map(str::parse).transpose()?))
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let cx = Context { store: cli.store };
    match cli.command {
        Command::Init(args) => init::run(&cx, args).await,
        Command::Import(args) => import::run(&cx, args).await,
        Command::Ls(args) => ls::run(&cx, args).await,
        Command::Cat(args) => cat::run(&cx, args).await,
        Command::Log(args) => log::run(&cx, args).await,
        Command::Status(args) => status::run(&cx, args).await,
        Command::Export(args) => export::run(&cx, args).await,
        Command::Mount(args) => mount::mount(&cx, args).await,
        Command::Umount(args) => mount::umount(&cx, args).await,
        Command::Watch(args) => watch::run(&cx, args).await,
        Command::Units(args) => graph::units(&cx, args).await,
        Command::Symbol(args) => graph::symbol(&cx, args).await,
        Command::Callers(args) => graph::callers(&cx, args, false).await,
        Command::Callees(args) => graph::callers(&cx, args, true).await,
        Command::Deps(args) => graph::deps(&cx, args).await,
        Command::Impact(args) => graph::impact(&cx, args).await,
        Command::Graph(args) => graph::graph(&cx, args).await,
        Command::Search(args) => search::search(&cx, args).await,
        Command::Index(args) => search::index(&cx, args).await,
        Command::Session(args) => session::session(&cx, args).await,
        Command::Diff(args) => session::diff(&cx, args).await,
        Command::Merge(args) => session::merge(&cx, args).await,
        Command::Conflicts(args) => session::conflicts(&cx, args).await,
        Command::Claim(args) => session::claim(&cx, args).await,
        Command::Release(args) => session::release(&cx, args).await,
        Command::Who(args) => session::who(&cx, args).await,
        Command::Note(args) => note::run(&cx, args).await,
        Command::Recall(args) => note::recall(&cx, args).await,
        Command::History(args) => note::history(&cx, args).await,
        Command::Token(args) => token::run(&cx, args).await,
        Command::Stats(args) => stats::run(&cx, args).await,
        Command::Mcp(args) => mcp::run(&cx, args).await,
        Command::Fsck(args) => fsck::run(&cx, args).await,
    }
}

/// Logs go to stderr; CORTEX_LOG sets the filter (default: warnings).
///
/// SurrealKV warns "no runtime available for closing the store" when its last
/// handle is dropped as the process exits, even after `Store::close` has shut
/// it down and released its lock; that one is not worth a user's attention.
pub fn init_logging() {
    cortex::init_logging("warn,surrealkv::lsm=error");
}
