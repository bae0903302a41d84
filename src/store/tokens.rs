//! Bearer tokens of the MCP HTTP server, in main's namespace: a token's
//! public id, the hash of its secret and its scope. The secret itself is
//! never stored ([`crate::token`] makes and checks tokens).

use surrealdb::types::{RecordId, SurrealValue};

use super::Store;
use super::health::{self, db_error};
use crate::error::Result;

/// A token as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    /// The public part of the token (also shown by `cortex token list`).
    pub id: String,
    /// Hex BLAKE3 of the whole token.
    pub hash: String,
    /// The session it reaches; `None`: main.
    pub session: Option<String>,
    pub read_only: bool,
    pub merge: bool,
    pub created: chrono::DateTime<chrono::Utc>,
}

#[derive(SurrealValue)]
struct Row {
    id: RecordId,
    hash: String,
    session: Option<String>,
    read_only: bool,
    merge: bool,
    created: chrono::DateTime<chrono::Utc>,
}

#[derive(SurrealValue)]
struct NewRow {
    hash: String,
    session: Option<String>,
    read_only: bool,
    merge: bool,
}

fn row_of(row: Row) -> Result<TokenRow> {
    Ok(TokenRow {
        id: super::graph::key_string(&row.id)?,
        hash: row.hash,
        session: row.session,
        read_only: row.read_only,
        merge: row.merge,
        created: row.created,
    })
}

/// The token table: a facet of [`Store`], from [`Store::tokens`].
#[derive(Clone, Copy, Debug)]
pub struct Tokens<'a> {
    pub(super) store: &'a Store,
}

impl Tokens<'_> {
    /// Records a token (its id, hash and scope).
    pub async fn create(self, token: &TokenRow) -> Result<()> {
        health::check_writable()?;
        let main = self.store.with_main().await?;
        let row = NewRow {
            hash: token.hash.clone(),
            session: token.session.clone(),
            read_only: token.read_only,
            merge: token.merge,
        };
        main.db()
            .await?
            .query("CREATE type::record('token', $id) CONTENT $row RETURN NONE")
            .bind(("id", token.id.clone()))
            .bind(("row", row))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error("record a token", e))?;
        Ok(())
    }

    /// The token with public id `id`, if there is one.
    pub async fn get(self, id: &str) -> Result<Option<TokenRow>> {
        let main = self.store.with_main().await?;
        let mut res = main
            .db()
            .await?
            .query("SELECT * FROM ONLY type::record('token', $id)")
            .bind(("id", id.to_owned()))
            .await
            .map_err(|e| db_error("read a token", e))?;
        let row: Option<Row> = res.take(0).map_err(|e| db_error("read a token", e))?;
        row.map(row_of).transpose()
    }

    /// Every token, oldest first.
    pub async fn list(self) -> Result<Vec<TokenRow>> {
        let main = self.store.with_main().await?;
        let mut res = main
            .db()
            .await?
            .query("SELECT * FROM token ORDER BY created, id")
            .await
            .map_err(|e| db_error("read the tokens", e))?;
        let rows: Vec<Row> = res.take(0).map_err(|e| db_error("read the tokens", e))?;
        rows.into_iter().map(row_of).collect()
    }

    /// Removes the token with public id `id`; false if there was none.
    pub async fn revoke(self, id: &str) -> Result<bool> {
        health::check_writable()?;
        let main = self.store.with_main().await?;
        let mut res = main
            .db()
            .await?
            .query("DELETE type::record('token', $id) RETURN BEFORE")
            .bind(("id", id.to_owned()))
            .await
            .map_err(|e| db_error("revoke a token", e))?;
        let gone: Vec<Row> = res.take(0).map_err(|e| db_error("revoke a token", e))?;
        Ok(!gone.is_empty())
    }
}
