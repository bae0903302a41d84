//! The code graph's tables: code files, units, the keys that say which
//! files to resolve again, and one relation table per edge kind.
//!
//! The graph is derived data for the snapshot named by `meta:graph_root`.
//! A write clears that mark first and sets it last, so a write cut short
//! leaves no mark, and the next index rebuilds the graph from scratch.

use std::collections::HashMap;

use surrealdb::types::{RecordId, RecordIdKey, SurrealValue};

use super::Store;
use crate::error::{Error, Result};
use crate::graph::resolve::{Confidence, Edge, EdgeKind, Symbol};
use crate::graph::{Language, ParsedFile, UnitKind};
use crate::ids::ContentHash;

/// Rows per INSERT statement.
const BATCH: usize = 1000;

/// A code file as the graph keeps it.
#[derive(Clone, Debug)]
pub struct CodeFile {
    pub path: String,
    pub language: Language,
    pub content: ContentHash,
    pub parsed: ParsedFile,
}

/// One change to the graph: files whose units go (removed or replaced),
/// files whose units come, and files whose edges are replaced.
#[derive(Debug, Default)]
pub struct GraphWrite {
    pub removed: Vec<String>,
    pub files: Vec<CodeFile>,
    /// Per file: the edges its references make now, and its keys.
    pub edges: Vec<(String, Vec<Edge>)>,
    pub keys: Vec<(String, Vec<String>)>,
    /// The graph was empty: insert, nothing to replace.
    pub fresh: bool,
    /// Units of changed or removed files that are gone now.
    pub vanished: Vec<String>,
    /// Units whose outgoing edges are replaced (those of every file in
    /// `edges`, before and after).
    pub edge_sources: Vec<String>,
}

#[derive(SurrealValue)]
struct UnitRow {
    id: RecordId,
    path: String,
    language: String,
    kind: String,
    name: String,
    qname: String,
    parent: Option<String>,
    start_line: i64,
    end_line: i64,
    start_byte: i64,
    end_byte: i64,
    signature: String,
    doc: String,
    body_hash: String,
    complexity: i64,
    is_test: bool,
    exported: bool,
    fields: Vec<Vec<String>>,
}

#[derive(SurrealValue)]
struct CodeFileRow {
    id: RecordId,
    language: String,
    content: String,
    skipped: Option<String>,
    diagnostics: i64,
}

#[derive(SurrealValue)]
struct ParseRow {
    id: RecordId,
    parsed: String,
}

#[derive(SurrealValue)]
struct KeyRow {
    name: String,
    file: String,
}

#[derive(SurrealValue)]
struct EdgeRow {
    #[surreal(rename = "in")]
    from: RecordId,
    #[surreal(rename = "out")]
    to: RecordId,
    file: String,
    confidence: String,
    line: i64,
}

#[derive(SurrealValue)]
struct SymbolRow {
    id: RecordId,
    kind: String,
    name: String,
    qname: String,
    path: String,
    fields: Vec<Vec<String>>,
}

#[derive(SurrealValue)]
struct StoredFileRow {
    id: RecordId,
    language: String,
    content: String,
    parsed: String,
}

pub fn unit_record(id: &str) -> RecordId {
    RecordId::new("unit", id.to_owned())
}

pub fn key_string(id: &RecordId) -> Result<String> {
    match &id.key {
        RecordIdKey::String(s) => Ok(s.clone()),
        _ => Err(Error::Corrupt(format!("unexpected record key in {}", id.table))),
    }
}

fn language_of(s: &str) -> Result<Language> {
    match s {
        "rust" => Ok(Language::Rust),
        "javascript" => Ok(Language::JavaScript),
        other => Err(Error::Corrupt(format!("unknown language {other:?} in the graph"))),
    }
}

impl Store {
    /// The snapshot root the graph describes, if it is complete.
    pub async fn graph_root(&self) -> Result<Option<ContentHash>> {
        match self.meta_get("graph_root").await? {
            Some(hex) if !hex.is_empty() => Ok(Some(ContentHash::from_hex(&hex)?)),
            _ => Ok(None),
        }
    }

    async fn set_graph_root(&self, root: Option<ContentHash>) -> Result<()> {
        self.meta_set("graph_root", &root.map(|r| r.to_hex()).unwrap_or_default()).await
    }

    /// Drops the whole graph (before a rebuild).
    pub async fn clear_graph(&self) -> Result<()> {
        self.set_graph_root(None).await?;
        let mut sql =
            String::from("DELETE code_file; DELETE code_parse; DELETE code_key; DELETE unit;");
        for kind in EdgeKind::ALL {
            sql.push_str(&format!(" DELETE {};", kind.as_str()));
        }
        self.db
            .query(sql)
            .await
            .and_then(|r| r.check())
            .map_err(|e| Error::db("clear the graph", e))?;
        Ok(())
    }

    /// The paths of every code file in the graph.
    pub async fn code_paths(&self) -> Result<Vec<String>> {
        let mut res = self
            .db
            .query("SELECT VALUE id FROM code_file")
            .await
            .map_err(|e| Error::db("list code files", e))?;
        let ids: Vec<RecordId> = res.take(0).map_err(|e| Error::db("list code files", e))?;
        ids.iter().map(key_string).collect()
    }

    /// The stored parse of these files (those the graph has).
    pub async fn code_files(&self, paths: &[String]) -> Result<Vec<CodeFile>> {
        let ids: Vec<RecordId> =
            paths.iter().map(|p| RecordId::new("code_file", p.clone())).collect();
        let mut res = self
            .db
            .query(
                "SELECT id, language, content, \
                 (SELECT VALUE parsed FROM ONLY type::record('code_parse', record::id($parent.id))) \
                 AS parsed FROM $ids",
            )
            .bind(("ids", ids))
            .await
            .map_err(|e| Error::db("read code files", e))?;
        let rows: Vec<StoredFileRow> = res.take(0).map_err(|e| Error::db("read code files", e))?;
        rows.into_iter()
            .map(|row| {
                let parsed: ParsedFile = serde_json::from_str(&row.parsed)
                    .map_err(|e| Error::Corrupt(format!("stored parse: {e}")))?;
                Ok(CodeFile {
                    path: key_string(&row.id)?,
                    language: language_of(&row.language)?,
                    content: ContentHash::from_hex(&row.content)?,
                    parsed,
                })
            })
            .collect()
    }

    /// Files with a reference or import keyed by one of `names`.
    pub async fn files_keyed_by(&self, names: &[String]) -> Result<Vec<String>> {
        let select = "SELECT VALUE file FROM code_key WHERE name = $name";
        let mut files: Vec<String> = self.per_name("read code keys", select, names).await?;
        files.sort();
        files.dedup();
        Ok(files)
    }

    /// Units named one of `names`, as resolution needs them.
    pub async fn symbols_named(&self, names: &[String]) -> Result<Vec<Symbol>> {
        let select = "SELECT id, kind, name, qname, path, fields FROM unit \
                      WHERE name = $name";
        let rows: Vec<SymbolRow> = self.per_name("read units", select, names).await?;
        rows.into_iter()
            .map(|r| {
                Ok(Symbol {
                    id: key_string(&r.id)?,
                    kind: UnitKind::parse(&r.kind)
                        .ok_or_else(|| Error::Corrupt(format!("unit kind {:?}", r.kind)))?,
                    name: r.name,
                    qname: r.qname,
                    path: r.path,
                    fields: r
                        .fields
                        .into_iter()
                        .filter_map(|f| match f.as_slice() {
                            [n, t] => Some((n.clone(), t.clone())),
                            _ => None,
                        })
                        .collect(),
                })
            })
            .collect()
    }

    /// Runs `select` (which names `$name`) once per name, many to a round
    /// trip, and gathers the rows. Measured: `name IN $names` scans the
    /// table; `name = $name` uses the index.
    async fn per_name<T: SurrealValue>(
        &self,
        what: &str,
        select: &str,
        names: &[String],
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for chunk in names.chunks(256) {
            let mut res =
                self.per_name_query(select, chunk).await.map_err(|e| Error::db(what, e))?;
            for i in 0..chunk.len() {
                let rows: Vec<T> = res.take(i).map_err(|e| Error::db(what, e))?;
                out.extend(rows);
            }
        }
        Ok(out)
    }

    /// Runs the statements `sql` (which name `$name`) once per name.
    async fn each_name(&self, what: &str, sql: &str, names: &[String]) -> Result<()> {
        for chunk in names.chunks(256) {
            self.per_name_query(sql, chunk)
                .await
                .and_then(|r| r.check())
                .map_err(|e| Error::db(what, e))?;
        }
        Ok(())
    }

    /// `sql` once per name in one query, each copy with its own bound
    /// `$nI` (names are bound, never pasted).
    async fn per_name_query(
        &self,
        sql: &str,
        names: &[String],
    ) -> surrealdb::Result<surrealdb::IndexedResults> {
        let mut text = String::new();
        for i in 0..names.len() {
            text.push_str(&sql.replace("$name", &format!("$n{i}")));
            text.push_str(";\n");
        }
        let mut query = self.db.query(text);
        for (i, name) in names.iter().enumerate() {
            query = query.bind((format!("n{i}"), name.clone()));
        }
        query.await
    }

    /// Applies one change to the graph and records `root` as what it now
    /// describes.
    pub async fn write_graph(&self, change: GraphWrite, root: ContentHash) -> Result<()> {
        self.set_graph_root(None).await?;
        if !change.fresh {
            // Units that vanished go (and with them the edges into them);
            // units that stay keep their records and so the edges into them
            // from files not resolved again.
            let vanished: Vec<RecordId> = change.vanished.iter().map(|u| unit_record(u)).collect();
            for chunk in vanished.chunks(BATCH) {
                self.db
                    .query("DELETE $ids")
                    .bind(("ids", chunk.to_vec()))
                    .await
                    .and_then(|r| r.check())
                    .map_err(|e| Error::db("remove units", e))?;
            }
            // The edges re-resolved files made, through their units' graph
            // pointers (no index). Table names are ours.
            let sources: Vec<RecordId> =
                change.edge_sources.iter().map(|u| unit_record(u)).collect();
            let mut sql = String::new();
            for kind in EdgeKind::ALL.iter().filter(|k| **k != EdgeKind::Contains) {
                sql.push_str(&format!(
                    "DELETE array::flatten((SELECT VALUE ->{} FROM $ids));",
                    kind.as_str()
                ));
            }
            for chunk in sources.chunks(BATCH) {
                self.db
                    .query(sql.clone())
                    .bind(("ids", chunk.to_vec()))
                    .await
                    .and_then(|r| r.check())
                    .map_err(|e| Error::db("remove edges", e))?;
            }
            // Per path, `=` rather than `IN`: only `=` uses the indexes.
            let mut gone: Vec<String> = change.removed.clone();
            gone.extend(change.files.iter().map(|f| f.path.clone()));
            let remove = "DELETE code_key WHERE file = $name; \
                          DELETE type::record('code_file', $name); \
                          DELETE type::record('code_parse', $name)";
            self.each_name("remove code files", remove, &gone).await?;
        }
        let mut units = Vec::new();
        let mut files = Vec::new();
        let mut parses = Vec::new();
        for f in &change.files {
            for u in &f.parsed.units {
                units.push(UnitRow {
                    id: unit_record(&u.id),
                    path: f.path.clone(),
                    language: f.language.as_str().to_owned(),
                    kind: u.kind.as_str().to_owned(),
                    name: u.name.clone(),
                    qname: u.qname.clone(),
                    parent: u.parent.clone(),
                    start_line: u.start_line as i64,
                    end_line: u.end_line as i64,
                    start_byte: u.start_byte as i64,
                    end_byte: u.end_byte as i64,
                    signature: u.signature.clone(),
                    doc: u.doc.clone(),
                    body_hash: u.body_hash.clone(),
                    complexity: u.complexity as i64,
                    is_test: u.is_test,
                    exported: u.exported,
                    fields: u.fields.iter().map(|(n, t)| vec![n.clone(), t.clone()]).collect(),
                });
            }
            files.push(CodeFileRow {
                id: RecordId::new("code_file", f.path.clone()),
                language: f.language.as_str().to_owned(),
                content: f.content.to_hex(),
                skipped: f.parsed.skipped.clone(),
                diagnostics: f.parsed.diagnostics.len() as i64,
            });
            parses.push(ParseRow {
                id: RecordId::new("code_parse", f.path.clone()),
                parsed: serde_json::to_string(&f.parsed).expect("parses serialise"),
            });
        }
        tracing::debug!(units = units.len(), "old graph rows removed");
        if change.fresh {
            self.insert_rows("INSERT INTO unit $rows RETURN NONE", units).await?;
        } else {
            let upsert = "FOR $u IN $rows { UPSERT $u.id CONTENT $u RETURN NONE; }";
            self.insert_rows(upsert, units).await?;
        }
        tracing::debug!("units written");
        self.insert_rows("INSERT INTO code_file $rows RETURN NONE", files).await?;
        self.insert_rows("INSERT INTO code_parse $rows RETURN NONE", parses).await?;
        let keys: Vec<KeyRow> = change
            .keys
            .iter()
            .flat_map(|(file, names)| {
                names.iter().map(|n| KeyRow { name: n.clone(), file: file.clone() })
            })
            .collect();
        tracing::debug!("units and files written");
        self.insert_rows("INSERT INTO code_key $rows RETURN NONE", keys).await?;
        tracing::debug!("keys written");
        let mut by_kind: HashMap<EdgeKind, Vec<EdgeRow>> = HashMap::new();
        for (file, edges) in change.edges {
            for e in edges {
                by_kind.entry(e.kind).or_default().push(EdgeRow {
                    from: unit_record(&e.from),
                    to: unit_record(&e.to),
                    file: file.clone(),
                    confidence: e.confidence.as_str().to_owned(),
                    line: e.line as i64,
                });
            }
        }
        for (kind, rows) in by_kind {
            let sql = format!("INSERT RELATION INTO {} $rows RETURN NONE", kind.as_str());
            self.insert_rows(&sql, rows).await?;
        }
        tracing::debug!("graph written");
        self.set_graph_root(Some(root)).await
    }

    async fn insert_rows<T: SurrealValue>(&self, sql: &str, rows: Vec<T>) -> Result<()> {
        let mut rows = rows;
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(BATCH));
            let batch = std::mem::replace(&mut rows, rest);
            self.db
                .query(sql)
                .bind(("rows", batch))
                .await
                .and_then(|r| r.check())
                .map_err(|e| Error::db("write the graph", e))?;
        }
        Ok(())
    }
}

/// Parses a stored confidence.
pub fn confidence_of(s: &str) -> Result<Confidence> {
    Confidence::parse(s).ok_or_else(|| Error::Corrupt(format!("edge confidence {s:?}")))
}

/// A unit as the commands show it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, SurrealValue)]
pub struct UnitInfo {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub qname: String,
    pub path: String,
    pub language: String,
    pub parent: Option<String>,
    pub start_line: i64,
    pub end_line: i64,
    pub signature: String,
    pub doc: String,
    pub complexity: i64,
    pub is_test: bool,
    pub exported: bool,
}

/// An edge as the commands show it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, SurrealValue)]
pub struct EdgeInfo {
    pub from: String,
    pub to: String,
    pub confidence: String,
    pub line: i64,
}

/// What a code file's parse left: skipped, and its diagnostics count.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, SurrealValue)]
pub struct CodeFileInfo {
    pub path: String,
    pub language: String,
    pub skipped: Option<String>,
    pub diagnostics: i64,
}

const UNIT_FIELDS: &str = "record::id(id) AS id, kind, name, qname, path, language, parent, \
     start_line, end_line, signature, doc, complexity, is_test, exported";

impl Store {
    /// The units of a file, or of every file below a directory ("" for
    /// all), in path and source order.
    pub async fn units_under(&self, path: &str) -> Result<Vec<UnitInfo>> {
        let sql = format!(
            "SELECT {UNIT_FIELDS}, start_byte FROM unit \
             WHERE $path = '' OR path = $path OR string::starts_with(path, $dir) \
             ORDER BY path, start_byte"
        );
        let mut res = self
            .db
            .query(sql)
            .bind(("path", path.to_owned()))
            .bind(("dir", format!("{path}/")))
            .await
            .map_err(|e| Error::db("read units", e))?;
        res.take(0).map_err(|e| Error::db("read units", e))
    }

    /// Units by exact name, then by qualified name (`Parser::parse`) or id
    /// prefix; at most `limit`.
    pub async fn find_units(&self, query: &str, limit: usize) -> Result<Vec<UnitInfo>> {
        // By name, then qualified name (through the name index: its last
        // segment is the name); the id prefix is a scan, so it runs only
        // when neither matched.
        let sql = format!(
            "SELECT {UNIT_FIELDS} FROM unit WHERE name = $q ORDER BY id LIMIT $limit; \
             SELECT {UNIT_FIELDS} FROM unit WHERE name = $last AND qname = $q \
             ORDER BY id LIMIT $limit;"
        );
        let mut res = self
            .db
            .query(sql)
            .bind(("q", query.to_owned()))
            .bind(("last", query.rsplit("::").next().unwrap_or(query).to_owned()))
            .bind(("limit", limit as i64))
            .await
            .map_err(|e| Error::db("find units", e))?;
        let mut by_name: Vec<UnitInfo> = res.take(0).map_err(|e| Error::db("find units", e))?;
        let by_qname: Vec<UnitInfo> = res.take(1).map_err(|e| Error::db("find units", e))?;
        let by_prefix: Vec<UnitInfo> = if by_name.is_empty() && by_qname.is_empty() {
            let sql = format!(
                "SELECT {UNIT_FIELDS} FROM unit WHERE string::starts_with(record::id(id), $q) \
                 ORDER BY id LIMIT $limit"
            );
            let mut res = self
                .db
                .query(sql)
                .bind(("q", query.to_owned()))
                .bind(("limit", limit as i64))
                .await
                .map_err(|e| Error::db("find units", e))?;
            res.take(0).map_err(|e| Error::db("find units", e))?
        } else {
            Vec::new()
        };
        for u in by_qname.into_iter().chain(by_prefix) {
            if by_name.len() >= limit {
                break;
            }
            if !by_name.iter().any(|x| x.id == u.id) {
                by_name.push(u);
            }
        }
        Ok(by_name)
    }

    /// Units by id.
    pub async fn units_by_id(&self, ids: &[String]) -> Result<Vec<UnitInfo>> {
        let records: Vec<RecordId> = ids.iter().map(|i| unit_record(i)).collect();
        let sql = format!("SELECT {UNIT_FIELDS} FROM $ids");
        let mut res = self
            .db
            .query(sql)
            .bind(("ids", records))
            .await
            .map_err(|e| Error::db("read units", e))?;
        res.take(0).map_err(|e| Error::db("read units", e))
    }

    /// Edges of `kind` into (`incoming`) or out of the given units.
    pub async fn edges_of(
        &self,
        kind: EdgeKind,
        ids: &[String],
        incoming: bool,
    ) -> Result<Vec<EdgeInfo>> {
        let records: Vec<RecordId> = ids.iter().map(|i| unit_record(i)).collect();
        let mut edges: Vec<EdgeInfo> = match (kind, incoming) {
            // `contains` is each unit's parent field.
            (EdgeKind::Contains, true) => {
                let sql = "SELECT parent AS from, record::id(id) AS to, 'resolved' AS confidence, \
                           start_line AS line FROM $ids WHERE parent != NONE";
                let mut res = self
                    .db
                    .query(sql)
                    .bind(("ids", records))
                    .await
                    .map_err(|e| Error::db("read edges", e))?;
                res.take(0).map_err(|e| Error::db("read edges", e))?
            }
            (EdgeKind::Contains, false) => {
                // A unit's children are in its file: the path index finds them.
                let sql = "SELECT parent AS from, record::id(id) AS to, 'resolved' AS confidence, \
                           start_line AS line FROM unit WHERE path = $name AND parent = $id";
                let mut out = Vec::new();
                for id in ids {
                    let path = id.split("::").next().unwrap_or(id);
                    let mut res = self
                        .db
                        .query(sql)
                        .bind(("name", path.to_owned()))
                        .bind(("id", id.clone()))
                        .await
                        .map_err(|e| Error::db("read edges", e))?;
                    let rows: Vec<EdgeInfo> =
                        res.take(0).map_err(|e| Error::db("read edges", e))?;
                    out.extend(rows);
                }
                out
            }
            _ => {
                // Through the units' own graph pointers: no index, no scan.
                // Table and direction are ours, not user text.
                let arrow = if incoming { "<-" } else { "->" };
                let sql = format!(
                    "LET $edges = array::flatten((SELECT VALUE {arrow}{} FROM $ids)); \
                     SELECT record::id(in) AS from, record::id(out) AS to, confidence, line \
                     FROM $edges;",
                    kind.as_str()
                );
                let mut res = self
                    .db
                    .query(sql)
                    .bind(("ids", records))
                    .await
                    .map_err(|e| Error::db("read edges", e))?;
                res.take(1).map_err(|e| Error::db("read edges", e))?
            }
        };
        edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
        edges.dedup();
        Ok(edges)
    }

    /// Code files below `path` ("" for all) with their parse state.
    pub async fn code_files_under(&self, path: &str) -> Result<Vec<CodeFileInfo>> {
        let mut res = self
            .db
            .query(
                "SELECT record::id(id) AS path, language, skipped, diagnostics FROM code_file \
                 WHERE $path = '' OR record::id(id) = $path \
                 OR string::starts_with(record::id(id), $dir) ORDER BY path",
            )
            .bind(("path", path.to_owned()))
            .bind(("dir", format!("{path}/")))
            .await
            .map_err(|e| Error::db("read code files", e))?;
        res.take(0).map_err(|e| Error::db("read code files", e))
    }
}

#[derive(SurrealValue)]
struct CountRow {
    count: i64,
}

/// How big the graph is.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GraphCounts {
    pub files: u64,
    pub units: u64,
    pub edges: u64,
}

impl Store {
    pub async fn graph_counts(&self) -> Result<GraphCounts> {
        let mut sql = String::from(
            "SELECT count() AS count FROM code_file GROUP ALL; \
             SELECT count() AS count FROM unit WHERE kind != 'file' GROUP ALL;",
        );
        for kind in EdgeKind::ALL {
            sql.push_str(&format!(" SELECT count() AS count FROM {} GROUP ALL;", kind.as_str()));
        }
        let mut res = self.db.query(sql).await.map_err(|e| Error::db("count the graph", e))?;
        let mut counts = Vec::new();
        for i in 0..2 + EdgeKind::ALL.len() {
            let row: Option<CountRow> = res.take(i).map_err(|e| Error::db("count the graph", e))?;
            counts.push(row.map_or(0, |r| r.count as u64));
        }
        Ok(GraphCounts { files: counts[0], units: counts[1], edges: counts[2..].iter().sum() })
    }
}
