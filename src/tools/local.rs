//! The tools run in the calling process, on a store it opened itself: for
//! a remote store (no daemon can hold it) and for tests of the tools
//! without FUSE. Writes reach the store at once (there are no mounts here
//! to share a view with). Nothing is embedded here: semantic search uses
//! the vectors a daemon or `cortex index --wait` made, as `cortex search`
//! without a daemon does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{Host, ToolError};
use crate::embed::Model;
use crate::ids::SessionName;
use crate::query::{Answer, GraphQuery};
use crate::search::{Results, Search};
use crate::session::{Command, Outcome};
use crate::store::Store;
use crate::vfs::{Invalidation, Vfs, VfsConfig};

pub struct LocalHost {
    store: Arc<Store>,
    /// Views by name (`""` for main), loaded on first use.
    views: Mutex<BTreeMap<String, Arc<Vfs>>>,
    /// One index run at a time.
    indexing: tokio::sync::Mutex<()>,
    model: tokio::sync::OnceCell<Option<Arc<Model>>>,
}

impl LocalHost {
    /// Tools over `store` (main's handle).
    pub fn new(store: Store) -> LocalHost {
        LocalHost {
            store: Arc::new(store),
            views: Mutex::new(BTreeMap::new()),
            indexing: tokio::sync::Mutex::new(()),
            model: tokio::sync::OnceCell::new(),
        }
    }

    /// A view's store handle.
    async fn view_store(&self, session: Option<&str>) -> Result<Store, ToolError> {
        Ok(match session {
            Some(name) => self.store.session(&SessionName::parse(name)?).await?,
            None => self.store.with_main().await?,
        })
    }

    /// Writes every loaded view's pending changes.
    async fn flush(&self) -> Result<(), ToolError> {
        let views: Vec<Arc<Vfs>> = self.views.lock().unwrap().values().cloned().collect();
        for vfs in views {
            vfs.flush().await.map_err(|e| ToolError::new(e.to_string()))?;
        }
        Ok(())
    }

    /// Closes the store after flushing.
    pub async fn close(self) {
        if let Err(e) = self.flush().await {
            tracing::error!("flush at exit failed: {e}");
        }
        drop(self.views);
        if let Ok(store) = Arc::try_unwrap(self.store) {
            store.close().await;
        }
    }
}

impl Host for LocalHost {
    async fn vfs(&self, session: Option<&str>) -> Result<Arc<Vfs>, ToolError> {
        let key = session.unwrap_or_default().to_owned();
        if let Some(vfs) = self.views.lock().unwrap().get(&key) {
            return Ok(vfs.clone());
        }
        let store = Arc::new(self.view_store(session).await?);
        // SAFETY: getuid/getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let config = VfsConfig { uid, gid, read_only: false };
        let vfs =
            Arc::new(Vfs::load(store, config).await.map_err(|e| ToolError::new(e.to_string()))?);
        Ok(self.views.lock().unwrap().entry(key).or_insert(vfs).clone())
    }

    async fn changed(&self, _session: Option<&str>, _changes: Vec<Invalidation>) {
        if let Err(e) = self.flush().await {
            tracing::error!("flush after a tool's write failed: {e}");
        }
    }

    async fn graph(&self, query: &GraphQuery, session: Option<&str>) -> Result<Answer, ToolError> {
        self.flush().await?;
        let store = self.view_store(session).await?;
        {
            let _one = self.indexing.lock().await;
            crate::index::index_head(&store).await?;
        }
        Ok(crate::query::run(&store, query).await?)
    }

    async fn search(&self, search: &Search, session: Option<&str>) -> Result<Results, ToolError> {
        self.flush().await?;
        let store = self.view_store(session).await?;
        {
            let _one = self.indexing.lock().await;
            crate::search::update(&store).await?;
        }
        let model = self
            .model
            .get_or_init(|| async {
                tokio::task::spawn_blocking(|| crate::search::load_model().ok().map(Arc::new))
                    .await
                    .ok()
                    .flatten()
            })
            .await
            .clone();
        Ok(crate::search::search(&store, model.as_deref(), search).await?)
    }

    async fn session(&self, command: &Command) -> Result<Outcome, ToolError> {
        self.flush().await?;
        let outcome = crate::session::execute(&self.store, command).await?;
        // Views loaded before a merge or removal show the new heads.
        let views: Vec<Arc<Vfs>> = self.views.lock().unwrap().values().cloned().collect();
        for vfs in views {
            let _ = vfs.refresh().await;
        }
        if let Command::Remove { name, .. } = command {
            self.views.lock().unwrap().remove(name.as_str());
        }
        Ok(outcome)
    }
}
