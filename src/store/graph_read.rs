//! The code graph's questions: a file's or a directory's units, units by
//! name or id, a unit's edges either way, what a file's parse left, and
//! how big the graph is. What they read is written by `graph.rs`.

use std::collections::{BTreeSet, HashMap};

use surrealdb::types::{RecordId, SurrealValue};

use super::graph::{CodeGraph, candidate_paths, file_record, role};
use super::health::db_error;
use crate::error::Result;
use crate::graph::resolve::{Confidence, Edge, EdgeKind, target_key};
use crate::graph::{Language, Unit, UnitKind};

/// A code file's units, as the graph holds them.
pub(super) struct FileUnits {
    pub(super) path: String,
    pub(super) language: Language,
    pub(super) units: std::sync::Arc<Vec<Unit>>,
}

/// A unit as the commands show it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UnitInfo {
    pub id: String,
    pub kind: UnitKind,
    pub name: String,
    pub qname: String,
    pub path: String,
    pub language: Language,
    pub parent: Option<String>,
    pub start_line: i64,
    pub end_line: i64,
    pub signature: String,
    pub doc: String,
    pub complexity: i64,
    pub is_test: bool,
    pub exported: bool,
    /// The unit's source: bytes `start_byte..end_byte` of its file.
    #[serde(default)]
    pub start_byte: i64,
    #[serde(default)]
    pub end_byte: i64,
}

impl UnitInfo {
    fn of(u: &Unit, file: &FileUnits) -> UnitInfo {
        let (path, language) = (file.path.as_str(), file.language);
        UnitInfo {
            id: u.id.clone(),
            kind: u.kind,
            name: u.name.clone(),
            qname: u.qname.clone(),
            path: path.to_owned(),
            language,
            parent: u.parent.clone(),
            start_line: i64::from(u.start_line),
            end_line: i64::from(u.end_line),
            signature: u.signature.clone(),
            doc: u.doc.clone(),
            complexity: i64::from(u.complexity),
            is_test: u.is_test,
            exported: u.exported,
            start_byte: i64::from(u.start_byte),
            end_byte: i64::from(u.end_byte),
        }
    }
}

/// An edge as the commands show it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, SurrealValue)]
pub struct EdgeInfo {
    pub from: String,
    pub to: String,
    pub confidence: String,
    pub line: i64,
}

impl EdgeInfo {
    fn of(e: &Edge) -> EdgeInfo {
        EdgeInfo {
            from: e.from.clone(),
            to: e.to.clone(),
            confidence: e.confidence.as_str().to_owned(),
            line: i64::from(e.line),
        }
    }
}

/// What a code file's parse left: skipped, and its diagnostics count.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, SurrealValue)]
pub struct CodeFileInfo {
    pub path: String,
    pub language: String,
    pub skipped: Option<String>,
    pub diagnostics: i64,
}

impl CodeGraph<'_> {
    /// Code file paths at or below `path` ("" for all), sorted.
    async fn code_paths_under(self, path: &str) -> Result<Vec<String>> {
        let dir = format!("{path}/");
        let mut paths: Vec<String> = self
            .store
            .graph()
            .graph_code_paths()
            .await?
            .iter()
            .filter(|p| path.is_empty() || *p == path || p.starts_with(&dir))
            .cloned()
            .collect();
        paths.sort();
        Ok(paths)
    }

    /// The units of a file, or of every file below a directory ("" for
    /// all), in path and source order.
    pub async fn units_under(self, path: &str) -> Result<Vec<UnitInfo>> {
        let paths = self.code_paths_under(path).await?;
        let mut files = self.units_of_files(&paths).await?;
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files
            .iter()
            .flat_map(|f| {
                let mut units: Vec<&Unit> = f.units.iter().collect();
                units.sort_by_key(|u| u.start_byte);
                units.into_iter().map(move |u| UnitInfo::of(u, f))
            })
            .collect())
    }

    /// Units by exact name, then by qualified name (`Parser::parse`), then
    /// by id prefix; at most `limit`.
    pub async fn find_units(self, query: &str, limit: usize) -> Result<Vec<UnitInfo>> {
        // An id or id prefix inside a file (what tools hand back): that
        // file's units alone. No unit's name or qualified name starts with
        // a file's path, so this answers as the lookups below would, without
        // decoding every file that defines the last name.
        if query.contains("::") {
            let mut found: Vec<UnitInfo> = Vec::new();
            for f in self.units_of_files(&candidate_paths(query)).await? {
                found.extend(
                    f.units.iter().filter(|u| u.id.starts_with(query)).map(|u| UnitInfo::of(u, &f)),
                );
            }
            if !found.is_empty() {
                found.sort_by(|a, b| a.id.cmp(&b.id));
                found.truncate(limit);
                return Ok(found);
            }
        }
        let last = query.rsplit("::").next().unwrap_or(query).to_owned();
        let names = vec![query.to_owned(), last.clone()];
        let files = self.files_with(&names, role::DEFINES).await?;
        let mut by_name = Vec::new();
        let mut by_qname = Vec::new();
        for f in self.units_of_files(&files).await? {
            for u in f.units.iter() {
                if u.name == query {
                    by_name.push(UnitInfo::of(u, &f));
                } else if u.name == last && u.qname == query {
                    by_qname.push(UnitInfo::of(u, &f));
                }
            }
        }
        by_name.sort_by(|a, b| a.id.cmp(&b.id));
        by_qname.sort_by(|a, b| a.id.cmp(&b.id));
        let mut found: Vec<UnitInfo> = by_name.into_iter().chain(by_qname).collect();
        if found.is_empty() {
            // An id prefix: the files it may fall in.
            let files: Vec<String> = self
                .store
                .graph()
                .graph_code_paths()
                .await?
                .iter()
                .filter(|p| p.starts_with(query) || query.starts_with(&format!("{p}::")))
                .cloned()
                .collect();
            for f in self.units_of_files(&files).await? {
                found.extend(
                    f.units.iter().filter(|u| u.id.starts_with(query)).map(|u| UnitInfo::of(u, &f)),
                );
            }
            found.sort_by(|a, b| a.id.cmp(&b.id));
        }
        found.truncate(limit);
        Ok(found)
    }

    /// Units by id, in the order asked (those the graph has).
    pub async fn units_by_id(self, ids: &[String]) -> Result<Vec<UnitInfo>> {
        let mut paths: BTreeSet<String> = BTreeSet::new();
        for id in ids {
            paths.extend(candidate_paths(id));
        }
        let paths: Vec<String> = paths.into_iter().collect();
        let mut by_id: HashMap<String, UnitInfo> = HashMap::new();
        for f in self.units_of_files(&paths).await? {
            for u in f.units.iter() {
                by_id.insert(u.id.clone(), UnitInfo::of(u, &f));
            }
        }
        Ok(ids.iter().filter_map(|id| by_id.get(id).cloned()).collect())
    }

    /// Edges of `kind` into (`incoming`) or out of the given units.
    pub async fn edges_of(
        self,
        kind: EdgeKind,
        ids: &[String],
        incoming: bool,
    ) -> Result<Vec<EdgeInfo>> {
        let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        let contains = |parent: &str, u: &UnitInfo| EdgeInfo {
            from: parent.to_owned(),
            to: u.id.clone(),
            confidence: Confidence::Resolved.as_str().to_owned(),
            line: u.start_line,
        };
        let mut edges: Vec<EdgeInfo> = match (kind, incoming) {
            // `contains` is each unit's parent.
            (EdgeKind::Contains, true) => self
                .store
                .graph()
                .units_by_id(ids)
                .await?
                .iter()
                .filter_map(|u| Some(contains(u.parent.as_deref()?, u)))
                .collect(),
            (EdgeKind::Contains, false) => {
                let units = self.units_by_id(ids).await?;
                let paths: BTreeSet<String> = units.iter().map(|u| u.path.clone()).collect();
                let mut out = Vec::new();
                for f in self.units_of_files(&paths.into_iter().collect::<Vec<_>>()).await? {
                    for c in f.units.iter() {
                        if let Some(parent) = c.parent.as_deref().filter(|p| wanted.contains(p)) {
                            out.push(contains(parent, &UnitInfo::of(c, &f)));
                        }
                    }
                }
                out
            }
            _ => self
                .edges_by_kind(&[(kind, ids)], incoming)
                .await?
                .into_iter()
                .map(|(_, e)| e)
                .collect(),
        };
        edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
        edges.dedup();
        Ok(edges)
    }

    /// Edges of each kind into (`incoming`) or out of its units, read
    /// together: one look-up of the files that hold them, one read of
    /// their edges (a walk asks for four kinds at each step). In the order
    /// asked, each kind's by (from, to). Not `contains` (see `edges_of`).
    pub async fn edges_by_kind(
        self,
        wanted: &[(EdgeKind, &[String])],
        incoming: bool,
    ) -> Result<Vec<(EdgeKind, EdgeInfo)>> {
        let sets: Vec<(EdgeKind, BTreeSet<&str>)> = wanted
            .iter()
            .map(|(kind, ids)| (*kind, ids.iter().map(String::as_str).collect()))
            .collect();
        let all: BTreeSet<&str> = sets.iter().flat_map(|(_, ids)| ids.iter().copied()).collect();
        // Out of a unit: its file's edges. Into a unit: the edges of the
        // files the name index says point at its name.
        let files: Vec<String> = if incoming {
            let keys: BTreeSet<String> = all.iter().map(|id| target_key(id).to_owned()).collect();
            self.files_with(&keys.into_iter().collect::<Vec<_>>(), role::TARGET).await?
        } else {
            let ids: Vec<String> = all.iter().map(|id| (*id).to_owned()).collect();
            let units = self.units_by_id(&ids).await?;
            let paths: BTreeSet<String> = units.into_iter().map(|u| u.path).collect();
            paths.into_iter().collect()
        };
        let keep = |from: &str, to: &str, k: EdgeKind| {
            let end = if incoming { to } else { from };
            sets.iter().any(|(kind, ids)| *kind == k && ids.contains(end))
        };
        let mut found: Vec<Edge> = Vec::new();
        for (_, edges) in self.code_edges_where(&files, keep).await? {
            found.extend(edges);
        }
        let mut out = Vec::new();
        for (kind, ids) in &sets {
            let end = |e: &Edge| ids.contains(if incoming { &e.to[..] } else { &e.from[..] });
            let mut edges: Vec<EdgeInfo> =
                found.iter().filter(|e| e.kind == *kind && end(e)).map(EdgeInfo::of).collect();
            edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
            edges.dedup();
            out.extend(edges.into_iter().map(|e| (*kind, e)));
        }
        Ok(out)
    }

    /// Code files below `path` ("" for all) with their parse state.
    pub async fn code_files_under(self, path: &str) -> Result<Vec<CodeFileInfo>> {
        let paths = self.code_paths_under(path).await?;
        let ids: Vec<RecordId> = paths.iter().map(|p| file_record("code_file", p)).collect();
        let mut res = self
            .store
            .db()
            .await?
            .query(
                "SELECT record::id(id) AS path, language, skipped, diagnostics FROM $ids \
                 ORDER BY path",
            )
            .bind(("ids", ids))
            .await
            .map_err(|e| db_error("read code files", e))?;
        res.take(0).map_err(|e| db_error("read code files", e))
    }
}

#[derive(SurrealValue)]
pub(super) struct CountRow {
    pub(super) count: i64,
}

/// How big the graph is.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GraphCounts {
    pub files: u64,
    pub units: u64,
    pub edges: u64,
}

impl CodeGraph<'_> {
    pub async fn graph_counts(self) -> Result<GraphCounts> {
        let sql = "SELECT count() AS count FROM code_file GROUP ALL; \
                   SELECT math::sum(units) AS count FROM code_file GROUP ALL; \
                   SELECT math::sum(count) AS count FROM code_edges GROUP ALL;";
        let mut res =
            self.store.db().await?.query(sql).await.map_err(|e| db_error("count the graph", e))?;
        let mut counts = [0u64; 3];
        for (i, slot) in counts.iter_mut().enumerate() {
            let row: Option<CountRow> = res.take(i).map_err(|e| db_error("count the graph", e))?;
            *slot = row.map_or(0, |r| r.count as u64);
        }
        Ok(GraphCounts { files: counts[0], units: counts[1], edges: counts[2] })
    }
}
