//! Schema migrations: `migrations/NNNN_name.surql`, applied in order.
//!
//! Each migration runs in its own transaction together with the update of
//! the recorded version, so a store is always at exactly one version. A store
//! whose version is newer than the binary's is refused rather than guessed at.

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
            // Up to ~4 s: on a loaded machine (two cores running the whole
            // suite) ten tries of ~1 s in all were seen to run out.
            Err(Error::Db { kind: crate::error::DbErrorKind::NotFound, .. }) if tries < 50 => {
                tries += 1;
                tracing::info!(tries, "a migration met a namespace being defined; again");
                tokio::time::sleep(std::time::Duration::from_millis((20 * tries).min(100))).await;
            }
            other => return other,
        }
    }
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
        db.query(script)
            .bind(("version", number as i64))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error(format!("apply migration {name}"), e))?;
        tracing::info!(migration = name, "applied");
    }
    Ok(current)
}
