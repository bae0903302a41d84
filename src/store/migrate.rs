//! Schema migrations: `migrations/NNNN_name.surql`, applied in order.
//!
//! Each migration runs in its own transaction together with the update of
//! the recorded version, so a store is always at exactly one version. A store
//! whose version is newer than the binary's is refused rather than guessed at.

use surrealdb::types::QueryError;

use super::client::Client;

use super::health::db_error;
use crate::error::{Error, Result};

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The schema version this binary writes.
pub const SCHEMA_VERSION: u64 = MIGRATIONS.len() as u64;

/// The version recorded in the store; 0 for a store never migrated.
pub async fn current_version(db: &Client) -> Result<u64> {
    let mut res = db
        .query("SELECT VALUE version FROM ONLY meta:schema")
        .await
        .map_err(|e| db_error("read the schema version", e))?;
    let version: Option<i64> = match res.take(0) {
        Ok(v) => v,
        // SurrealDB 3 refuses to read a table that was never defined: a
        // store that has not been migrated at all.
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(Error::Corrupt(format!("unreadable schema version: {e}"))),
    };
    Ok(version.unwrap_or(0).max(0) as u64)
}

/// Brings the store up to `SCHEMA_VERSION`. Returns the version found before.
///
/// On a server, a namespace or database another connection is defining at
/// the same moment (two stores' sessions of one name set up at once) can
/// make a migration fail as "does not exist"; it is tried again, from the
/// version the store has then.
pub async fn apply(db: &Client, allow_fresh: bool) -> Result<u64> {
    let mut tries = 0;
    loop {
        match apply_once(db, allow_fresh).await {
            // Up to ~15 s: on a loaded machine (two cores running the whole
            // core suite against one server, every test's session `s`
            // defining namespace `session_s` at once) ten tries of ~1 s in
            // all, then fifty of ~4.5 s, were seen to run out.
            Err(Error::Db {
                kind: crate::error::DbErrorKind::NotFound | crate::error::DbErrorKind::Conflict,
                ..
            }) if tries < 150 => {
                tries += 1;
                tracing::info!(tries, "a migration met a namespace being defined; again");
                tokio::time::sleep(std::time::Duration::from_millis((20 * tries).min(100))).await;
            }
            other => return other,
        }
    }
}

/// What a failed transaction's statements say: the statement that failed
/// (the others say only "not executed"), or, when every one says that, a
/// conflict: the commit itself lost a race (seen on a server whose
/// connections define namespaces at once), and the whole can run again.
fn transaction_error(
    context: String,
    errors: std::collections::HashMap<usize, surrealdb::Error>,
) -> Option<Error> {
    let mut errors: Vec<(usize, surrealdb::Error)> = errors.into_iter().collect();
    errors.sort_by_key(|(i, _)| *i);
    let not_executed = |e: &surrealdb::Error| e.query_details() == Some(&QueryError::NotExecuted);
    let all_not_executed = errors.iter().all(|(_, e)| not_executed(e));
    let (_, first) = match errors.iter().position(|(_, e)| !not_executed(e)) {
        Some(i) => errors.swap_remove(i),
        None => errors.into_iter().next()?,
    };
    Some(match db_error(context.clone(), first) {
        Error::Db { source, .. } if all_not_executed => {
            Error::Db { context, kind: crate::error::DbErrorKind::Conflict, source }
        }
        other => other,
    })
}

async fn apply_once(db: &Client, allow_fresh: bool) -> Result<u64> {
    let current = current_version(db).await?;
    if current > SCHEMA_VERSION {
        return Err(Error::TooNew { found: current, supported: SCHEMA_VERSION });
    }
    if current == 0 && !allow_fresh {
        return Ok(0);
    }
    for &(number, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let script = format!(
            "BEGIN TRANSACTION;\n{sql}\n;UPSERT meta:schema SET version = $version;\nCOMMIT TRANSACTION;"
        );
        let context = || format!("apply migration {name}");
        let mut response = db
            .query(script)
            .bind(("version", number as i64))
            .await
            .map_err(|e| db_error(context(), e))?;
        if let Some(e) = transaction_error(context(), response.take_errors()) {
            return Err(e);
        }
        tracing::info!(migration = name, "applied");
    }
    Ok(current)
}
