//! Writes that SurrealDB may refuse for a moment and take on a second try.
//!
//! SurrealDB compacts count and HNSW indexes on a background task
//! every few seconds, in transactions of its own. A write to an indexed
//! table (`search_unit`, `search_vec`) that touches the same index keys in
//! the same instant fails with a transaction conflict that "can be retried"
//! (surrealdb#7072, still so in 3.3.5): CI saw `write vectors` fail that
//! way. Such writes run through `retrying`, which tries them again after a
//! short wait. Only conflicts are retried; any other error returns at once.
//! What is retried must be idempotent: every caller's statements are
//! `UPSERT`s of whole rows, `INSERT IGNORE`s of rows just deleted,
//! `DELETE`s, guarded updates, or increments inside one transaction.

use std::time::Duration;

use surrealdb::types::QueryError;

use super::health::{self, db_error};
use crate::error::Result;

/// Tries after a conflict. The waits double from FIRST_WAIT: 5 ms to 1.3 s,
/// about 2.5 s in all, well past one compaction's transaction.
const ATTEMPTS: u32 = 10;
const FIRST_WAIT: Duration = Duration::from_millis(5);

/// Whether SurrealDB says the transaction lost a race and can be run again.
pub(crate) fn is_conflict(e: &surrealdb::Error) -> bool {
    e.query_details() == Some(&QueryError::TransactionConflict)
}

/// Runs `write` until it succeeds, fails otherwise than by a conflict, or
/// has conflicted ATTEMPTS times; errors are reported under `context`.
pub(crate) async fn retrying<T, F>(context: &str, write: impl FnMut() -> F) -> Result<T>
where
    F: Future<Output = surrealdb::Result<T>>,
{
    health::check_writable()?;
    retrying_after(FIRST_WAIT, context, write).await
}

async fn retrying_after<T, F>(
    mut wait: Duration,
    context: &str,
    mut write: impl FnMut() -> F,
) -> Result<T>
where
    F: Future<Output = surrealdb::Result<T>>,
{
    for attempt in 1.. {
        match write().await {
            Ok(v) => return Ok(v),
            Err(e) if is_conflict(&e) && attempt < ATTEMPTS => {
                tracing::debug!(context, attempt, "write conflict, trying again: {e}");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => return Err(db_error(context, e)),
        }
    }
    unreachable!("the loop returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUICK: Duration = Duration::from_micros(10);

    fn conflict() -> surrealdb::Error {
        surrealdb::Error::query("Write conflict".into(), QueryError::TransactionConflict)
    }

    #[tokio::test]
    async fn conflicts_are_tried_again_other_errors_are_not() {
        let mut calls = 0;
        let got = retrying_after(QUICK, "w", || {
            calls += 1;
            let n = calls;
            async move { if n < 3 { Err(conflict()) } else { Ok(n) } }
        })
        .await;
        assert_eq!(got.unwrap(), 3);

        let mut calls = 0;
        let got: Result<()> = retrying_after(QUICK, "w", || {
            calls += 1;
            async { Err(surrealdb::Error::internal("disk full".into())) }
        })
        .await;
        assert_eq!(calls, 1);
        assert!(got.unwrap_err().to_string().contains("disk full"));

        let mut calls = 0;
        let got: Result<()> = retrying_after(QUICK, "write vectors", || {
            calls += 1;
            async { Err(conflict()) }
        })
        .await;
        assert_eq!(calls, ATTEMPTS);
        let e = got.unwrap_err().to_string();
        assert!(e.contains("write vectors") && e.contains("Write conflict"), "{e}");
    }
}
