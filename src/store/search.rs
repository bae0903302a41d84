//! Search rows and vectors (migrations 0011, 0016): `search_unit` (a row
//! per unit with its keyword text and its number in the posting lists),
//! `search_post` (the keyword index: `postings`' records), `search_vec`
//! (the vectors embedded so far, under an HNSW index) in the view's
//! namespace, and `vector_cache` in main's (a text's vector, shared by
//! every view). `meta:search_root:<w>` names the snapshot the rows
//! describe for window `w`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use surrealdb::types::{RecordId, SurrealValue};

use super::Store;
use super::graph::key_string;
use super::health::{self, db_error};
use super::postings;
use super::retry::retrying;
use crate::error::{Error, Result};
use crate::ids::ContentHash;

/// How far a view's search rows and vectors are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub units: u64,
    pub embedded: u64,
}

/// Rows per INSERT statement.
const BATCH: usize = 500;

/// The HNSW search's candidate list (`ef`), at least the k asked for.
const EF: usize = 64;

/// A unit as search keeps it.
#[derive(Clone, Debug)]
pub struct SearchRow {
    pub id: String,
    pub file: String,
    pub kind: String,
    pub lang: String,
    pub line: u32,
    pub signature: String,
    /// What the keyword index reads.
    pub text: String,
    /// What the model reads.
    pub embed: String,
    pub key: String,
    /// When its vector is made: 0 first (`tier_of`).
    pub tier: u8,
}

/// Tiers of embedding order: the units a search is likeliest to want are
/// embedded first, since a million units take hours.
pub const TIERS: u8 = 3;

/// A unit's tier: public API (exported or `pub`, not a test), then the rest
/// of the code, then tests.
pub fn tier_of(exported: bool, is_test: bool) -> u8 {
    match (is_test, exported) {
        (true, _) => 2,
        (false, true) => 0,
        (false, false) => 1,
    }
}

/// What is shown of a hit.
#[derive(Clone, Debug, SurrealValue)]
pub struct HitRow {
    pub id: RecordId,
    pub file: String,
    pub kind: String,
    pub line: u32,
    pub signature: String,
    /// `tier_of`; none on rows written before tiers.
    pub tier: Option<u8>,
}

/// A unit waiting for its vector.
#[derive(Clone, Debug, SurrealValue)]
pub struct Pending {
    pub id: String,
    pub key: String,
    pub embed: String,
    pub file: String,
    pub kind: String,
    pub lang: String,
}

#[derive(Debug, SurrealValue)]
struct PendingRow {
    id: RecordId,
    key: String,
    embed: String,
    file: String,
    kind: String,
    lang: String,
}

#[derive(Debug, SurrealValue)]
struct Scored {
    id: RecordId,
    score: f64,
}

/// A `search_unit` row as written.
#[derive(Clone, Debug, SurrealValue)]
struct UnitRecord {
    id: RecordId,
    file: String,
    kind: String,
    lang: String,
    line: i64,
    signature: String,
    text: String,
    embed: String,
    key: String,
    embedded: bool,
    tier: i64,
    doc: i64,
    len: i64,
}

/// A `search_vec` row as written.
#[derive(Clone, Debug, SurrealValue)]
struct VecRecord {
    id: RecordId,
    file: String,
    kind: String,
    lang: String,
    embedding: Vec<f32>,
}

#[derive(Debug, SurrealValue)]
struct CachedRow {
    id: RecordId,
    vector: Vec<f32>,
}

/// Filters, applied inside the index searches.
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    pub path_regex: Option<String>,
    pub kind: Option<String>,
    pub language: Option<String>,
}

impl SearchQuery {
    /// The WHERE conjuncts, each on a bound parameter.
    fn conditions(&self) -> String {
        let mut c = String::new();
        if self.path_regex.is_some() {
            c.push_str(" AND string::matches(file, $path_regex)");
        }
        if self.kind.is_some() {
            c.push_str(" AND kind = $kind");
        }
        if self.language.is_some() {
            c.push_str(" AND lang = $lang");
        }
        c
    }
}

/// What the rows hold: bumped when their text or tier is made differently,
/// so that rows written before describe no snapshot and are built again.
const ROWS_VERSION: u32 = 3;

/// The meta key naming the snapshot the rows for `window` describe.
fn root_key(window: usize) -> String {
    format!("search_root_{window}_v{ROWS_VERSION}")
}

fn row_id(table: &str, id: &str) -> RecordId {
    RecordId::new(table, id)
}

/// The words of a keyword query, lowercased, without the words that
/// carry no meaning in a question ("where do we…"). Identifiers stay as
/// they are for the analyzer to split.
pub fn query_words(query: &str) -> String {
    const STOP: &[&str] = &[
        "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "get",
        "how", "i", "in", "into", "is", "it", "its", "of", "on", "or", "that", "the", "their",
        "there", "this", "to", "we", "what", "when", "where", "which", "who", "why", "with", "you",
        "our", "my", "me", "one", "some", "any", "all", "code", "function", "find",
    ];
    query
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty() && !STOP.contains(&w.to_lowercase().as_str()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A view's search rows: keyword and vector search, the vectors still to compute, and the vector
/// cache: a facet of [`Store`], from [`Store::search`].
#[derive(Clone, Copy, Debug)]
pub struct SearchIndex<'a> {
    pub(super) store: &'a Store,
}

impl SearchIndex<'_> {
    /// The snapshot root the search rows for `window` describe.
    pub async fn search_root(self, window: usize) -> Result<Option<ContentHash>> {
        match self.store.meta_get(&root_key(window)).await? {
            Some(hex) if !hex.is_empty() => Ok(Some(ContentHash::from_hex(&hex)?)),
            _ => Ok(None),
        }
    }

    /// Replaces the rows of `paths` with `rows` (all rows when `fresh`),
    /// their postings with them; given `done`, records it as the snapshot
    /// the rows describe (until then they describe none: a build cut short
    /// starts again). Vectors already cached are attached at once.
    pub async fn replace_search_rows(
        self,
        paths: &[String],
        rows: &[SearchRow],
        fresh: bool,
        done: Option<ContentHash>,
        window: usize,
    ) -> Result<()> {
        health::check_writable()?;
        let key = root_key(window);
        self.store.meta_set(&key, "").await?;
        // Rows these files had: their postings go, the counts move by the
        // difference.
        let mut changes = postings::Changes::default();
        let (replaced, replaced_len, docs) =
            if fresh { (0, 0, Vec::new()) } else { self.unindex_rows(paths, &mut changes).await? };
        self.delete_rows(paths, fresh).await?;
        let (vectors, len) = self.add_rows(rows, changes, &docs, None).await?;
        match done {
            Some(root) => {
                self.count_search_rows().await?;
                self.store.meta_set(&key, &root.to_hex()).await
            }
            // Between batches of a build the counts move by what this batch
            // changed (vectors of replaced rows are not subtracted: the
            // progress shown clamps them); counting the table after every
            // batch made a build over a million units quadratic.
            None => {
                let units = rows.len() as i64 - replaced as i64;
                self.add_to_counts(units, vectors as i64, len as i64 - replaced_len as i64).await
            }
        }
    }

    /// Takes the postings of the rows `paths` have now into `changes`;
    /// returns how many rows that is, their length in terms and their doc
    /// numbers.
    async fn unindex_rows(
        self,
        paths: &[String],
        changes: &mut postings::Changes,
    ) -> Result<(usize, u64, Vec<u64>)> {
        #[derive(Debug, SurrealValue)]
        struct Old {
            doc: Option<i64>,
            text: String,
        }
        let ctx = "write search rows";
        let (mut replaced, mut len, mut docs) = (0, 0, Vec::new());
        for chunk in paths.chunks(BATCH) {
            let mut res = self
                .store
                .db()
                .await?
                .query("SELECT doc, text FROM search_unit WHERE file IN $files")
                .bind(("files", chunk.to_vec()))
                .await
                .map_err(|e| db_error(ctx, e))?;
            let old: Vec<Old> = res.take(0).map_err(|e| db_error(ctx, e))?;
            replaced += old.len();
            for o in old {
                if let Some(doc) = o.doc {
                    len += u64::from(changes.remove_doc(doc as u64, &o.text));
                    docs.push(doc as u64);
                }
            }
        }
        Ok((replaced, len, docs))
    }

    /// Writes rows (numbered from the view's counter) and their postings,
    /// with the vectors `given` (or else the cache) has for their keys,
    /// applying `changes` to the postings and taking the numbers `gone`
    /// out. Returns how many vectors
    /// were attached and the rows' length in terms.
    async fn add_rows(
        self,
        rows: &[SearchRow],
        mut changes: postings::Changes,
        gone: &[u64],
        given: Option<&HashMap<String, Vec<f32>>>,
    ) -> Result<(usize, u64)> {
        let first = self.number_docs(rows.len()).await?;
        let mut numbered = Vec::with_capacity(rows.len());
        let mut len = 0;
        for (i, r) in rows.iter().enumerate() {
            let doc = first + i as u64;
            let n = changes.add_doc(doc, &r.text);
            len += u64::from(n);
            numbered.push((r, doc, n));
        }
        let mut vectors = 0;
        for chunk in numbered.chunks(BATCH) {
            let cached = match given {
                Some(v) => v.clone(),
                None => {
                    let keys: Vec<String> = chunk.iter().map(|(r, ..)| r.key.clone()).collect();
                    self.cached_vectors(&keys).await?
                }
            };
            vectors += chunk.iter().filter(|(r, ..)| cached.contains_key(&r.key)).count();
            self.insert_search_rows(chunk, &cached).await?;
        }
        self.write_postings(&changes).await?;
        let entries = numbered
            .iter()
            .map(|&(r, doc, _)| postings::DocEntry {
                doc,
                unit: r.id.clone(),
                file: r.file.clone(),
                kind: r.kind.clone(),
                lang: r.lang.clone(),
            })
            .collect();
        self.write_docs(gone, entries).await?;
        Ok((vectors, len))
    }

    /// Deletes the rows and vectors of `paths` (of every file when `all`,
    /// with the keyword index and the counts).
    async fn delete_rows(self, paths: &[String], all: bool) -> Result<()> {
        let ctx = "write search rows";
        let db = self.store.db().await?;
        if all {
            return retrying(ctx, || async {
                db.query(
                    "DELETE search_unit; DELETE search_vec; DELETE search_post; DELETE search_doc; \
                     UPSERT meta:search_units SET value = '0'; \
                     UPSERT meta:search_len SET value = '0'; \
                     UPSERT meta:search_next_doc SET value = '0'; \
                     UPSERT meta:search_embedded SET n = 0;",
                )
                .await?
                .check()
            })
            .await
            .map(drop);
        }
        for chunk in paths.chunks(BATCH) {
            retrying(ctx, || async {
                db.query(
                    "DELETE search_unit WHERE file IN $files; \
                     DELETE search_vec WHERE file IN $files;",
                )
                .bind(("files", chunk.to_vec()))
                .await?
                .check()
            })
            .await?;
        }
        Ok(())
    }

    /// Writes rows, with the vectors `vectors` has for their keys. The rows
    /// of their files are gone by now (`replace_search_rows`), so they are
    /// inserted, in one statement per table: a FOR loop of UPSERTs copied
    /// each row's object for every field it read. IGNORE keeps a retry
    /// idempotent: a row there already is one an earlier try wrote.
    /// Each row comes with its doc number and length in terms.
    async fn insert_search_rows(
        self,
        rows: &[(&SearchRow, u64, u32)],
        vectors: &HashMap<String, Vec<f32>>,
    ) -> Result<()> {
        let units: Vec<UnitRecord> = rows
            .iter()
            .map(|&(r, doc, len)| UnitRecord {
                id: row_id("search_unit", &r.id),
                file: r.file.clone(),
                kind: r.kind.clone(),
                lang: r.lang.clone(),
                line: i64::from(r.line),
                signature: r.signature.clone(),
                text: r.text.clone(),
                embed: r.embed.clone(),
                key: r.key.clone(),
                embedded: vectors.contains_key(&r.key),
                tier: i64::from(r.tier),
                doc: doc as i64,
                len: i64::from(len),
            })
            .collect();
        let vecs: Vec<VecRecord> = rows
            .iter()
            .filter_map(|&(r, ..)| {
                Some(VecRecord {
                    id: row_id("search_vec", &r.id),
                    file: r.file.clone(),
                    kind: r.kind.clone(),
                    lang: r.lang.clone(),
                    embedding: vectors.get(&r.key)?.clone(),
                })
            })
            .collect();
        let db = self.store.db().await?;
        retrying("write search rows", || async {
            db.query(
                "INSERT IGNORE INTO search_unit $units RETURN NONE; \
                 INSERT IGNORE INTO search_vec $vecs RETURN NONE;",
            )
            .bind(("units", units.clone()))
            .bind(("vecs", vecs.clone()))
            .await?
            .check()
        })
        .await?;
        Ok(())
    }

    /// For benchmarks only: copies the view's rows and vectors (under
    /// `copyN/` paths, vectors nudged so that copies are not identical)
    /// until there are `units` rows. Returns the count. Built only with
    /// the `bench` feature (`scripts/bench-search.sh`).
    // Long: a benchmark's fixture, read top to bottom once; its two row
    // types are its own.
    #[cfg(feature = "bench")]
    pub async fn replicate_search_rows_for_bench(self, units: usize) -> Result<u64> {
        #[derive(Debug, SurrealValue)]
        struct Full {
            id: RecordId,
            file: String,
            kind: String,
            lang: String,
            line: u32,
            signature: String,
            text: String,
            embed: String,
            key: String,
        }
        #[derive(Debug, SurrealValue)]
        struct Vector {
            id: RecordId,
            embedding: Vec<f32>,
        }
        let mut res = self
            .store.db().await?
            .query("SELECT * FROM search_unit WHERE !string::starts_with(file, 'copy'); SELECT id, embedding FROM search_vec;")
            .await
            .map_err(|e| db_error("read search rows", e))?;
        let rows: Vec<Full> = res.take(0).map_err(|e| db_error("read search rows", e))?;
        let vecs: Vec<Vector> = res.take(1).map_err(|e| db_error("read search rows", e))?;
        let vecs: HashMap<String, Vec<f32>> = vecs
            .into_iter()
            .map(|v| Ok((key_string(&v.id)?, v.embedding)))
            .collect::<Result<_>>()?;
        let mut total = self.search_progress().await?.units as usize;
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut copy = 1;
        while total < units && !rows.is_empty() {
            let take = (units - total).min(rows.len());
            let mut batch = Vec::new();
            let mut vectors = HashMap::new();
            for r in &rows[..take] {
                let id = key_string(&r.id)?;
                let key = format!("{}#copy{copy}", r.key);
                if let Some(v) = vecs.get(&id) {
                    let mut v: Vec<f32> = v
                        .iter()
                        .map(|x| {
                            seed ^= seed << 13;
                            seed ^= seed >> 7;
                            seed ^= seed << 17;
                            x + ((seed % 2001) as f32 / 1000.0 - 1.0) * 0.02
                        })
                        .collect();
                    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    v.iter_mut().for_each(|x| *x /= n);
                    vectors.insert(key.clone(), v);
                }
                batch.push(SearchRow {
                    id: format!("{id}#copy{copy}"),
                    file: format!("copy{copy}/{}", r.file),
                    kind: r.kind.clone(),
                    lang: r.lang.clone(),
                    line: r.line,
                    signature: r.signature.clone(),
                    text: r.text.clone(),
                    embed: r.embed.clone(),
                    key,
                    tier: 1,
                });
            }
            self.add_rows(&batch, postings::Changes::default(), &[], Some(&vectors)).await?;
            total += take;
            copy += 1;
        }
        self.count_search_rows().await?;
        Ok(total as u64)
    }

    /// Up to `limit` units without a vector, the lowest tiers first (rows
    /// written before tiers existed last).
    pub async fn pending_vectors(self, limit: usize) -> Result<Vec<Pending>> {
        let db = self.store.db().await?;
        let mut out: Vec<Pending> = Vec::new();
        for tier in (0..TIERS).map(Some).chain([None]) {
            if out.len() >= limit {
                break;
            }
            let which = if tier.is_some() { "tier = $tier" } else { "tier = NONE" };
            let mut res = db
                .query(format!(
                    "SELECT id, key, embed, file, kind, lang FROM search_unit \
                     WHERE embedded = false AND {which} LIMIT $limit"
                ))
                .bind(("tier", tier.map(i64::from).unwrap_or(0)))
                .bind(("limit", (limit - out.len()) as i64))
                .await
                .map_err(|e| db_error("find units to embed", e))?;
            let rows: Vec<PendingRow> =
                res.take(0).map_err(|e| db_error("find units to embed", e))?;
            for r in rows {
                out.push(Pending {
                    id: key_string(&r.id)?,
                    key: r.key,
                    embed: r.embed,
                    file: r.file,
                    kind: r.kind,
                    lang: r.lang,
                });
            }
        }
        Ok(out)
    }

    /// Vectors the cache holds for these keys.
    pub async fn cached_vectors(self, keys: &[String]) -> Result<HashMap<String, Vec<f32>>> {
        let ids: Vec<RecordId> = keys.iter().map(|k| row_id("vector_cache", k)).collect();
        let mut res = self
            .store
            .objects_db()
            .await?
            .query("SELECT id, vector FROM $ids")
            .bind(("ids", ids))
            .await
            .map_err(|e| db_error("read cached vectors", e))?;
        let rows: Vec<CachedRow> = res.take(0).map_err(|e| db_error("read cached vectors", e))?;
        rows.into_iter().map(|r| Ok((key_string(&r.id)?, r.vector))).collect()
    }

    /// Keeps vectors in the cache.
    pub async fn cache_vectors(self, vectors: &[(String, Vec<f32>)]) -> Result<()> {
        health::check_writable()?;
        for chunk in vectors.chunks(BATCH) {
            let rows: Vec<serde_json::Value> =
                chunk.iter().map(|(k, v)| serde_json::json!({ "key": k, "vector": v })).collect();
            self.store
                .objects_db()
                .await?
                .query(
                    "FOR $r IN $rows { \
                       UPSERT type::record('vector_cache', $r.key) SET vector = $r.vector }",
                )
                .bind(("rows", rows))
                .await
                .and_then(|r| r.check())
                .map_err(|e| db_error("cache vectors", e))?;
        }
        Ok(())
    }

    /// Gives these pending units their vectors.
    pub async fn set_vectors(
        self,
        units: &[Pending],
        vectors: &[(String, Vec<f32>)],
    ) -> Result<()> {
        health::check_writable()?;
        let by_id: HashMap<&str, &Vec<f32>> =
            vectors.iter().map(|(id, v)| (id.as_str(), v)).collect();
        let rows: Vec<serde_json::Value> = units
            .iter()
            .filter_map(|u| {
                let v = by_id.get(u.id.as_str())?;
                Some(serde_json::json!({
                    "id": u.id, "key": u.key, "file": u.file, "kind": u.kind, "lang": u.lang,
                    "embedding": v,
                }))
            })
            .collect();
        for chunk in rows.chunks(BATCH) {
            // A row replaced since it was read (another text) keeps waiting.
            // The guard makes a retried write count each vector once.
            let db = self.store.db().await?;
            retrying("write vectors", || async {
                db
                    .query(
                        "FOR $r IN $rows { \
                           LET $u = (SELECT key, embedded FROM ONLY type::record('search_unit', $r.id)); \
                           IF $u.key = $r.key AND $u.embedded = false { \
                             UPSERT type::record('search_vec', $r.id) CONTENT { \
                               file: $r.file, kind: $r.kind, lang: $r.lang, embedding: $r.embedding }; \
                             UPDATE type::record('search_unit', $r.id) SET embedded = true; \
                             UPSERT meta:search_embedded SET n = (n ?? 0) + 1; \
                           } }",
                    )
                    .bind(("rows", chunk.to_vec()))
                    .await?
                    .check()
            })
            .await?;
        }
        Ok(())
    }

    /// How many units the view has rows for, and how many have vectors,
    /// from two counters: no table is scanned (counting 150,000 pending
    /// rows through the `embedded` index took 150 ms of every search).
    /// Both are counted whole when rows change (`count_search_rows`); the
    /// embedded count also goes up with each vector `set_vectors` writes.
    pub async fn search_progress(self) -> Result<Progress> {
        let read = async || -> Result<(Option<String>, Option<i64>)> {
            let mut res = self
                .store
                .db()
                .await?
                .query(
                    "(SELECT VALUE value FROM ONLY meta:search_units) ?? '0'; \
                     SELECT VALUE n FROM ONLY meta:search_embedded;",
                )
                .await
                .map_err(|e| db_error("count search rows", e))?;
            let units: Option<String> =
                res.take(0).map_err(|e| db_error("count search rows", e))?;
            let embedded: Option<i64> =
                res.take(1).map_err(|e| db_error("count search rows", e))?;
            Ok((units, embedded))
        };
        let (mut units, mut embedded) = read().await?;
        if embedded.is_none() {
            // A store from before the counter: count once (unless the store
            // takes no writes: then there is nothing to count from yet).
            match self.count_search_rows().await {
                Ok(()) => (units, embedded) = read().await?,
                Err(Error::StoreFailed(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let units: u64 = units.and_then(|u| u.parse().ok()).unwrap_or(0);
        Ok(Progress { units, embedded: (embedded.unwrap_or(0).max(0) as u64).min(units) })
    }

    /// Moves the counts `search_progress` and BM25 read by these amounts,
    /// all or none (one transaction: a retry adds once).
    async fn add_to_counts(self, units: i64, embedded: i64, len: i64) -> Result<()> {
        health::check_writable()?;
        let db = self.store.db().await?;
        retrying("count search rows", || async {
            db.query(
                "BEGIN TRANSACTION; \
                 UPSERT meta:search_units SET value = \
                   <string> math::max([0, <int> (value ?? '0') + $units]); \
                 UPSERT meta:search_len SET value = \
                   <string> math::max([0, <int> (value ?? '0') + $len]); \
                 UPSERT meta:search_embedded SET n = (n ?? 0) + $embedded; \
                 COMMIT TRANSACTION;",
            )
            .bind(("units", units))
            .bind(("embedded", embedded))
            .bind(("len", len))
            .await?
            .check()
        })
        .await?;
        Ok(())
    }

    /// Counts the rows, their length in terms and the vectors (after rows
    /// change) for `search_progress` and BM25.
    async fn count_search_rows(self) -> Result<()> {
        health::check_writable()?;
        // Counts written whole: racing `set_vectors`' increment, it is
        // tried again.
        let db = self.store.db().await?;
        let (n, len): (Option<i64>, Option<i64>) = retrying("count search rows", || async {
            let mut res = db
                .query(
                    "SELECT count() AS n, math::sum(len ?? 0) AS len FROM search_unit GROUP ALL; \
                     UPSERT meta:search_embedded SET n = (SELECT count() AS n FROM search_vec GROUP ALL)[0].n ?? 0;",
                )
                .await?
                .check()?;
            let n: Option<i64> = res.take((0, "n"))?;
            let len: Option<i64> = res.take((0, "len"))?;
            Ok((n, len))
        })
        .await?;
        self.store.meta_set("search_units", &n.unwrap_or(0).to_string()).await?;
        self.store.meta_set("search_len", &len.unwrap_or(0).to_string()).await
    }

    /// The `limit` units nearest the vector (cosine similarity), best first.
    #[tracing::instrument(name = "search.vector", level = "debug", skip_all)]
    pub async fn vector_search(
        self,
        vector: &[f32],
        filters: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<(String, f64)>> {
        // k and ef are numbers of ours, written into the operator (it takes
        // no parameters); everything from the user is bound.
        let sql = format!(
            "SELECT id, 1 - vector::distance::knn() AS score FROM search_vec \
             WHERE embedding <|{limit},{ef}|> $vector{} ORDER BY score DESC",
            filters.conditions(),
            ef = EF.max(limit),
        );
        let mut res = self
            .store
            .db()
            .await?
            .query(sql)
            .bind(("vector", vector.to_vec()))
            .bind(("path_regex", filters.path_regex.clone()))
            .bind(("kind", filters.kind.clone()))
            .bind(("lang", filters.language.clone()))
            .await
            .map_err(|e| db_error("vector search", e))?;
        let rows: Vec<Scored> = res.take(0).map_err(|e| db_error("vector search", e))?;
        rows.into_iter().map(|r| Ok((key_string(&r.id)?, r.score))).collect()
    }

    /// What to show of these units.
    #[tracing::instrument(name = "search.rows", level = "debug", skip_all)]
    pub async fn search_rows(self, ids: &[String]) -> Result<HashMap<String, HitRow>> {
        let ids: Vec<RecordId> = ids.iter().map(|id| row_id("search_unit", id)).collect();
        let mut res = self
            .store
            .db()
            .await?
            .query("SELECT id, file, kind, line, signature, tier FROM $ids")
            .bind(("ids", ids))
            .await
            .map_err(|e| db_error("read search rows", e))?;
        let rows: Vec<HitRow> = res.take(0).map_err(|e| db_error("read search rows", e))?;
        rows.into_iter().map(|r| Ok((key_string(&r.id)?, r))).collect()
    }
}
