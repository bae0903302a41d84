//! The [`Service`] of a store its daemon holds: each call is one request on
//! the daemon's control socket ([`control`]), answered from the daemon's
//! [`Views`](super::Views), so that the CLI, MCP servers and mounts share
//! one live store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::control::{self, EntryInfo, Request, Response, SnapshotInfo, TransferInfo};
use super::files::{PathAnswer, PathOp, WritePolicy};
use super::{BoxFuture, IndexState, Service};
use crate::error::{Error, Result};
use crate::import::ImportOptions;
use crate::query::{Answer, GraphQuery};
use crate::search::{Progress, Results, Search};
use crate::session::{Command, Outcome};
use crate::store::View;

/// How long one request may take (a merge or an import of a big tree).
const TIMEOUT: Duration = Duration::from_secs(3600);

/// Starts the daemon again after it went away (an MCP server's, which must
/// outlive it); the CLI has none and reports the daemon gone.
pub type Restart = Box<dyn Fn() -> Result<()> + Send + Sync>;

pub struct Remote {
    dir: PathBuf,
    restart: Option<Restart>,
}

impl Remote {
    /// The daemon of the store directory `dir`.
    pub fn new(dir: PathBuf) -> Remote {
        Remote { dir, restart: None }
    }

    /// The daemon of `dir`, started again by `restart` if it goes away.
    pub fn restarting(dir: PathBuf, restart: Restart) -> Remote {
        Remote { dir, restart: Some(restart) }
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sends `request`; the daemon's errors become ours.
    pub async fn ask(&self, request: Request) -> Result<Response> {
        let mut answer = self.send(request.clone()).await?;
        if answer.is_none()
            && let Some(restart) = &self.restart
        {
            tracing::warn!("the cortex daemon is gone; starting it again");
            restart().map_err(|e| {
                Error::Daemon(format!("the cortex daemon died and could not be restarted: {e}"))
            })?;
            answer = self.send(request).await?;
        }
        match answer {
            Some(Response::Error { message }) => Err(Error::Daemon(message)),
            Some(response) => Ok(response),
            None => Err(Error::Daemon("the cortex daemon went away".to_owned())),
        }
    }

    async fn send(&self, request: Request) -> Result<Option<Response>> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || control::call(&dir, &request, TIMEOUT))
            .await
            .map_err(|e| Error::Internal(format!("a request to the daemon panicked: {e}")))?
    }
}

/// The answer a request should have had, or an error naming what came.
macro_rules! expect {
    ($answer:expr, $pattern:pat => $value:expr) => {
        match $answer {
            $pattern => Ok($value),
            other => Err(Error::Daemon(format!("unexpected answer from the daemon: {other:?}"))),
        }
    };
}

impl Service for Remote {
    fn ls(&self, path: Vec<u8>) -> BoxFuture<'_, Result<Vec<EntryInfo>>> {
        Box::pin(async move {
            expect!(self.ask(Request::Ls { path }).await?, Response::Entries { entries } => entries)
        })
    }

    fn cat(&self, path: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>>> {
        Box::pin(async move {
            expect!(self.ask(Request::Cat { path }).await?, Response::Bytes { data } => data)
        })
    }

    fn log(&self, limit: usize) -> BoxFuture<'_, Result<Vec<SnapshotInfo>>> {
        Box::pin(async move {
            expect!(self.ask(Request::Log { limit }).await?, Response::Log { snapshots } => snapshots)
        })
    }

    fn export(&self, dir: PathBuf, force: bool) -> BoxFuture<'_, Result<TransferInfo>> {
        Box::pin(async move {
            expect!(self.ask(Request::Export { dir, force }).await?, Response::Transfer(info) => info)
        })
    }

    fn import(
        &self,
        dir: PathBuf,
        options: ImportOptions,
        _progress: Arc<dyn crate::import::Progress>,
    ) -> BoxFuture<'_, Result<TransferInfo>> {
        Box::pin(async move {
            let request = Request::Import {
                dir,
                include_git: options.include_git,
                no_ignore: options.no_ignore,
            };
            expect!(self.ask(request).await?, Response::Transfer(info) => info)
        })
    }

    fn graph(&self, view: View, query: GraphQuery) -> BoxFuture<'_, Result<Answer>> {
        Box::pin(async move {
            expect!(self.ask(Request::Graph { query, view }).await?, Response::Graph { answer } => answer)
        })
    }

    fn search(&self, view: View, search: Search) -> BoxFuture<'_, Result<Results>> {
        Box::pin(async move {
            expect!(self.ask(Request::Search { search, view }).await?, Response::Search { results } => results)
        })
    }

    fn index(&self, view: View) -> BoxFuture<'_, Result<IndexState>> {
        Box::pin(async move {
            expect!(self.ask(Request::Index { view }).await?, Response::Index(state) => state)
        })
    }

    fn embed_all<'a>(
        &'a self,
        view: View,
        progress: &'a (dyn Fn(Progress) + Sync),
    ) -> BoxFuture<'a, Result<IndexState>> {
        Box::pin(async move {
            // The daemon embeds in the background: follow it.
            let mut state = self.index(view.clone()).await?;
            while state.note.is_none() && state.progress.embedded < state.progress.units {
                progress(state.progress);
                tokio::time::sleep(Duration::from_millis(500)).await;
                state = self.index(view.clone()).await?;
            }
            Ok(state)
        })
    }

    fn session(&self, command: Command) -> BoxFuture<'_, Result<Outcome>> {
        Box::pin(async move {
            expect!(self.ask(Request::Session { command }).await?, Response::Session { outcome } => outcome)
        })
    }

    fn path(
        &self,
        view: View,
        op: PathOp,
        policy: WritePolicy,
    ) -> BoxFuture<'_, Result<PathAnswer>> {
        Box::pin(async move {
            expect!(self.ask(Request::Path { view, operation: op, policy }).await?, Response::Path { answer } => answer)
        })
    }

    fn metrics(&self) -> BoxFuture<'_, Result<String>> {
        Box::pin(async move {
            expect!(self.ask(Request::Metrics).await?, Response::Metrics { text } => text)
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
