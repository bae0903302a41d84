//! Main's history: numbered snapshots, the head, and the journal.
//!
//! A snapshot is immutable: its root tree plus a summary of what changed from
//! its parent. `ref:main` names the head. A commit creates the next snapshot,
//! moves the head and appends the journal in one transaction that first
//! checks the head is still the parent the change was prepared against.

use surrealdb::types::{Array, Bytes, RecordId, RecordIdKey, SurrealValue};

use super::Store;
use super::health::{self, db_error};
use crate::error::{Error, Result};
use crate::ids::{ContentHash, SnapshotId};
use crate::tree::Tree;

/// A snapshot of main as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub id: SnapshotId,
    pub parent: Option<SnapshotId>,
    pub root: ContentHash,
    pub time: chrono::DateTime<chrono::Utc>,
    /// What made it: "init", "import", "mount", "merge".
    pub source: String,
    pub message: String,
    pub files: u64,
    pub bytes: u64,
    pub added: u64,
    pub modified: u64,
    pub deleted: u64,
}

/// What a path's change was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChangeOp {
    Add,
    Modify,
    Delete,
}

impl ChangeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Add => "add",
            ChangeOp::Modify => "modify",
            ChangeOp::Delete => "delete",
        }
    }
}

/// One path changed by a snapshot (files and symlinks; directories follow).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Change {
    pub op: ChangeOp,
    /// Path from the tree's root, `/`-separated, arbitrary bytes.
    pub path: Vec<u8>,
}

/// A snapshot to commit on top of `parent`.
#[derive(Clone, Debug)]
pub struct NewSnapshot {
    pub parent: SnapshotId,
    pub root: ContentHash,
    pub source: String,
    pub message: String,
    pub files: u64,
    pub bytes: u64,
    pub changes: Vec<Change>,
}

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    pub session: String,
    pub seq: u64,
    pub op: String,
    pub path: Vec<u8>,
    pub time: chrono::DateTime<chrono::Utc>,
    pub snapshot: SnapshotId,
}

#[derive(SurrealValue)]
struct SnapshotRow {
    id: RecordId,
    parent: Option<i64>,
    root: String,
    time: chrono::DateTime<chrono::Utc>,
    source: String,
    message: String,
    files: i64,
    bytes: i64,
    added: i64,
    modified: i64,
    deleted: i64,
}

#[derive(Clone, SurrealValue)]
struct NewSnapshotRow {
    parent: Option<i64>,
    root: String,
    source: String,
    message: String,
    files: i64,
    bytes: i64,
    added: i64,
    modified: i64,
    deleted: i64,
}

#[derive(SurrealValue)]
struct JournalRow {
    id: RecordId,
    op: String,
    path: String,
    raw_path: Option<Bytes>,
    snapshot: i64,
}

#[derive(SurrealValue)]
struct JournalReadRow {
    id: RecordId,
    op: String,
    path: String,
    raw_path: Option<Bytes>,
    time: chrono::DateTime<chrono::Utc>,
    snapshot: i64,
}

fn journal_id(session: &str, seq: u64) -> RecordId {
    let key = Array::from(vec![session.to_owned().into_value(), (seq as i64).into_value()]);
    RecordId::new("journal", RecordIdKey::Array(key))
}

/// Tries of a commit that the store refused as a conflicting transaction
/// while main stayed where it was.
const COMMIT_ATTEMPTS: u32 = 10;

/// The error that failed a transaction, if one did, and whether the store
/// refused it as conflicting with another. Every statement of a failed
/// transaction reports an error; the one that matters is the one that is
/// not "not executed due to a failed transaction".
fn transaction_error(mut res: surrealdb::IndexedResults) -> Option<(surrealdb::Error, bool)> {
    let mut errors: Vec<(usize, surrealdb::Error)> = res.take_errors().into_iter().collect();
    if errors.is_empty() {
        return None;
    }
    errors.sort_by_key(|(i, _)| *i);
    let conflict = errors.iter().any(|(_, e)| super::retry::is_conflict(e));
    let cause =
        errors.iter().position(|(_, e)| !e.to_string().contains("failed transaction")).unwrap_or(0);
    Some((errors.swap_remove(cause).1, conflict))
}

fn snapshot_of(row: SnapshotRow) -> Result<Snapshot> {
    let RecordIdKey::Number(id) = row.id.key else {
        return Err(Error::Corrupt("snapshot with a non-numeric id".into()));
    };
    Ok(Snapshot {
        id: SnapshotId(id as u64),
        parent: row.parent.map(|p| SnapshotId(p as u64)),
        root: ContentHash::from_hex(&row.root)?,
        time: row.time,
        source: row.source,
        message: row.message,
        files: row.files as u64,
        bytes: row.bytes as u64,
        added: row.added as u64,
        modified: row.modified as u64,
        deleted: row.deleted as u64,
    })
}

/// A view's snapshots: its head, the snapshots before it, the journal, and the one way to move the
/// head (`commit`): a facet of [`Store`], from [`Store::history`].
#[derive(Clone, Copy, Debug)]
pub struct History<'a> {
    pub(super) store: &'a Store,
}

impl History<'_> {
    /// Creates snapshot 0 (the empty tree) and the head, once.
    pub(super) async fn ensure_head(self) -> Result<()> {
        let empty = Tree::default();
        self.store.objects().put_trees(vec![(empty.hash(), empty.encode())]).await?;
        self.ensure_head_at(empty.hash(), "init", "empty tree").await
    }

    /// Gives this view a first snapshot with root `root` if it has no head.
    pub(super) async fn ensure_head_at(
        self,
        root: ContentHash,
        source: &str,
        message: &str,
    ) -> Result<()> {
        health::check_writable()?;
        let mut res = self
            .store
            .db()
            .await?
            .query("SELECT VALUE snapshot FROM ONLY ref:main")
            .await
            .map_err(|e| db_error("read main's head", e))?;
        let head: Option<i64> = res.take(0).map_err(|e| db_error("read main's head", e))?;
        if head.is_some() {
            return Ok(());
        }
        let row = NewSnapshotRow {
            parent: None,
            root: root.to_hex(),
            source: source.into(),
            message: message.into(),
            files: 0,
            bytes: 0,
            added: 0,
            modified: 0,
            deleted: 0,
        };
        self.store
            .db()
            .await?
            .query(
                "BEGIN TRANSACTION;
                 CREATE snapshot:0 CONTENT $row RETURN NONE;
                 CREATE ref:main SET snapshot = 0, seq = 0 RETURN NONE;
                 COMMIT TRANSACTION;",
            )
            .bind(("row", row))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error("create main's first snapshot", e))?;
        Ok(())
    }

    /// Main's current snapshot.
    pub async fn head(self) -> Result<Snapshot> {
        let mut res = self
            .store.db().await?
            .query("SELECT * FROM ONLY type::record('snapshot', (SELECT VALUE snapshot FROM ONLY ref:main))")
            .await
            .map_err(|e| db_error("read main's head", e))?;
        let row: Option<SnapshotRow> = res.take(0).map_err(|e| db_error("read main's head", e))?;
        snapshot_of(row.ok_or_else(|| Error::Corrupt("main has no head snapshot".into()))?)
    }

    /// A snapshot by number.
    pub async fn snapshot(self, id: SnapshotId) -> Result<Snapshot> {
        let mut res = self
            .store
            .db()
            .await?
            .query("SELECT * FROM ONLY type::record('snapshot', $id)")
            .bind(("id", id.0 as i64))
            .await
            .map_err(|e| db_error(format!("read snapshot {id}"), e))?;
        let row: Option<SnapshotRow> =
            res.take(0).map_err(|e| db_error(format!("read snapshot {id}"), e))?;
        snapshot_of(row.ok_or_else(|| Error::NotFound(format!("snapshot {id}")))?)
    }

    /// Main's snapshots, newest first, at most `limit`.
    pub async fn log(self, limit: usize) -> Result<Vec<Snapshot>> {
        let mut res = self
            .store
            .db()
            .await?
            .query("SELECT * FROM snapshot ORDER BY id DESC LIMIT $limit")
            .bind(("limit", limit.min(i64::MAX as usize) as i64))
            .await
            .map_err(|e| db_error("read main's history", e))?;
        let rows: Vec<SnapshotRow> = res.take(0).map_err(|e| db_error("read main's history", e))?;
        rows.into_iter().map(snapshot_of).collect()
    }

    /// Commits `new` as the next snapshot of main, if main is still at
    /// `new.parent`; otherwise fails with `HeadMoved` and changes nothing.
    /// The trees and contents it names must have been written already.
    pub async fn commit(self, new: NewSnapshot) -> Result<Snapshot> {
        health::check_writable()?;
        let _timer = crate::metrics::global().commit.start_timer();
        let count = |op| new.changes.iter().filter(|c| c.op == op).count() as i64;
        let row = NewSnapshotRow {
            parent: Some(new.parent.0 as i64),
            root: new.root.to_hex(),
            source: new.source.clone(),
            message: new.message.clone(),
            files: new.files as i64,
            bytes: new.bytes as i64,
            added: count(ChangeOp::Add),
            modified: count(ChangeOp::Modify),
            deleted: count(ChangeOp::Delete),
        };
        let id = new.parent.0 + 1;
        for attempt in 1.. {
            let seq_base = self.journal_seq().await?;
            let journal: Vec<JournalRow> = new
                .changes
                .iter()
                .enumerate()
                .map(|(i, change)| {
                    let text = String::from_utf8_lossy(&change.path).into_owned();
                    let raw = (text.as_bytes() != change.path.as_slice())
                        .then(|| Bytes::from(change.path.clone()));
                    JournalRow {
                        id: journal_id(self.store.view.name(), seq_base + 1 + i as u64),
                        op: change.op.as_str().to_owned(),
                        path: text,
                        raw_path: raw,
                        snapshot: id as i64,
                    }
                })
                .collect();
            let journal_len = journal.len() as i64;
            let res = self
                .store
                .db()
                .await?
                .query(
                    "BEGIN TRANSACTION;
                     LET $head = (SELECT * FROM ONLY ref:main);
                     IF $head.snapshot != $parent OR $head.seq != $seq_base {
                         THROW 'cortex:head-moved';
                     };
                     CREATE type::record('snapshot', $id) CONTENT $row RETURN NONE;
                     UPDATE ref:main SET snapshot = $id, seq = $seq_base + $journal_len RETURN NONE;
                     INSERT INTO journal $journal RETURN NONE;
                     COMMIT TRANSACTION;",
                )
                .bind(("parent", new.parent.0 as i64))
                .bind(("seq_base", seq_base as i64))
                .bind(("id", id as i64))
                .bind(("row", row.clone()))
                .bind(("journal", journal))
                .bind(("journal_len", journal_len))
                .await
                .map_err(|e| db_error("commit a snapshot of main", e))?;
            let Some((e, conflict)) = transaction_error(res) else { break };
            // Another commit got there first: either our check saw it, or
            // the store refused ours as a conflicting transaction. The head
            // says which; a conflict with main still where it was (another
            // writer's transaction touched the same keys and lost) is tried
            // again.
            // `cortex:head-moved` is this query's own THROW.
            if e.to_string().contains("cortex:head-moved") || conflict {
                let head = self.head().await?;
                if head.id != new.parent {
                    return Err(Error::HeadMoved { expected: new.parent.0, found: head.id.0 });
                }
                if conflict && attempt < COMMIT_ATTEMPTS {
                    tokio::time::sleep(std::time::Duration::from_millis(attempt as u64)).await;
                    continue;
                }
            }
            return Err(db_error("commit a snapshot of main", e));
        }
        self.snapshot(SnapshotId(id)).await
    }

    async fn journal_seq(self) -> Result<u64> {
        let mut res = self
            .store
            .db()
            .await?
            .query("SELECT VALUE seq FROM ONLY ref:main")
            .await
            .map_err(|e| db_error("read the journal position", e))?;
        let seq: Option<i64> = res.take(0).map_err(|e| db_error("read the journal position", e))?;
        Ok(seq.unwrap_or(0) as u64)
    }

    /// Main's journal entries with sequence numbers after `after`, oldest
    /// first, at most `limit`.
    pub async fn journal(self, after: u64, limit: usize) -> Result<Vec<JournalEntry>> {
        let mut res = self
            .store
            .db()
            .await?
            .query("SELECT * FROM journal:[$who, $from]..=[$who, $to] LIMIT $limit")
            .bind(("who", self.store.view.name().to_owned()))
            .bind(("from", after as i64 + 1))
            .bind(("to", i64::MAX))
            .bind(("limit", limit as i64))
            .await
            .map_err(|e| db_error("read the journal", e))?;
        let rows: Vec<JournalReadRow> = res.take(0).map_err(|e| db_error("read the journal", e))?;
        rows.into_iter()
            .map(|row| {
                let RecordIdKey::Array(key) = &row.id.key else {
                    return Err(Error::Corrupt("journal entry with a malformed id".into()));
                };
                let seq = key.get(1).and_then(|v| v.clone().into_int().ok()).unwrap_or(0);
                Ok(JournalEntry {
                    session: self.store.view.name().into(),
                    seq: seq as u64,
                    op: row.op,
                    path: row.raw_path.map(|b| b.to_vec()).unwrap_or_else(|| row.path.into_bytes()),
                    time: row.time,
                    snapshot: SnapshotId(row.snapshot as u64),
                })
            })
            .collect()
    }
}
