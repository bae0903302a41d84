//! A handle on the engine: an embedded datastore this process built itself,
//! or a SurrealDB server reached over the network.
//!
//! The two are different types to the SDK (`Surreal<Db>`, `Surreal<Any>`):
//! an embedded engine is built here, not by the SDK's `connect`, because
//! only a datastore built by hand takes the memory budget (`crate::memory`)
//! for SurrealKV's block cache and memtable; `connect` gives the block cache
//! half the machine's RAM. The store asks both the same two things, a query
//! with its bindings and a namespace to work in, so one enum serves.

use std::borrow::Cow;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use surrealdb::engine::any::Any;
use surrealdb::engine::local::Db;
use surrealdb::method::IntoVariables;
use surrealdb::{IndexedResults, Surreal};

use crate::memory::Budget;

/// Values up to this size stay in SurrealKV's tables (see `open_local`):
/// larger than any value Cortex writes (contents are chunked at 1 MiB).
const INLINE_VALUES: u64 = 1 << 30;

/// A client of one engine, bound to a namespace once `use_ns` has run.
#[derive(Clone)]
pub(crate) enum Client {
    Local(Surreal<Db>),
    Remote(Surreal<Any>),
}

/// A query being put together; awaiting it runs it.
pub(crate) enum Query<'c> {
    Local(surrealdb::method::Query<'c, Db>),
    Remote(surrealdb::method::Query<'c, Any>),
}

impl Client {
    pub(crate) fn query<'c>(&'c self, sql: impl Into<Cow<'c, str>>) -> Query<'c> {
        match self {
            Client::Local(db) => Query::Local(db.query(sql)),
            Client::Remote(db) => Query::Remote(db.query(sql)),
        }
    }

    /// Binds this client to namespace `ns` and database `database`.
    pub(crate) async fn use_ns(&self, ns: &str, database: &str) -> surrealdb::Result<()> {
        match self {
            Client::Local(db) => db.use_ns(ns.to_owned()).use_db(database.to_owned()).await?,
            Client::Remote(db) => db.use_ns(ns.to_owned()).use_db(database.to_owned()).await?,
        };
        Ok(())
    }
}

impl Query<'_> {
    pub(crate) fn bind(self, vars: impl IntoVariables) -> Self {
        match self {
            Query::Local(q) => Query::Local(q.bind(vars)),
            Query::Remote(q) => Query::Remote(q.bind(vars)),
        }
    }
}

impl<'c> IntoFuture for Query<'c> {
    type Output = surrealdb::Result<IndexedResults>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'c>>;

    fn into_future(self) -> Self::IntoFuture {
        match self {
            Query::Local(q) => q.into_future(),
            // A server that went away must not hang a mount's reads: the
            // query fails after `remote_timeout` (the SDK would wait for
            // its reconnection forever).
            Query::Remote(q) => Box::pin(async move {
                let limit = remote_timeout();
                tokio::time::timeout(limit, q.into_future()).await.unwrap_or_else(|_| {
                    Err(surrealdb::Error::connection(
                        format!("the SurrealDB server did not answer within {}s", limit.as_secs()),
                        None,
                    ))
                })
            }),
        }
    }
}

/// How long a query on a server may take: `CORTEX_DB_TIMEOUT` seconds,
/// default 30.
fn remote_timeout() -> std::time::Duration {
    let secs = std::env::var("CORTEX_DB_TIMEOUT").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    std::time::Duration::from_secs(secs)
}

/// Builds an embedded datastore at `path` (`surrealkv://DIR` or `memory`)
/// with SurrealKV's caches sized by `budget`, as the SDK's own `connect`
/// would otherwise build it: version checked, bootstrapped, then its
/// maintenance tasks started.
pub(crate) async fn open_local(
    path: &str,
    budget: &Budget,
) -> std::result::Result<Client, Box<dyn std::error::Error + Send + Sync>> {
    use surrealdb_cnf::ConfigMap;
    let config = ConfigMap::empty()
        // A commit returns once it is on disk (commits are grouped).
        .with_key_value("datastore_sync", "every")
        .with_key_value("surrealkv_block_cache_capacity", budget.block_cache.to_string())
        .with_key_value("surrealkv_max_memtable_size", budget.memtable.to_string())
        // Every value kept in the tables, none moved to the value log.
        // SurrealKV 0.21 frees a value-log file only once no table refers
        // to any value in it, and never moves the live values out: a file
        // holding one blob written at import keeps every stale copy of the
        // graph's and the full-text index's rewritten values beside it, so
        // the log only grew (6.9 GB for 353 MB of source). In the tables,
        // compaction drops a rewritten value's old copies. A log written
        // by an earlier version is still read.
        .with_key_value("surrealkv_vlog_threshold", INLINE_VALUES.to_string());
    let datastore = surrealdb_core::kvs::Datastore::builder()
        .with_config(config)
        .without_maintenance_tasks()
        .build_with_path(path)
        .await?;
    datastore.check_version().await?;
    datastore.bootstrap().await?;
    datastore.start_maintenance_tasks();
    let db = Surreal::<Db>::unstable_from_datastore(Arc::clone(&datastore), None).await?;
    Ok(Client::Local(db))
}
