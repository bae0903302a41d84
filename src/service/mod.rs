//! What the CLI and the MCP server ask of a store, as one interface with two
//! implementations: [`Views`] runs it in this process, on a store it holds
//! (a remote store, a store no daemon serves, the daemon itself); [`Remote`]
//! asks the daemon that holds an embedded store, over its control socket
//! ([`control`] is that socket's protocol).
//!
//! A caller picks one once and then never asks which it has: every command
//! of the CLI and every MCP tool is written against [`Service`].

pub mod control;
pub mod daemon;
pub mod files;
mod remote;
mod views;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::import::ImportOptions;
use crate::index::IndexReport;
use crate::query::{Answer, GraphQuery};
use crate::search::{Progress, Results, Search};
use crate::session::{Command, Outcome};
use crate::store::View;
use control::{EntryInfo, SnapshotInfo, TransferInfo};
pub use files::{PathAnswer, PathOp, TreePath, WritePolicy};
pub use remote::Remote;
pub use views::{Notifier, Views};

/// A future a [`Service`] answers with (boxed, so that callers can hold a
/// `dyn Service`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A view's graph and search rows brought up to date, and how far
/// embedding is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexState {
    pub report: IndexReport,
    pub progress: Progress,
    /// Why nothing is being embedded (no model), if so.
    #[serde(default)]
    pub note: Option<String>,
}

/// Everything a client does with a store beyond mounting it.
pub trait Service: Send + Sync {
    /// Entries of main at `path` (tree path bytes): a directory's, or one.
    fn ls(&self, path: Vec<u8>) -> BoxFuture<'_, Result<Vec<EntryInfo>>>;
    /// A file of main, whole.
    fn cat(&self, path: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>>>;
    /// Main's snapshots, newest first.
    fn log(&self, limit: usize) -> BoxFuture<'_, Result<Vec<SnapshotInfo>>>;
    /// Main written out to `dir`.
    fn export(&self, dir: PathBuf, force: bool) -> BoxFuture<'_, Result<TransferInfo>>;
    /// `dir` imported into main, its code indexed; mounts see it at once.
    /// `progress` hears of each file when the import runs in this process.
    fn import(
        &self,
        dir: PathBuf,
        options: ImportOptions,
        progress: Arc<dyn crate::import::Progress>,
    ) -> BoxFuture<'_, Result<TransferInfo>>;
    /// A question to a view's code graph, brought up to date first.
    fn graph(&self, view: View, query: GraphQuery) -> BoxFuture<'_, Result<Answer>>;
    /// A search of a view, brought up to date first.
    fn search(&self, view: View, search: Search) -> BoxFuture<'_, Result<Results>>;
    /// A view's graph and search rows brought up to date (embedding goes on
    /// in the background where a daemon runs).
    fn index(&self, view: View) -> BoxFuture<'_, Result<IndexState>>;
    /// [`Service::index`], then waits until every unit has its vector,
    /// telling `progress` as the count grows.
    fn embed_all<'a>(
        &'a self,
        view: View,
        progress: &'a (dyn Fn(Progress) + Sync),
    ) -> BoxFuture<'a, Result<IndexState>>;
    /// A session command (`cortex session …`, `diff`, `merge`, …).
    fn session(&self, command: Command) -> BoxFuture<'_, Result<Outcome>>;
    /// A file operation on a view, by path (the MCP file tools); writes
    /// reach the view's mounts at once.
    fn path(
        &self,
        view: View,
        op: PathOp,
        policy: WritePolicy,
    ) -> BoxFuture<'_, Result<PathAnswer>>;
    /// The metrics of the process holding the store, in the Prometheus
    /// text format ([`crate::metrics`]).
    fn metrics(&self) -> BoxFuture<'_, Result<String>>;
    /// Done: pending writes saved, the store closed if this holds it.
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}
