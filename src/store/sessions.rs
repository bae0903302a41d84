//! Sessions: copy-on-write views of main, each in its own namespace.
//!
//! Forking records the base (a snapshot of main or of another session, and
//! its root tree) in main's `session` table and gives the session's
//! namespace a first snapshot whose root is that same tree: nothing is
//! copied, whatever the size of the tree. From then on the session's
//! writes make new trees for the directories they touch (contents and
//! trees are shared by hash), and its head moves in its own namespace.

use surrealdb::types::{RecordId, SurrealValue};

use super::health::{self, db_error};
use super::{Store, View, migrate};
use crate::error::{DbErrorKind, Error, Result};
use crate::ids::{ContentHash, SessionName, SnapshotId};
use crate::merge::{ConflictKind, ConflictRecord, Merge};

/// A session as the registry has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub name: SessionName,
    /// The view it was forked from: `main` or a session's name.
    pub origin: String,
    /// The origin's snapshot it was forked at, and that snapshot's root.
    pub base_snapshot: u64,
    pub base_root: ContentHash,
    pub created: chrono::DateTime<chrono::Utc>,
}

#[derive(SurrealValue)]
struct SessionRow {
    id: RecordId,
    origin: String,
    base_snapshot: i64,
    base_root: String,
    created: chrono::DateTime<chrono::Utc>,
}

#[derive(SurrealValue)]
struct NewSessionRow {
    origin: String,
    base_snapshot: i64,
    base_root: String,
}

fn info_of(row: SessionRow) -> Result<SessionInfo> {
    Ok(SessionInfo {
        name: SessionName::parse(&super::graph::key_string(&row.id)?)
            .map_err(|e| Error::Corrupt(format!("the session registry holds {e}")))?,
        origin: row.origin,
        base_snapshot: row.base_snapshot.max(0) as u64,
        base_root: ContentHash::from_hex(&row.base_root)?,
        created: row.created,
    })
}

/// The session registry (in main's namespace): forking, listing, removing and rebasing sessions,
/// their conflicts and claims: a facet of [`Store`], from [`Store::sessions`].
#[derive(Clone, Copy, Debug)]
pub struct Sessions<'a> {
    pub(super) store: &'a Store,
}

impl Sessions<'_> {
    /// Forks a session named `name` from `origin` (main or a session) at
    /// its current head. Constant time: nothing is copied.
    pub async fn create_session(self, name: &SessionName, origin: &View) -> Result<SessionInfo> {
        health::check_writable()?;
        let main = self.store.with_main().await?;
        let from = match origin {
            View::Main => main.history().head().await?,
            View::Session(o) => main.sessions().session(o).await?.history().head().await?,
        };
        let row = NewSessionRow {
            origin: origin.name().to_owned(),
            base_snapshot: from.id.0 as i64,
            base_root: from.root.to_hex(),
        };
        let res = main
            .db()
            .await?
            .query("CREATE type::record('session', $name) CONTENT $row RETURN NONE")
            .bind(("name", name.to_string()))
            .bind(("row", row))
            .await
            .and_then(|r| r.check());
        match res.map_err(|e| db_error(format!("create session {name}"), e)) {
            Err(Error::Db { kind: DbErrorKind::AlreadyExists, .. }) => {
                return Err(Error::InvalidInput(format!("session {name} exists already")));
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        // Its namespace gets its schema and first snapshot when first
        // opened (`session`): forking is this one record.
        main.sessions().session_info(name).await
    }

    /// The registry's record of a session.
    pub async fn session_info(self, name: &SessionName) -> Result<SessionInfo> {
        let main = self.store.with_main().await?;
        let mut res = main
            .db()
            .await?
            .query("SELECT * FROM ONLY type::record('session', $name)")
            .bind(("name", name.to_string()))
            .await
            .map_err(|e| db_error("read the session registry", e))?;
        let row: Option<SessionRow> =
            res.take(0).map_err(|e| db_error("read the session registry", e))?;
        info_of(row.ok_or_else(|| {
            Error::InvalidInput(format!(
                "no session named {name}; `cortex session list` shows them, `cortex session new {name}` makes it"
            ))
        })?)
    }

    /// Every session, by name.
    pub async fn list(self) -> Result<Vec<SessionInfo>> {
        let main = self.store.with_main().await?;
        let mut res = main
            .db()
            .await?
            .query("SELECT * FROM session ORDER BY id")
            .await
            .map_err(|e| db_error("read the session registry", e))?;
        let rows: Vec<SessionRow> =
            res.take(0).map_err(|e| db_error("read the session registry", e))?;
        rows.into_iter().map(info_of).collect()
    }

    /// The root of a session's head, read without setting the session up
    /// (what `session` does on first use): a session never used yet, its
    /// namespace empty, is at its base. Listing a thousand sessions so
    /// costs a read each, not a schema each.
    pub async fn head_root(self, info: &SessionInfo) -> Result<ContentHash> {
        let view = self.store.with_view(View::Session(info.name.clone())).await?;
        let db = view.db().await?;
        let context = || format!("read the head of session {}", info.name);
        let mut res = db
            .query("SELECT VALUE snapshot FROM ONLY ref:main")
            .await
            .map_err(|e| db_error(context(), e))?;
        let head: Option<i64> = match res.take(0) {
            Ok(head) => head,
            // SurrealDB 3 refuses to read a table never defined: a session
            // whose namespace was never set up.
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(db_error(context(), e)),
        };
        let Some(head) = head else { return Ok(info.base_root) };
        let mut res = db
            .query("SELECT VALUE root FROM ONLY type::record('snapshot', $id)")
            .bind(("id", head))
            .await
            .map_err(|e| db_error(context(), e))?;
        let root: Option<String> = res.take(0).map_err(|e| db_error(context(), e))?;
        let root = root.ok_or_else(|| {
            Error::Corrupt(format!("session {}'s head names a missing snapshot", info.name))
        })?;
        ContentHash::from_hex(&root)
    }

    /// A handle on the session `name`, its namespace brought to the current
    /// schema and given its first snapshot if it has none yet (a fork cut
    /// short finishes here).
    pub async fn session(self, name: &SessionName) -> Result<Store> {
        let info = self.session_info(name).await?;
        let store = self.store.with_view(View::Session(name.clone())).await?;
        migrate::apply(&*store.db().await?, true).await?;
        store
            .history()
            .ensure_head_at(info.base_root, "fork", &format!("forked from {}", info.origin))
            .await?;
        Ok(store)
    }

    /// Removes a session: its registry record, then its namespace. Its
    /// contents stay (they may be shared).
    pub async fn remove_session(self, name: &SessionName) -> Result<()> {
        health::check_writable()?;
        self.session_info(name).await?;
        let main = self.store.with_main().await?;
        main.db()
            .await?
            .query("DELETE type::record('session', $name); DELETE claim WHERE session = $name; DELETE token WHERE session = $name;")
            .bind(("name", name.to_string()))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error(format!("remove session {name}"), e))?;
        // A namespace is an identifier, not a value: a SessionName is
        // [a-z0-9][a-z0-9_-]*, so it cannot carry SurrealQL.
        // Only this store's database in it: on a server, other stores'
        // sessions of the same name share the namespace.
        let ns = super::namespace_of(&View::Session(name.clone()));
        let database = self.store.location().database().to_owned(); // checked: [A-Za-z0-9_-]
        let session = self.store.with_view(View::Session(name.clone())).await?;
        session
            .db()
            .await?
            .query(format!("REMOVE DATABASE IF EXISTS `{database}`"))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error(format!("remove the namespace of session {name}"), e))?;
        // Its client names a namespace that is gone: a session made again
        // under the name gets a new one.
        self.store.conn.forget(&ns).await;
        Ok(())
    }
}

/// A conflict as its row holds it (`merge::ConflictRecord` outside).
#[derive(SurrealValue)]
struct ConflictRow {
    path: String,
    unit: String,
    kind: String,
    base: Option<String>,
    ours: Option<String>,
    theirs: Option<String>,
    main_hash: Option<String>,
    session_hash: Option<String>,
}

impl ConflictRow {
    fn of(c: ConflictRecord) -> ConflictRow {
        ConflictRow {
            path: c.path,
            unit: c.unit,
            kind: c.kind.as_str().to_owned(),
            base: c.sides.base,
            ours: c.sides.ours,
            theirs: c.sides.theirs,
            main_hash: c.main_hash,
            session_hash: c.session_hash,
        }
    }

    fn record(self) -> Result<ConflictRecord> {
        let kind = ConflictKind::parse(&self.kind).ok_or_else(|| {
            Error::Corrupt(format!("a conflict of an unknown kind {:?}", self.kind))
        })?;
        Ok(ConflictRecord {
            path: self.path,
            unit: self.unit,
            kind,
            sides: Merge { base: self.base, ours: self.ours, theirs: self.theirs },
            main_hash: self.main_hash,
            session_hash: self.session_hash,
        })
    }
}

impl Sessions<'_> {
    /// Replaces this session's conflicts.
    pub async fn set_conflicts(self, conflicts: Vec<ConflictRecord>) -> Result<()> {
        health::check_writable()?;
        self.store.db().await?
            .query("BEGIN TRANSACTION; DELETE conflict; INSERT INTO conflict $rows RETURN NONE; COMMIT TRANSACTION;")
            .bind(("rows", conflicts.into_iter().map(ConflictRow::of).collect::<Vec<_>>()))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error("record the session's conflicts", e))?;
        Ok(())
    }

    /// This session's conflicts from its last merge attempt.
    pub async fn conflicts(self) -> Result<Vec<ConflictRecord>> {
        let mut res = self
            .store
            .db()
            .await?
            .query(
                "SELECT path, unit, kind, base, ours, theirs, main_hash, session_hash \
                 FROM conflict ORDER BY path, unit",
            )
            .await
            .map_err(|e| db_error("read the session's conflicts", e))?;
        let rows: Vec<ConflictRow> =
            res.take(0).map_err(|e| db_error("read the session's conflicts", e))?;
        rows.into_iter().map(ConflictRow::record).collect()
    }

    /// Moves a session's base (after a merge that keeps it): it now starts
    /// from main's snapshot `base` with root `root`.
    pub async fn rebase_session(
        self,
        name: &SessionName,
        base: SnapshotId,
        root: ContentHash,
    ) -> Result<()> {
        health::check_writable()?;
        let main = self.store.with_main().await?;
        main.db().await?
            .query("UPDATE type::record('session', $name) SET base_snapshot = $base, base_root = $root, origin = 'main'")
            .bind(("name", name.to_string()))
            .bind(("base", base.0 as i64))
            .bind(("root", root.to_hex()))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error(format!("rebase session {name}"), e))?;
        Ok(())
    }
}

/// An advisory claim: a session working on a file or a unit.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, SurrealValue)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Claim {
    pub session: String,
    pub target: String,
}

impl Sessions<'_> {
    /// Claims `targets` for session `name`. A target another session holds
    /// is refused, naming the holder, and nothing is claimed.
    pub async fn claim(self, name: &SessionName, targets: &[String]) -> Result<()> {
        health::check_writable()?;
        self.session_info(name).await?;
        let held: Vec<Claim> = self
            .store
            .sessions()
            .claims()
            .await?
            .into_iter()
            .filter(|c| c.session != name.as_str() && targets.contains(&c.target))
            .collect();
        if let Some(c) = held.first() {
            return Err(Error::InvalidInput(format!(
                "{} is claimed by session {}; ask it to release it (`cortex release {} {}`) or work on something else",
                c.target, c.session, c.session, c.target
            )));
        }
        let main = self.store.with_main().await?;
        let rows: Vec<Claim> = targets
            .iter()
            .map(|t| Claim { session: name.to_string(), target: t.clone() })
            .collect();
        main.db().await?
            .query("FOR $c IN $rows { UPSERT type::record('claim', [$c.target, $c.session]) CONTENT $c RETURN NONE; }")
            .bind(("rows", rows))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error("record claims", e))?;
        Ok(())
    }

    /// Releases the session's claims on `targets`, or all of them.
    pub async fn release(self, name: &SessionName, targets: &[String]) -> Result<usize> {
        health::check_writable()?;
        let mine: Vec<Claim> = self
            .store
            .sessions()
            .claims()
            .await?
            .into_iter()
            .filter(|c| {
                c.session == name.as_str() && (targets.is_empty() || targets.contains(&c.target))
            })
            .collect();
        let ids: Vec<RecordId> = mine
            .iter()
            .map(|c| {
                let key = surrealdb::types::Array::from(vec![
                    c.target.clone().into_value(),
                    c.session.clone().into_value(),
                ]);
                RecordId::new("claim", surrealdb::types::RecordIdKey::Array(key))
            })
            .collect();
        let main = self.store.with_main().await?;
        main.db()
            .await?
            .query("DELETE $ids")
            .bind(("ids", ids))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error("release claims", e))?;
        Ok(mine.len())
    }

    /// Every claim, by target.
    pub async fn claims(self) -> Result<Vec<Claim>> {
        let main = self.store.with_main().await?;
        let mut res = main
            .db()
            .await?
            .query("SELECT session, target FROM claim ORDER BY target, session")
            .await
            .map_err(|e| db_error("read claims", e))?;
        res.take(0).map_err(|e| db_error("read claims", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> SessionName {
        SessionName::parse(s).unwrap()
    }

    /// Listing reads each session's head where it is, and sets nothing up
    /// (nor do `diff` and `who`):
    /// a session's namespace gets its schema on first use, not on a list.
    #[tokio::test]
    async fn listing_sessions_sets_none_of_them_up() {
        let store = Store::memory().await.unwrap();
        for s in ["a", "b"] {
            store.sessions().create_session(&name(s), &View::Main).await.unwrap();
        }
        // One of them used: its namespace set up, its head its own.
        let used = store.sessions().session(&name("b")).await.unwrap();
        assert!(used.schema_version().await.unwrap() > 0);

        let listed = crate::session::list(&store).await.unwrap();
        let names: Vec<&str> = listed.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(listed.iter().all(|s| s.changed_files == 0), "{listed:?}");
        // Nor does a diff, or `who` (a diff of every session).
        assert!(crate::session::diff(&store, &name("a"), true).await.unwrap().is_empty());
        assert!(crate::session::who(&store, None).await.unwrap().editing.is_empty());
        let unused = store.with_view(View::Session(name("a"))).await.unwrap();
        assert_eq!(unused.schema_version().await.unwrap(), 0, "listing set session a up");
        let info = store.sessions().session_info(&name("a")).await.unwrap();
        assert_eq!(store.sessions().head_root(&info).await.unwrap(), info.base_root);
    }
}
