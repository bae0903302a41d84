//! The code graph's tables, one record per code file and per name bucket:
//!
//! - `code_file:⟨path⟩`: what the file is (language, content hash, why it
//!   was skipped, diagnostics, how many units).
//! - `code_parse:⟨path⟩`: its units, and the references and imports that
//!   resolution reads again (JSON).
//! - `code_edges:⟨path⟩`: the edges its references make (JSON), and how many.
//! - `code_names:⟨n⟩`: the name index, in `NAME_BUCKETS` buckets by a hash of
//!   the name. For each name: the files that define a unit of that name,
//!   whose references may resolve to it (resolution keys), or that have an
//!   edge into a unit of that name; and the units of that name as
//!   resolution sees them (`Symbol`s).
//!
//! Why per file and per bucket rather than a record per unit and per edge:
//! writing 146k unit records and their relations took ~50 s of a 62 s index
//! of 2,015 files (SurrealKV, measured with `scripts/bench-index.sh`). Every
//! question the graph answers starts from a file or a name, so the records
//! are cut along those.
//!
//! The graph is derived data for the snapshot named by `meta:graph_root`.
//! A write clears that mark first and sets it last, so a write cut short
//! leaves no mark, and the next index rebuilds the graph from scratch.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use surrealdb::types::{RecordId, RecordIdKey, SurrealValue};

use super::Store;
use super::graph_cache::{Row, RowKey};
use super::graph_codec as codec;
use super::graph_read::FileUnits;
pub use super::graph_read::{CodeFileInfo, EdgeInfo, GraphCounts, UnitInfo};
use super::health::{self, db_error};
use crate::error::{Error, Result};
use crate::graph::resolve::{Edge, EdgeKind, Symbol, SymbolTable, target_key};
use crate::graph::{Language, ParsedFile};
use crate::ids::ContentHash;

/// Rows per INSERT statement.
const BATCH: usize = 500;

/// Buckets of the name index. Measured on 2,015 files: ~400k entries, a
/// bucket ~8 KB of JSON.
pub const NAME_BUCKETS: u32 = 4096;

/// What a file is to a name in the name index (bits).
pub mod role {
    /// The file defines a unit of that name.
    pub const DEFINES: u8 = 1;
    /// The file's references or imports may resolve to that name.
    pub const KEY: u8 = 2;
    /// The file has an edge into a unit of that name (`target_key`).
    pub const TARGET: u8 = 4;
}

/// A code file as the graph keeps it.
#[derive(Clone, Debug)]
pub struct CodeFile {
    pub path: String,
    pub language: Language,
    pub content: ContentHash,
    pub parsed: ParsedFile,
}

/// What one file puts into the name index.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileNames {
    pub roles: BTreeMap<String, u8>,
    pub symbols: Vec<Symbol>,
}

impl FileNames {
    /// A file's entries: the names of its units, its resolution keys (and
    /// the names its resolution `consulted` besides), and the targets of
    /// its edges; and its symbols.
    pub fn of(
        path: &str,
        parsed: Option<&ParsedFile>,
        edges: &[Edge],
        consulted: &[String],
    ) -> FileNames {
        let mut names = FileNames::roles_of(parsed, edges, consulted);
        if let Some(parsed) = parsed {
            names.symbols = Symbol::all_of(path, parsed);
        }
        names
    }

    /// `of` without the symbols.
    pub fn roles_of(
        parsed: Option<&ParsedFile>,
        edges: &[Edge],
        consulted: &[String],
    ) -> FileNames {
        let mut names = FileNames::default();
        let mut add = |name: &str, role: u8| {
            if !name.is_empty() {
                *names.roles.entry(name.to_owned()).or_default() |= role;
            }
        };
        if let Some(parsed) = parsed {
            for u in &parsed.units {
                add(&u.name, role::DEFINES);
            }
            for key in SymbolTable::keys(parsed) {
                add(&key, role::KEY);
            }
        }
        for key in consulted {
            add(key, role::KEY);
        }
        for e in edges {
            add(target_key(&e.to), role::TARGET);
        }
        names
    }
}

/// One change to the graph.
#[derive(Debug, Default)]
pub struct GraphWrite {
    /// Files gone from the tree.
    pub removed: Vec<String>,
    /// The edges of every file parsed or resolved again.
    pub edges: Vec<(String, Vec<Edge>)>,
    /// Per file whose entries may have changed: before and after.
    pub names: Vec<(String, FileNames, FileNames)>,
}

#[derive(Clone, SurrealValue)]
pub(super) struct CodeFileRow {
    id: RecordId,
    language: String,
    content: String,
    pub(super) skipped: Option<String>,
    pub(super) diagnostics: i64,
    units: i64,
}

#[derive(SurrealValue)]
pub(super) struct ParseRow {
    pub(super) id: RecordId,
    pub(super) units: String,
    pub(super) rest: String,
}

#[derive(SurrealValue)]
struct EdgesRow {
    id: RecordId,
    edges: String,
    count: i64,
}

#[derive(SurrealValue)]
pub(super) struct BucketRow {
    pub(super) id: RecordId,
    pub(super) names: String,
}

/// One name's entry in its bucket.
#[derive(Clone, Debug, Default)]
pub(super) struct NameEntry {
    pub(super) files: BTreeMap<String, u8>,
    pub(super) symbols: Vec<Symbol>,
}

pub(super) type Bucket = BTreeMap<String, NameEntry>;

pub(super) fn encode_bucket(bucket: &Bucket) -> String {
    let rows: BTreeMap<&str, _> =
        bucket.iter().map(|(name, e)| (name.as_str(), stored_entry(e))).collect();
    codec::to_string(&rows)
}

/// An entry as `StoredEntry` holds it, borrowed.
fn stored_entry(e: &NameEntry) -> (&BTreeMap<String, u8>, Vec<codec::StoredSymbolRef<'_>>) {
    (&e.files, e.symbols.iter().map(codec::symbol_row).collect())
}

/// A name's entry as stored: the files it is in (with roles), its symbols.
type StoredEntry = (BTreeMap<String, u8>, Vec<codec::StoredSymbol>);

fn entry_of((name, (files, symbols)): (String, StoredEntry)) -> (String, NameEntry) {
    let symbols = symbols.into_iter().map(|r| codec::symbol_of(&name, r)).collect();
    (name, NameEntry { files, symbols })
}

/// A bucket being updated: the entries of the names that change, decoded,
/// and the others as they were stored, copied back unread. (Decoding and
/// encoding whole buckets took 35 ms of a write through the mount, on a
/// 2,000-file tree, for 13 buckets of which one name each changed.)
#[derive(Debug, Default)]
struct Patched {
    entries: Bucket,
    kept: BTreeMap<String, String>,
    /// Whether an entry changed: a bucket as it was is not written again.
    dirty: bool,
}

impl Patched {
    fn split(row: &str, changing: &BTreeSet<String>) -> Result<Patched> {
        let mut patched = Patched::default();
        for (name, value) in codec::object_entries(row, "names")? {
            if changing.contains(&name) {
                let stored: StoredEntry = codec::json(value, "names")?;
                let (name, entry) = entry_of((name, stored));
                patched.entries.insert(name, entry);
            } else {
                patched.kept.insert(name, value.to_owned());
            }
        }
        Ok(patched)
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.kept.is_empty()
    }

    /// The bucket as `encode_bucket` writes it.
    fn encode(&self) -> String {
        let encoded: BTreeMap<&str, String> = self
            .entries
            .iter()
            .map(|(name, e)| (name.as_str(), codec::to_string(&stored_entry(e))))
            .chain(self.kept.iter().map(|(name, value)| (name.as_str(), value.clone())))
            .collect();
        codec::object_of(encoded.iter().map(|(name, value)| (*name, value.as_str())))
    }
}

/// The entries of a bucket for the `wanted` names only, the others
/// skipped without being built: a file's re-index wants one name or two of
/// each bucket it reads (measured, 125 buckets of 2.8 MB: 10.4 ms instead
/// of 16.9 to decode them whole; the JSON is still scanned).
fn decode_bucket_entries(s: &str, wanted: &BTreeSet<&str>) -> Result<Vec<(String, NameEntry)>> {
    struct Wanted<'w, 's>(&'w BTreeSet<&'s str>);
    impl<'de> serde::de::DeserializeSeed<'de> for Wanted<'_, '_> {
        type Value = Vec<(String, StoredEntry)>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> serde::de::Visitor<'de> for Wanted<'_, '_> {
        type Value = Vec<(String, StoredEntry)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a bucket of the name index")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(name) = map.next_key::<String>()? {
                if self.0.contains(name.as_str()) {
                    out.push((name, map.next_value()?));
                } else {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(s);
    let rows = serde::de::DeserializeSeed::deserialize(Wanted(wanted), &mut de)
        .and_then(|rows| de.end().map(|()| rows))
        .map_err(codec::corrupt("names"))?;
    Ok(rows.into_iter().map(entry_of).collect())
}

pub(super) fn bucket_of(name: &str) -> u32 {
    let hash = blake3::hash(name.as_bytes());
    let b = hash.as_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) % NAME_BUCKETS
}

pub(super) fn bucket_record(n: u32) -> RecordId {
    RecordId::new("code_names", i64::from(n))
}

pub(super) fn file_record(table: &str, path: &str) -> RecordId {
    RecordId::new(table, path.to_owned())
}

pub fn key_string(id: &RecordId) -> Result<String> {
    match &id.key {
        RecordIdKey::String(s) => Ok(s.clone()),
        _ => Err(Error::Corrupt(format!("unexpected record key in {}", id.table))),
    }
}

fn bucket_number(id: &RecordId) -> Result<u32> {
    match &id.key {
        RecordIdKey::Number(n) => Ok(*n as u32),
        _ => Err(Error::Corrupt("unexpected record key in code_names".into())),
    }
}

fn language_of(s: &str) -> Result<Language> {
    Language::ALL
        .into_iter()
        .find(|l| l.as_str() == s)
        .ok_or_else(|| Error::Corrupt(format!("unknown language {s:?} in the graph")))
}

/// The code paths of the last few snapshots indexed, shared by every handle
/// on one connection. A snapshot's code files are a function of its root,
/// so an entry never goes stale; the oldest leave first.
#[derive(Debug, Default)]
pub(crate) struct CodePathsCache(Mutex<VecDeque<(ContentHash, Arc<Vec<String>>)>>);

impl CodePathsCache {
    /// Snapshots remembered: main and a few sessions.
    const ROOTS: usize = 8;

    fn get(&self, root: ContentHash) -> Option<Arc<Vec<String>>> {
        let cache = self.0.lock().expect("code paths cache");
        cache.iter().find(|(r, _)| *r == root).map(|(_, p)| p.clone())
    }

    fn put(&self, root: ContentHash, paths: Arc<Vec<String>>) {
        let mut cache = self.0.lock().expect("code paths cache");
        cache.retain(|(r, _)| *r != root);
        if cache.len() == Self::ROOTS {
            cache.pop_front();
        }
        cache.push_back((root, paths));
    }
}

/// The paths a unit id may belong to: `a/b.rs::X::y` is in `a/b.rs` (or,
/// for a path with `::` in it, a longer prefix); a file unit's id is its
/// path.
pub(super) fn candidate_paths(id: &str) -> Vec<String> {
    let mut out: Vec<String> = id.match_indices("::").map(|(i, _)| id[..i].to_owned()).collect();
    out.push(id.to_owned());
    out
}

/// A view's code graph: files' units, edges and the name index, written per snapshot and read by
/// the graph's questions: a facet of [`Store`], from [`Store::graph`].
#[derive(Clone, Copy, Debug)]
pub struct CodeGraph<'a> {
    pub(super) store: &'a Store,
}

impl CodeGraph<'_> {
    /// The snapshot root the graph describes, if it is complete.
    pub async fn graph_root(self) -> Result<Option<ContentHash>> {
        match self.store.meta_get("graph_root").await? {
            Some(hex) if !hex.is_empty() => Ok(Some(ContentHash::from_hex(&hex)?)),
            _ => Ok(None),
        }
    }

    async fn set_graph_root(self, root: Option<ContentHash>) -> Result<()> {
        health::check_writable()?;
        self.store.meta_set("graph_root", &root.map(|r| r.to_hex()).unwrap_or_default()).await
    }

    /// What the graph's row cache holds (every view's), and how well it
    /// serves.
    pub fn cache_use(self) -> crate::memory::CacheUse {
        self.store.graph_rows.usage()
    }

    /// Drops the whole graph (before a rebuild).
    pub async fn clear_graph(self) -> Result<()> {
        health::check_writable()?;
        self.set_graph_root(None).await?;
        self.store.graph_rows.forget(&self.store.ns);
        self.store
            .db()
            .await?
            .query("DELETE code_file; DELETE code_parse; DELETE code_edges; DELETE code_names;")
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error("clear the graph", e))?;
        Ok(())
    }

    /// The paths of the code files of the snapshot whose root is `root`,
    /// which the graph describes (`graph_root`): from memory when an
    /// earlier index run of this process left them there, else read. Reading
    /// 2,000 paths took 8 ms of every 25-40 ms write through a mount.
    pub async fn code_paths_of(self, root: ContentHash) -> Result<Arc<Vec<String>>> {
        if let Some(paths) = self.store.code_paths.get(root) {
            return Ok(paths);
        }
        let paths = Arc::new(self.code_paths().await?);
        // Kept only if no index run moved the graph meanwhile.
        if self.graph_root().await? == Some(root) {
            self.store.code_paths.put(root, paths.clone());
        }
        Ok(paths)
    }

    /// The paths of every code file in the graph, as `code_paths_of` has
    /// them for the snapshot the graph describes.
    pub(super) async fn graph_code_paths(self) -> Result<Arc<Vec<String>>> {
        match self.graph_root().await? {
            Some(root) => self.code_paths_of(root).await,
            None => Ok(Arc::new(self.code_paths().await?)),
        }
    }

    /// Remembers the code paths of the snapshot `root` after an index run
    /// wrote its graph (see `code_paths_of`).
    pub fn remember_code_paths(self, root: ContentHash, paths: Vec<String>) {
        self.store.code_paths.put(root, Arc::new(paths));
    }

    /// The paths of every code file in the graph.
    pub async fn code_paths(self) -> Result<Vec<String>> {
        let mut res = self
            .store
            .db()
            .await?
            .query("SELECT VALUE id FROM code_file")
            .await
            .map_err(|e| db_error("list code files", e))?;
        let ids: Vec<RecordId> = res.take(0).map_err(|e| db_error("list code files", e))?;
        ids.iter().map(key_string).collect()
    }

    /// The stored parse of these files (those the graph has).
    pub async fn code_files(self, paths: &[String]) -> Result<Vec<CodeFile>> {
        let files: Vec<RecordId> = paths.iter().map(|p| file_record("code_file", p)).collect();
        let parses: Vec<RecordId> = paths.iter().map(|p| file_record("code_parse", p)).collect();
        let mut res = self
            .store
            .db()
            .await?
            .query("SELECT * FROM $files; SELECT * FROM $parses;")
            .bind(("files", files))
            .bind(("parses", parses))
            .await
            .map_err(|e| db_error("read code files", e))?;
        let files: Vec<CodeFileRow> = res.take(0).map_err(|e| db_error("read code files", e))?;
        let parses: Vec<ParseRow> = res.take(1).map_err(|e| db_error("read code files", e))?;
        let mut parses: HashMap<String, ParseRow> =
            parses.into_iter().map(|p| Ok((key_string(&p.id)?, p))).collect::<Result<_>>()?;
        files
            .into_iter()
            .map(|row| {
                let path = key_string(&row.id)?;
                let stored = parses
                    .remove(&path)
                    .ok_or_else(|| Error::Corrupt(format!("no stored parse of {path}")))?;
                let parsed = codec::decode_parse(&stored.units, &stored.rest)?;
                Ok(CodeFile {
                    path,
                    language: language_of(&row.language)?,
                    content: ContentHash::from_hex(&row.content)?,
                    parsed,
                })
            })
            .collect()
    }

    /// The stored edges of these files (those the graph has).
    pub async fn code_edges(self, paths: &[String]) -> Result<Vec<(String, Vec<Edge>)>> {
        self.code_edges_where(paths, |_, _, _| true).await
    }

    /// `code_edges`, only those `keep` wants (by from, to and kind).
    pub async fn code_edges_where(
        self,
        paths: &[String],
        keep: impl Fn(&str, &str, EdgeKind) -> bool,
    ) -> Result<Vec<(String, Vec<Edge>)>> {
        let keep = &keep;
        let keys = paths.iter().map(|p| RowKey::Edges(p.clone())).collect();
        let rows = self
            .cached_rows(keys, async |missing: Vec<RowKey>, all: bool| {
                let ids = missing.iter().map(|k| file_record("code_edges", k.path())).collect();
                let rows: Vec<EdgesRow> = self.records("SELECT * FROM $ids", ids, "edges").await?;
                rows.into_iter()
                    .map(|r| {
                        // All of a file's edges when they are to be kept,
                        // else only those wanted: most are not.
                        let edges = match all {
                            true => codec::decode_edges_where(&r.edges, |_, _, _| true)?,
                            false => codec::decode_edges_where(&r.edges, keep)?,
                        };
                        Ok((RowKey::Edges(key_string(&r.id)?), Row::Edges(Arc::new(edges))))
                    })
                    .collect()
            })
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, row)| match (key, row) {
                (RowKey::Edges(path), Row::Edges(edges)) => Some((
                    path,
                    edges.iter().filter(|e| keep(&e.from, &e.to, e.kind)).cloned().collect(),
                )),
                _ => None,
            })
            .collect())
    }

    /// Rows of the graph (those the store has), from the graph cache where
    /// it holds them for the graph's root (see `graph_cache.rs`), the rest
    /// read by `fetch` (told whether what it reads will be kept, and so
    /// must be whole).
    async fn cached_rows(
        self,
        keys: BTreeSet<RowKey>,
        fetch: impl AsyncFnOnce(Vec<RowKey>, bool) -> Result<Vec<(RowKey, Row)>>,
    ) -> Result<Vec<(RowKey, Row)>> {
        let Some(root) = self.graph_root().await? else {
            return fetch(keys.into_iter().collect(), false).await;
        };
        let (mut rows, missing) = self.store.graph_rows.get(&self.store.ns, root, &keys);
        if !missing.is_empty() {
            let fetched = fetch(missing.iter().cloned().collect(), true).await?;
            if self.graph_root().await? == Some(root) {
                self.store.graph_rows.put(&self.store.ns, root, &fetched);
            }
            tracing::debug!(from_store = missing.len(), read = fetched.len(), "graph rows read");
            rows.extend(fetched);
        }
        Ok(rows)
    }

    /// The units of these files, by file (those the graph has).
    pub(super) async fn units_of_files(self, paths: &[String]) -> Result<Vec<FileUnits>> {
        let keys = paths.iter().map(|p| RowKey::Units(p.clone())).collect();
        let rows = self
            .cached_rows(keys, async |missing: Vec<RowKey>, _| {
                #[derive(SurrealValue)]
                struct UnitsRow {
                    id: RecordId,
                    units: String,
                }
                let ids = missing.iter().map(|k| file_record("code_parse", k.path())).collect();
                let rows: Vec<UnitsRow> =
                    self.records("SELECT id, units FROM $ids", ids, "units").await?;
                rows.into_iter()
                    .map(|r| {
                        let units = Arc::new(codec::decode_units(&r.units)?);
                        Ok((RowKey::Units(key_string(&r.id)?), Row::Units(units)))
                    })
                    .collect()
            })
            .await?;
        rows.into_iter()
            .filter_map(|(key, row)| match (key, row) {
                (RowKey::Units(path), Row::Units(units)) => Some((path, units)),
                _ => None,
            })
            .map(|(path, units)| {
                let language = Language::of_path(path.as_bytes()).ok_or_else(|| {
                    Error::Corrupt(format!("the graph holds units of {path}, not a code file"))
                })?;
                Ok(FileUnits { path, language, units })
            })
            .collect()
    }

    /// The name index's entries for `names` (those it has).
    async fn name_entries(self, names: &[String]) -> Result<HashMap<String, NameEntry>> {
        let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let buckets: BTreeSet<u32> = wanted.iter().map(|n| bucket_of(n)).collect();
        let mut out = HashMap::new();
        for (_, row) in self.bucket_rows(&buckets).await? {
            out.extend(decode_bucket_entries(&row, &wanted)?);
        }
        Ok(out)
    }

    /// The encoded rows of `buckets` (those that exist), from the name
    /// cache where it holds them for the graph's root (see `name_cache.rs`).
    #[tracing::instrument(name = "graph.buckets", level = "debug", skip_all, fields(n = buckets.len()))]
    async fn bucket_rows(self, buckets: &BTreeSet<u32>) -> Result<Vec<(u32, Arc<str>)>> {
        let keys = buckets.iter().map(|&b| RowKey::Bucket(b)).collect();
        let rows = self
            .cached_rows(keys, async |missing: Vec<RowKey>, _| {
                let buckets = missing.iter().filter_map(|k| match k {
                    RowKey::Bucket(b) => Some(*b),
                    _ => None,
                });
                let fetched = self.fetch_buckets(buckets).await?;
                Ok(fetched
                    .into_iter()
                    .map(|(b, row)| (RowKey::Bucket(b), Row::Bucket(row)))
                    .collect())
            })
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, row)| match (key, row) {
                (RowKey::Bucket(b), Row::Bucket(row)) => Some((b, row)),
                _ => None,
            })
            .collect())
    }

    async fn fetch_buckets(
        self,
        buckets: impl Iterator<Item = u32>,
    ) -> Result<Vec<(u32, Arc<str>)>> {
        let ids = buckets.map(bucket_record).collect();
        let rows: Vec<BucketRow> =
            self.records("SELECT * FROM $ids", ids, "the name index").await?;
        rows.into_iter().map(|r| Ok((bucket_number(&r.id)?, Arc::from(r.names)))).collect()
    }

    /// The records `ids` (those there are), as `sql` selects them from
    /// `$ids`; `what` names them in an error.
    async fn records<T: SurrealValue>(
        self,
        sql: &str,
        ids: Vec<RecordId>,
        what: &str,
    ) -> Result<Vec<T>> {
        let context = || format!("read {what}");
        let mut res = self
            .store
            .db()
            .await?
            .query(sql)
            .bind(("ids", ids))
            .await
            .map_err(|e| db_error(context(), e))?;
        res.take(0).map_err(|e| db_error(context(), e))
    }

    /// Files that are to one of `names` any of the roles in `roles`.
    pub async fn files_with(self, names: &[String], roles: u8) -> Result<Vec<String>> {
        let mut files: BTreeSet<String> = BTreeSet::new();
        for entry in self.name_entries(names).await?.into_values() {
            files.extend(entry.files.into_iter().filter(|(_, r)| r & roles != 0).map(|(f, _)| f));
        }
        Ok(files.into_iter().collect())
    }

    /// Units named one of `names`, as resolution needs them.
    pub async fn symbols_named(self, names: &[String]) -> Result<Vec<Symbol>> {
        let mut symbols: Vec<Symbol> =
            self.name_entries(names).await?.into_values().flat_map(|e| e.symbols).collect();
        symbols.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(symbols)
    }

    /// Marks the graph as being written: until `write_graph` finishes, it
    /// describes no snapshot (an index cut short is redone from scratch).
    pub async fn begin_graph_write(self) -> Result<()> {
        health::check_writable()?;
        self.store.graph_rows.begin_write(&self.store.ns);
        self.set_graph_root(None).await
    }

    /// Writes the records of files parsed again, replacing their old ones,
    /// in a task of its own, so that the indexer resolves meanwhile: the
    /// writes wait on the disk as much as on a core. `begin_graph_write`
    /// comes first. (An empty graph is written by `parse_writer`.)
    pub fn write_files(self, files: Arc<Vec<CodeFile>>) -> FileWrites {
        let (conn, ns) = (self.store.conn.clone(), self.store.ns.clone());
        FileWrites(tokio::spawn(async move {
            let db = conn.client(&ns).await?;
            let gone: Vec<RecordId> = files
                .iter()
                .flat_map(|f| {
                    [file_record("code_file", &f.path), file_record("code_parse", &f.path)]
                })
                .collect();
            if files.len() <= SMALL_WRITE {
                let (rows, parses) = file_rows(&files);
                return one_transaction(
                    &db,
                    "DELETE $gone; INSERT INTO code_file $rows RETURN NONE; \
                     INSERT INTO code_parse $parses RETURN NONE;",
                    |q| q.bind(("gone", gone)).bind(("rows", rows)).bind(("parses", parses)),
                )
                .await;
            }
            delete_ids(&db, gone).await?;
            // Encoded a batch at a time, as written.
            for batch in files.chunks(BATCH) {
                let (rows, parses) = file_rows(batch);
                insert_rows(&db, "INSERT INTO code_file $rows RETURN NONE", rows).await?;
                insert_rows(&db, "INSERT INTO code_parse $rows RETURN NONE", parses).await?;
            }
            Ok(())
        }))
    }

    /// Applies one change to the graph of `from` and records `root` as
    /// what it now describes. `begin_graph_write` comes first, and `files`
    /// (the writes of `write_files`) are waited for before the mark is set.
    pub async fn write_graph(
        self,
        change: GraphWrite,
        files: FileWrites,
        (from, root): (ContentHash, ContentHash),
    ) -> Result<()> {
        health::check_writable()?;
        let mut change = change;
        let (buckets, gone) = self.updated_buckets(&change).await?;
        tracing::debug!(buckets = buckets.len(), "name index updated in memory");
        let emptied: Vec<u32> =
            buckets.iter().filter(|(_, b)| b.is_empty()).map(|(&n, _)| n).collect();
        let index: Vec<(u32, Patched)> =
            buckets.into_iter().filter(|(_, b)| !b.is_empty()).collect();
        let encoded: Vec<(u32, Arc<str>)> =
            crate::par::map(&index, |(n, b)| (*n, Arc::from(b.encode())));
        let rows: Vec<BucketRow> = encoded
            .iter()
            .map(|(n, names)| BucketRow { id: bucket_record(*n), names: names.to_string() })
            .collect();
        tracing::debug!("graph rows built");
        let db = self.store.db().await?;
        let edges = std::mem::take(&mut change.edges);
        // The files whose rows this write replaces or removes.
        let mut replaced: Vec<RowKey> = Vec::new();
        for path in change.removed.iter().chain(edges.iter().map(|(p, _)| p)) {
            replaced.push(RowKey::Units(path.clone()));
            replaced.push(RowKey::Edges(path.clone()));
        }
        replaced.extend(emptied.iter().map(|&b| RowKey::Bucket(b)));
        if edges.len() <= SMALL_WRITE && rows.len() <= SMALL_WRITE * 8 {
            let edges: Vec<EdgesRow> = edges.iter().map(|(p, e)| edges_row(p, e)).collect();
            one_transaction(
                &db,
                "DELETE $gone; INSERT INTO code_edges $edges RETURN NONE; \
                 INSERT INTO code_names $names RETURN NONE;",
                |q| q.bind(("gone", gone)).bind(("edges", edges)).bind(("names", rows)),
            )
            .await?;
        } else {
            delete_ids(&db, gone).await?;
            insert_edges(&db, edges).await?;
            insert_rows(&db, "INSERT INTO code_names $rows RETURN NONE", rows).await?;
        }
        files.wait().await?;
        tracing::debug!("graph written");
        self.set_graph_root(Some(root)).await?;
        let written: Vec<(RowKey, Row)> =
            encoded.into_iter().map(|(n, row)| (RowKey::Bucket(n), Row::Bucket(row))).collect();
        self.store.graph_rows.written(&self.store.ns, (from, root), &written, &replaced);
        tracing::debug!("graph root set");
        Ok(())
    }

    /// Records `root` as what the graph now describes: the end of a full
    /// write `begin_graph_write` started.
    pub async fn end_graph_write(self, root: ContentHash) -> Result<()> {
        self.set_graph_root(Some(root)).await?;
        self.store.graph_rows.forget(&self.store.ns);
        tracing::debug!("graph root set");
        Ok(())
    }

    /// The name index's buckets that `change` touches, read and updated:
    /// what it replaces is deleted (by id, no scan) for the new rows to
    /// take its place.
    async fn updated_buckets(
        self,
        change: &GraphWrite,
    ) -> Result<(BTreeMap<u32, Patched>, Vec<RecordId>)> {
        let mut changing: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
        for (_, before, after) in &change.names {
            for name in changed_names(before, after) {
                changing.entry(bucket_of(&name)).or_default().insert(name);
            }
        }
        let touched: BTreeSet<u32> = changing.keys().copied().collect();
        let mut buckets: BTreeMap<u32, Patched> =
            touched.iter().map(|&b| (b, Patched::default())).collect();
        for (n, row) in self.bucket_rows(&touched).await? {
            buckets.insert(n, Patched::split(&row, &changing[&n])?);
        }
        for (path, before, after) in &change.names {
            apply_names(&mut buckets, path, before, after);
        }
        // A name a file consulted is among its changed names each time it
        // is indexed, and is most often already in the index as it was.
        buckets.retain(|_, b| b.dirty);
        let mut gone: Vec<RecordId> = Vec::new();
        for path in &change.removed {
            gone.push(file_record("code_file", path));
            gone.push(file_record("code_parse", path));
        }
        for path in change.removed.iter().chain(change.edges.iter().map(|(p, _)| p)) {
            gone.push(file_record("code_edges", path));
        }
        gone.extend(buckets.keys().map(|&b| bucket_record(b)));
        Ok((buckets, gone))
    }
}

pub(super) fn code_file_row(f: &CodeFile) -> CodeFileRow {
    CodeFileRow {
        id: file_record("code_file", &f.path),
        language: f.language.as_str().to_owned(),
        content: f.content.to_hex(),
        skipped: f.parsed.skipped.clone(),
        diagnostics: f.parsed.diagnostics.len() as i64,
        units: f.parsed.units.len().saturating_sub(1) as i64,
    }
}

/// Writes under way in a task of their own (`Store::write_files`).
pub struct FileWrites(pub(super) tokio::task::JoinHandle<Result<()>>);

impl FileWrites {
    pub async fn wait(self) -> Result<()> {
        self.0.await.map_err(|e| Error::Internal(format!("graph writer: {e}")))?
    }
}

/// Files at most in a write made as one transaction: one commit rather
/// than one per statement, for the writes one save through a mount makes.
const SMALL_WRITE: usize = 16;

/// Runs `statements` (binding what `bind` binds) as one transaction.
async fn one_transaction<'a>(
    db: &'a super::client::Client,
    statements: &str,
    bind: impl FnOnce(super::client::Query<'a>) -> super::client::Query<'a>,
) -> Result<()> {
    let sql = format!("BEGIN TRANSACTION; {statements} COMMIT TRANSACTION;");
    bind(db.query(sql))
        .await
        .and_then(|r| r.check())
        .map_err(|e| db_error("write the graph", e))?;
    Ok(())
}

fn file_rows(files: &[CodeFile]) -> (Vec<CodeFileRow>, Vec<ParseRow>) {
    let rows = files.iter().map(code_file_row).collect();
    let parses = files
        .iter()
        .map(|f| ParseRow {
            id: file_record("code_parse", &f.path),
            units: codec::encode_units(&f.parsed.units),
            rest: codec::encode_rest(&f.parsed),
        })
        .collect();
    (rows, parses)
}

fn edges_row(path: &str, edges: &[Edge]) -> EdgesRow {
    EdgesRow {
        id: file_record("code_edges", path),
        edges: codec::encode_edges(edges),
        count: edges.len() as i64,
    }
}

async fn delete_ids(db: &super::client::Client, ids: Vec<RecordId>) -> Result<()> {
    for chunk in ids.chunks(BATCH) {
        db.query("DELETE $ids")
            .bind(("ids", chunk.to_vec()))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error("replace graph records", e))?;
    }
    Ok(())
}

pub(super) async fn insert_rows<T: SurrealValue>(
    db: &super::client::Client,
    sql: &str,
    rows: Vec<T>,
) -> Result<()> {
    let mut rows = rows;
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(BATCH));
        let batch = std::mem::replace(&mut rows, rest);
        db.query(sql)
            .bind(("rows", batch))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error("write the graph", e))?;
    }
    Ok(())
}

/// A file's symbols by name.
fn symbols_by_name(f: &FileNames) -> BTreeMap<&str, Vec<&Symbol>> {
    let mut m: BTreeMap<&str, Vec<&Symbol>> = BTreeMap::new();
    for s in &f.symbols {
        m.entry(s.name.as_str()).or_default().push(s);
    }
    m
}

/// The names whose entries differ between two pictures of one file.
fn changed_names(before: &FileNames, after: &FileNames) -> Vec<String> {
    let mut out: BTreeSet<&str> = BTreeSet::new();
    for (name, role) in &before.roles {
        if after.roles.get(name) != Some(role) {
            out.insert(name);
        }
    }
    for (name, role) in &after.roles {
        if before.roles.get(name) != Some(role) {
            out.insert(name);
        }
    }
    let (a, b) = (symbols_by_name(before), symbols_by_name(after));
    for name in a.keys().chain(b.keys()) {
        if a.get(name) != b.get(name) {
            out.insert(name);
        }
    }
    out.into_iter().map(str::to_owned).collect()
}

/// Replaces a file's entries (`before`) with `after` in the buckets, which
/// hold every bucket a changed name falls in, marking those it changes.
fn apply_names(
    buckets: &mut BTreeMap<u32, Patched>,
    path: &str,
    before: &FileNames,
    after: &FileNames,
) {
    let symbols = symbols_by_name(after);
    for name in changed_names(before, after) {
        let patched = buckets.entry(bucket_of(&name)).or_default();
        let entry = patched.entries.entry(name.clone()).or_default();
        let role = after.roles.get(&name).copied();
        let mut changed = match role {
            Some(role) => entry.files.insert(path.to_owned(), role) != Some(role),
            None => entry.files.remove(path).is_some(),
        };
        let (mine, others): (Vec<Symbol>, Vec<Symbol>) =
            std::mem::take(&mut entry.symbols).into_iter().partition(|s| s.path == path);
        let new: Vec<Symbol> = symbols
            .get(name.as_str())
            .map(|new| new.iter().map(|s| (*s).clone()).collect())
            .unwrap_or_default();
        changed |= mine != new;
        entry.symbols = others;
        entry.symbols.extend(new);
        if entry.files.is_empty() && entry.symbols.is_empty() {
            patched.entries.remove(&name);
        }
        patched.dirty |= changed;
    }
}

/// Writes files' edges, encoded a batch at a time as they are written.
pub(super) async fn insert_edges(
    db: &super::client::Client,
    edges: Vec<(String, Vec<Edge>)>,
) -> Result<()> {
    for batch in edges.chunks(BATCH) {
        let rows: Vec<EdgesRow> =
            batch.iter().map(|(path, edges)| edges_row(path, edges)).collect();
        insert_rows(db, "INSERT INTO code_edges $rows RETURN NONE", rows).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_paths_are_remembered_for_the_last_few_snapshots() {
        let cache = CodePathsCache::default();
        let root = |n: usize| ContentHash::of(&n.to_le_bytes());
        for n in 0..=CodePathsCache::ROOTS {
            cache.put(root(n), Arc::new(vec![format!("f{n}.rs")]));
        }
        assert!(cache.get(root(0)).is_none(), "the oldest left");
        assert_eq!(*cache.get(root(1)).unwrap(), vec!["f1.rs"]);
        // Put again: replaced, not doubled.
        cache.put(root(1), Arc::new(vec!["g.rs".into()]));
        assert_eq!(*cache.get(root(1)).unwrap(), vec!["g.rs"]);
        assert_eq!(cache.0.lock().unwrap().len(), CodePathsCache::ROOTS);
    }
}
