//! The connection to SurrealDB that every view's handle shares, and its
//! reopening in place once a failed store has room again.
//!
//! A view reads and writes through a client bound to its namespace; the
//! clients of one connection are kept here, one per namespace in use, and a
//! handle asks for its own at each query ([`Connection::client`]). That is
//! what lets the daemon recover from a full disk without unmounting
//! (issue 14): [`Connection::reopen`] closes the engine (its torn log tail
//! is cut by the same check an open runs), opens it again and hands every
//! handle a client of the new engine, while the mounts keep their unsaved
//! writes in memory and flush them afterwards. Queries asked for meanwhile
//! wait for the reopen.

use std::collections::HashMap;
use std::sync::Arc;

use super::client::Client;
use super::health::db_error;
use super::lock::StoreLock;
use super::{DATABASE, MAIN_NS, StoreLocation, check, health};
use crate::error::{Error, Result};

/// The engine's clients, one per namespace, all sharing one engine.
pub(super) struct Connection {
    location: StoreLocation,
    /// The database every namespace's client uses (`StoreLocation::database`).
    database: String,
    /// This process's lock on an embedded store (held across reopens).
    _lock: Option<StoreLock>,
    clients: tokio::sync::RwLock<Clients>,
}

struct Clients {
    /// By namespace; main's is always there while the engine is open.
    by_ns: HashMap<String, Arc<Client>>,
    /// False after a reopen that could not open the engine again.
    open: bool,
}

/// How long a reopen waits for the old engine to let go of its files
/// (queries still running hold it).
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Connection {
    /// A connection whose engine `main` is a client of, bound to main's
    /// namespace.
    pub(super) fn new(
        location: StoreLocation,
        main: Client,
        lock: Option<StoreLock>,
    ) -> Connection {
        let by_ns = HashMap::from([(MAIN_NS.to_owned(), Arc::new(main))]);
        Connection {
            database: location.database().to_owned(),
            location,
            _lock: lock,
            clients: tokio::sync::RwLock::new(Clients { by_ns, open: true }),
        }
    }

    pub(super) fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// The client of namespace `ns`, made on first use. Waits while the
    /// engine is being reopened.
    pub(super) async fn client(&self, ns: &str) -> Result<Arc<Client>> {
        {
            let clients = self.clients.read().await;
            if let Some(client) = clients.by_ns.get(ns) {
                return Ok(client.clone());
            }
            if !clients.open {
                return Err(closed());
            }
        }
        let mut clients = self.clients.write().await;
        if let Some(client) = clients.by_ns.get(ns) {
            return Ok(client.clone());
        }
        let main = clients.by_ns.get(MAIN_NS).ok_or_else(closed)?;
        let client = Arc::new(bind(main, ns, &self.database).await?);
        clients.by_ns.insert(ns.to_owned(), client.clone());
        Ok(client)
    }

    /// Drops the client of a namespace that was removed (never main's).
    pub(super) async fn forget(&self, ns: &str) {
        if ns != MAIN_NS {
            self.clients.write().await.by_ns.remove(ns);
        }
    }

    /// Closes the engine and opens it again, for a store whose writes
    /// stopped (`health`): the engine's log may end in a torn record, after
    /// which nothing may be appended, so the old engine goes, the tear is cut
    /// as at any open, and a new engine takes over. On success writes are
    /// allowed again. Only for an embedded store.
    pub(super) async fn reopen(&self) -> Result<()> {
        let StoreLocation::Embedded(dir) = &self.location else {
            return Err(Error::InvalidInput("only an embedded store is reopened".into()));
        };
        let kv = dir.join("store");
        let mut clients = self.clients.write().await;
        let namespaces: Vec<String> = clients.by_ns.keys().cloned().collect();
        clients.by_ns.clear();
        clients.open = false;
        // The engine closes once its last client is gone, queries still
        // running included.
        let engine_lock = kv.join("LOCK");
        let deadline = std::time::Instant::now() + CLOSE_WAIT;
        while !super::lock::is_free(&engine_lock) {
            if std::time::Instant::now() > deadline {
                tracing::warn!("queries still hold the failed store; it is reopened later");
                return Err(closed());
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        check::before_open(&kv, check::Tail::Cut)?;
        let main = super::connect_embedded(&kv, &crate::memory::Budget::current()).await?;
        main.use_ns(MAIN_NS, DATABASE)
            .await
            .map_err(|e| db_error("select the main namespace", e))?;
        let mut by_ns = HashMap::new();
        for ns in namespaces.iter().filter(|ns| ns.as_str() != MAIN_NS) {
            by_ns.insert(ns.clone(), Arc::new(bind(&main, ns, &self.database).await?));
        }
        by_ns.insert(MAIN_NS.to_owned(), Arc::new(main));
        *clients = Clients { by_ns, open: true };
        health::clear();
        Ok(())
    }

    /// Closes the engine and, for an embedded store, waits until it has let
    /// go of its files, so that another process can open it at once.
    pub(super) async fn close(self) {
        let Connection { location, _lock, clients, .. } = self;
        drop(clients);
        if let StoreLocation::Embedded(dir) = &location {
            let engine_lock = dir.join("store").join("LOCK");
            for _ in 0..1000 {
                if super::lock::is_free(&engine_lock) {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        drop(_lock);
    }
}

/// A new client of `main`'s engine, bound to namespace `ns`.
async fn bind(main: &Client, ns: &str, database: &str) -> Result<Client> {
    let client = main.clone();
    client.use_ns(ns, database).await.map_err(|e| db_error(format!("select namespace {ns}"), e))?;
    Ok(client)
}

fn closed() -> Error {
    Error::StoreFailed(health::failure().unwrap_or_else(|| health::Failure {
        reason: "the store could not be opened again after a failure".into(),
        no_space: false,
    }))
}
