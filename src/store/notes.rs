//! Notes in a view's namespace: their text under BM25, their vectors under
//! HNSW, and what they are attached to ([`crate::notes`] keeps the
//! attachments current and ranks recall).

use surrealdb::types::{RecordId, SurrealValue};

use super::Store;
use super::health::{self, db_error};
use crate::error::Result;

/// A note as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteRow {
    pub id: String,
    pub text: String,
    /// "note", or "intent" (a merge's message).
    pub kind: String,
    pub tags: Vec<String>,
    /// Unit ids it is attached to, as last seen.
    pub units: Vec<String>,
    /// Paths it is attached to, as last seen.
    pub paths: Vec<String>,
    /// The anchors' last known state (JSON; [`crate::notes::Anchors`]).
    pub anchors: String,
    /// Some unit or file it was attached to is gone.
    pub orphaned: bool,
    /// The session it was written in (`None`: main).
    pub origin: Option<String>,
    /// Main's snapshot a merge's intent note describes.
    pub snapshot: Option<u64>,
    pub created: chrono::DateTime<chrono::Utc>,
}

#[derive(SurrealValue)]
struct Row {
    id: RecordId,
    text: String,
    kind: String,
    tags: Vec<String>,
    units: Vec<String>,
    paths: Vec<String>,
    anchors: String,
    orphaned: bool,
    origin: Option<String>,
    snapshot: Option<i64>,
    created: chrono::DateTime<chrono::Utc>,
}

fn row_of(row: Row) -> Result<NoteRow> {
    Ok(NoteRow {
        id: super::graph::key_string(&row.id)?,
        text: row.text,
        kind: row.kind,
        tags: row.tags,
        units: row.units,
        paths: row.paths,
        anchors: row.anchors,
        orphaned: row.orphaned,
        origin: row.origin,
        snapshot: row.snapshot.map(|n| n as u64),
        created: row.created,
    })
}

#[derive(SurrealValue)]
struct NewRow {
    text: String,
    kind: String,
    tags: Vec<String>,
    units: Vec<String>,
    paths: Vec<String>,
    anchors: String,
    orphaned: bool,
    origin: Option<String>,
    snapshot: Option<i64>,
    created: chrono::DateTime<chrono::Utc>,
}

/// Which notes a listing wants (all given must hold).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoteFilter {
    pub unit: Option<String>,
    pub path: Option<String>,
    pub tag: Option<String>,
}

/// The note tables of a view: a facet of [`Store`], from [`Store::notes`].
#[derive(Clone, Copy, Debug)]
pub struct Notes<'a> {
    pub(super) store: &'a Store,
}

impl Notes<'_> {
    /// Records `note` (replacing one with its id) and its vector.
    pub async fn put(self, note: &NoteRow, vector: Option<Vec<f32>>) -> Result<()> {
        health::check_writable()?;
        let row = NewRow {
            text: note.text.clone(),
            kind: note.kind.clone(),
            tags: note.tags.clone(),
            units: note.units.clone(),
            paths: note.paths.clone(),
            anchors: note.anchors.clone(),
            orphaned: note.orphaned,
            origin: note.origin.clone(),
            snapshot: note.snapshot.map(|n| n as i64),
            created: note.created,
        };
        let sql = "BEGIN; \
                   UPSERT type::record('note', $id) CONTENT $row RETURN NONE; \
                   IF $vector != NONE { \
                       UPSERT type::record('note_vec', $id) CONTENT { embedding: $vector } RETURN NONE; \
                   }; \
                   COMMIT;";
        self.store
            .db()
            .await?
            .query(sql)
            .bind(("id", note.id.clone()))
            .bind(("row", row))
            .bind(("vector", vector))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error("record a note", e))?;
        Ok(())
    }

    /// Rewrites what a note is attached to.
    pub async fn reattach(self, note: &NoteRow) -> Result<()> {
        health::check_writable()?;
        self.store
            .db()
            .await?
            .query(
                "UPDATE type::record('note', $id) SET units = $units, paths = $paths, \
                 anchors = $anchors, orphaned = $orphaned RETURN NONE",
            )
            .bind(("id", note.id.clone()))
            .bind(("units", note.units.clone()))
            .bind(("paths", note.paths.clone()))
            .bind(("anchors", note.anchors.clone()))
            .bind(("orphaned", note.orphaned))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error("re-attach a note", e))?;
        Ok(())
    }

    /// The note `id` of this view, if there is one.
    pub async fn get(self, id: &str) -> Result<Option<NoteRow>> {
        Ok(self.rows(&[id.to_owned()]).await?.pop())
    }

    /// The notes of this view among `ids`.
    pub async fn rows(self, ids: &[String]) -> Result<Vec<NoteRow>> {
        let mut res = self
            .store
            .db()
            .await?
            .query("SELECT * FROM note WHERE id IN $ids.map(|$i| type::record('note', $i))")
            .bind(("ids", ids.to_vec()))
            .await
            .map_err(|e| db_error("read notes", e))?;
        let rows: Vec<Row> = res.take(0).map_err(|e| db_error("read notes", e))?;
        rows.into_iter().map(row_of).collect()
    }

    /// The vectors of the notes among `ids` that have one.
    pub async fn vectors(self, ids: &[String]) -> Result<Vec<(String, Vec<f32>)>> {
        #[derive(SurrealValue)]
        struct Vec_ {
            id: RecordId,
            embedding: Vec<f32>,
        }
        let mut res = self
            .store
            .db()
            .await?
            .query("SELECT * FROM note_vec WHERE id IN $ids.map(|$i| type::record('note_vec', $i))")
            .bind(("ids", ids.to_vec()))
            .await
            .map_err(|e| db_error("read note vectors", e))?;
        let rows: Vec<Vec_> = res.take(0).map_err(|e| db_error("read note vectors", e))?;
        rows.into_iter().map(|r| Ok((super::graph::key_string(&r.id)?, r.embedding))).collect()
    }

    /// This view's notes that `filter` keeps, newest first, at most `limit`.
    pub async fn list(self, filter: &NoteFilter, limit: usize) -> Result<Vec<NoteRow>> {
        let mut conditions = Vec::new();
        if filter.unit.is_some() {
            conditions.push("$unit IN units");
        }
        if filter.path.is_some() {
            conditions.push("$path IN paths");
        }
        if filter.tag.is_some() {
            conditions.push("$tag IN tags");
        }
        let filter_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql = format!("SELECT * FROM note{filter_sql} ORDER BY created DESC LIMIT $limit");
        let mut res = self
            .store
            .db()
            .await?
            .query(sql)
            .bind(("unit", filter.unit.clone()))
            .bind(("path", filter.path.clone()))
            .bind(("tag", filter.tag.clone()))
            .bind(("limit", limit as i64))
            .await
            .map_err(|e| db_error("list notes", e))?;
        let rows: Vec<Row> = res.take(0).map_err(|e| db_error("list notes", e))?;
        rows.into_iter().map(row_of).collect()
    }

    /// How many notes the view holds.
    pub async fn count(self) -> Result<u64> {
        let mut res = self
            .store
            .db()
            .await?
            .query("SELECT count() AS count FROM note GROUP ALL")
            .await
            .map_err(|e| db_error("count notes", e))?;
        let row: Option<super::graph_read::CountRow> =
            res.take(0).map_err(|e| db_error("count notes", e))?;
        Ok(row.map_or(0, |r| r.count as u64))
    }

    /// Removes note `id` of this view; false if it has none.
    pub async fn remove(self, id: &str) -> Result<bool> {
        health::check_writable()?;
        let mut res = self
            .store
            .db()
            .await?
            .query(
                "DELETE type::record('note_vec', $id); \
                 DELETE type::record('note', $id) RETURN BEFORE",
            )
            .bind(("id", id.to_owned()))
            .await
            .map_err(|e| db_error("remove a note", e))?;
        let gone: Vec<Row> = res.take(1).map_err(|e| db_error("remove a note", e))?;
        Ok(!gone.is_empty())
    }

    /// Notes ranked by BM25 for `words` (any of them), best first.
    pub async fn keyword(self, words: &str, limit: usize) -> Result<Vec<(String, f64)>> {
        if words.trim().is_empty() {
            return Ok(Vec::new());
        }
        let mut res = self
            .store
            .db()
            .await?
            .query(
                "SELECT id, search::score(1) AS score FROM note WHERE text @1,OR@ $words \
                 ORDER BY score DESC LIMIT $limit",
            )
            .bind(("words", words.to_owned()))
            .bind(("limit", limit as i64))
            .await
            .map_err(|e| db_error("search notes", e))?;
        scored(&mut res, "search notes")
    }

    /// The `limit` notes nearest `vector` (cosine similarity), best first.
    pub async fn nearest(self, vector: &[f32], limit: usize) -> Result<Vec<(String, f64)>> {
        // k and ef are numbers of ours, written into the operator.
        let sql = format!(
            "SELECT id, 1 - vector::distance::knn() AS score FROM note_vec \
             WHERE embedding <|{limit},{ef}|> $vector ORDER BY score DESC",
            limit = limit.max(1),
            ef = limit.max(40),
        );
        let mut res = self
            .store
            .db()
            .await?
            .query(sql)
            .bind(("vector", vector.to_vec()))
            .await
            .map_err(|e| db_error("search note vectors", e))?;
        scored(&mut res, "search note vectors")
    }
}

fn scored(res: &mut surrealdb::IndexedResults, what: &str) -> Result<Vec<(String, f64)>> {
    #[derive(SurrealValue)]
    struct Scored {
        id: RecordId,
        score: Option<f64>,
    }
    let rows: Vec<Scored> = res.take(0).map_err(|e| db_error(what, e))?;
    rows.into_iter()
        .map(|r| Ok((super::graph::key_string(&r.id)?, r.score.unwrap_or(0.0))))
        .collect()
}
