//! Search rows and vectors (migration 0011): `search_unit` (a row per unit
//! with its text under a BM25 index), `search_vec` (the vectors embedded so
//! far, under an HNSW index) in the view's namespace, and `vector_cache` in
//! main's (a text's vector, shared by every view). `meta:search_root:<w>`
//! names the snapshot the rows describe for window `w`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use surrealdb::types::{RecordId, SurrealValue};

use super::Store;
use super::graph::key_string;
use super::health::{self, db_error};
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

/// Buckets of the document-frequency table (`search_terms`).
const TERM_BUCKETS: u64 = 1024;

/// How many documents a keyword search may match, summed over its words'
/// document frequencies. SurrealDB's BM25 scores every document that holds
/// any word of an OR query (reading each one's term list): a question in
/// words over 100,000 units took 1.7 s. Words beyond this budget, the
/// commonest first, are left out; they weigh least in BM25 anyway. The
/// rarest word is always kept.
const MATCH_BUDGET: u64 = CANDIDATES as u64;

/// Most matches a keyword search scores (see `keyword_search`): with the
/// words within MATCH_BUDGET, all of them; with one word commoner than
/// that, the first CANDIDATES found. 500 and 250 gave the same MRR on both
/// query sets; 250 took keyword p50 at 100,000 units from 43 to 30 ms.
const CANDIDATES: usize = 250;

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
const ROWS_VERSION: u32 = 2;

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

fn term_bucket(term: &str) -> u64 {
    let h = blake3::hash(term.as_bytes());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes")) % TERM_BUCKETS
}

/// A view's search rows: keyword and vector search, the vectors still to compute, and the vector
/// cache: a facet of [`Store`], from [`Store::search`].
#[derive(Clone, Copy, Debug)]
pub struct SearchIndex<'a> {
    pub(super) store: &'a Store,
}

impl SearchIndex<'_> {
    /// The query's terms, rarest first, as many as `MATCH_BUDGET` affords.
    async fn affordable_words(self, words: &str) -> Result<String> {
        // Stems, each with a word of the query that has it.
        let parts: HashMap<String, String> = super::terms::term_parts(words).into_iter().collect();
        if parts.is_empty() {
            return Ok(String::new());
        }
        let stems: Vec<String> = parts.keys().cloned().collect();
        let df = self.term_frequencies(&stems).await?;
        let mut ranked: Vec<(u64, String)> =
            stems.into_iter().map(|t| (df[&t], parts[&t].clone())).collect();
        if ranked.iter().all(|(n, _)| *n == 0) {
            // No counts (rows written before they were kept): no pruning.
            return Ok(words.to_owned());
        }
        ranked.sort();
        tracing::debug!(?ranked, "document frequencies");
        let mut spent = 0;
        let mut kept = Vec::new();
        for (n, term) in ranked {
            if n == 0 {
                continue; // no unit has it: nothing to match
            }
            if !kept.is_empty() && spent + n > MATCH_BUDGET {
                break;
            }
            spent += n;
            kept.push(term);
        }
        Ok(kept.join(" "))
    }

    /// The snapshot root the search rows for `window` describe.
    pub async fn search_root(self, window: usize) -> Result<Option<ContentHash>> {
        match self.store.meta_get(&root_key(window)).await? {
            Some(hex) if !hex.is_empty() => Ok(Some(ContentHash::from_hex(&hex)?)),
            _ => Ok(None),
        }
    }

    /// Replaces the rows of `paths` with `rows` (all rows when `fresh`),
    /// adding the change in word counts to `delta`; given `done`, applies
    /// `delta` and records `done` as the snapshot the rows describe (until
    /// then they describe none: a build cut short starts again). Vectors
    /// already cached are attached at once.
    pub async fn replace_search_rows(
        self,
        paths: &[String],
        rows: &[SearchRow],
        fresh: bool,
        done: Option<ContentHash>,
        window: usize,
        delta: &mut HashMap<String, i64>,
    ) -> Result<()> {
        health::check_writable()?;
        let key = root_key(window);
        self.store.meta_set(&key, "").await?;
        for r in rows {
            for t in super::terms::terms_of(&r.text) {
                *delta.entry(t).or_default() += 1;
            }
        }
        // Rows these files had: the unit count moves by the difference.
        let replaced = if fresh { 0 } else { self.uncount_rows(paths, delta).await? };
        self.delete_rows(paths, fresh).await?;
        let mut vectors = 0;
        for chunk in rows.chunks(BATCH) {
            let keys: Vec<String> = chunk.iter().map(|r| r.key.clone()).collect();
            let cached = self.cached_vectors(&keys).await?;
            vectors += chunk.iter().filter(|r| cached.contains_key(&r.key)).count();
            self.insert_search_rows(chunk, &cached).await?;
        }
        match done {
            Some(root) => {
                self.count_search_rows().await?;
                self.adjust_terms(std::mem::take(delta)).await?;
                self.store.meta_set(&key, &root.to_hex()).await
            }
            // Between batches of a build the counts move by what this batch
            // changed (vectors of replaced rows are not subtracted: the
            // progress shown clamps them); counting the table after every
            // batch made a build over a million units quadratic.
            None => self.add_to_counts(rows.len() as i64 - replaced as i64, vectors as i64).await,
        }
    }

    /// Takes the words of the rows `paths` have now out of `delta`;
    /// returns how many rows that is.
    async fn uncount_rows(
        self,
        paths: &[String],
        delta: &mut HashMap<String, i64>,
    ) -> Result<usize> {
        let ctx = "write search rows";
        let mut replaced = 0;
        for chunk in paths.chunks(BATCH) {
            let mut res = self
                .store
                .db()
                .await?
                .query("SELECT VALUE text FROM search_unit WHERE file IN $files")
                .bind(("files", chunk.to_vec()))
                .await
                .map_err(|e| db_error(ctx, e))?;
            let old: Vec<String> = res.take(0).map_err(|e| db_error(ctx, e))?;
            replaced += old.len();
            for text in old {
                for t in super::terms::terms_of(&text) {
                    *delta.entry(t).or_default() -= 1;
                }
            }
        }
        Ok(replaced)
    }

    /// Deletes the rows and vectors of `paths` (of every file when `all`,
    /// with the word and row counts).
    async fn delete_rows(self, paths: &[String], all: bool) -> Result<()> {
        let ctx = "write search rows";
        let db = self.store.db().await?;
        if all {
            return retrying(ctx, || async {
                db.query(
                    "DELETE search_unit; DELETE search_vec; DELETE search_terms; \
                     UPSERT meta:search_units SET value = '0'; \
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
    async fn insert_search_rows(
        self,
        rows: &[SearchRow],
        vectors: &HashMap<String, Vec<f32>>,
    ) -> Result<()> {
        let units: Vec<UnitRecord> = rows
            .iter()
            .map(|r| UnitRecord {
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
            })
            .collect();
        let vecs: Vec<VecRecord> = rows
            .iter()
            .filter_map(|r| {
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
            for chunk in batch.chunks(BATCH) {
                self.insert_search_rows(chunk, &vectors).await?;
            }
            let mut delta: HashMap<String, i64> = HashMap::new();
            for r in &batch {
                for t in super::terms::terms_of(&r.text) {
                    *delta.entry(t).or_default() += 1;
                }
            }
            self.adjust_terms(delta).await?;
            total += take;
            copy += 1;
        }
        self.count_search_rows().await?;
        Ok(total as u64)
    }

    /// Adds `delta` to the document frequencies of terms.
    async fn adjust_terms(self, delta: HashMap<String, i64>) -> Result<()> {
        health::check_writable()?;
        let mut by_bucket: HashMap<u64, Vec<(String, i64)>> = HashMap::new();
        for (term, d) in delta {
            if d != 0 {
                by_bucket.entry(term_bucket(&term)).or_default().push((term, d));
            }
        }
        let buckets: Vec<u64> = by_bucket.keys().copied().collect();
        let mut current = self.term_buckets(&buckets).await?;
        let mut rows = Vec::new();
        for (bucket, changes) in by_bucket {
            let map = current.entry(bucket).or_default();
            for (term, d) in changes {
                let n = map.entry(term).or_default();
                *n = (*n as i64 + d).max(0) as u64;
            }
            map.retain(|_, n| *n > 0);
            rows.push(serde_json::json!({
                "bucket": bucket as i64,
                "terms": serde_json::to_string(map).expect("a map serialises"),
            }));
        }
        for chunk in rows.chunks(BATCH) {
            self.store
                .db()
                .await?
                .query(
                    "FOR $r IN $rows { \
                       UPSERT type::record('search_terms', $r.bucket) SET terms = $r.terms }",
                )
                .bind(("rows", chunk.to_vec()))
                .await
                .and_then(|r| r.check())
                .map_err(|e| db_error("write term counts", e))?;
        }
        Ok(())
    }

    async fn term_buckets(self, buckets: &[u64]) -> Result<HashMap<u64, HashMap<String, u64>>> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            id: RecordId,
            terms: String,
        }
        let ids: Vec<RecordId> =
            buckets.iter().map(|b| RecordId::new("search_terms", *b as i64)).collect();
        let mut res = self
            .store
            .db()
            .await?
            .query("SELECT id, terms FROM $ids")
            .bind(("ids", ids))
            .await
            .map_err(|e| db_error("read term counts", e))?;
        let rows: Vec<Row> = res.take(0).map_err(|e| db_error("read term counts", e))?;
        let mut out = HashMap::new();
        for r in rows {
            let surrealdb::types::RecordIdKey::Number(n) = r.id.key else {
                return Err(Error::Corrupt("unexpected key in search_terms".into()));
            };
            let map: HashMap<String, u64> = serde_json::from_str(&r.terms)
                .map_err(|e| Error::Corrupt(format!("search_terms: {e}")))?;
            out.insert(n as u64, map);
        }
        Ok(out)
    }

    /// How many units' keyword texts hold each term.
    async fn term_frequencies(self, terms: &[String]) -> Result<HashMap<String, u64>> {
        let buckets: Vec<u64> = terms.iter().map(|t| term_bucket(t)).collect();
        let found = self.term_buckets(&buckets).await?;
        Ok(terms
            .iter()
            .map(|t| {
                let n = found.get(&term_bucket(t)).and_then(|m| m.get(t)).copied().unwrap_or(0);
                (t.clone(), n)
            })
            .collect())
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

    /// Moves the counts `search_progress` reads by these amounts, both or
    /// neither (one transaction: a retry adds once).
    async fn add_to_counts(self, units: i64, embedded: i64) -> Result<()> {
        health::check_writable()?;
        let db = self.store.db().await?;
        retrying("count search rows", || async {
            db.query(
                "BEGIN TRANSACTION; \
                 UPSERT meta:search_units SET value = \
                   <string> math::max([0, <int> (value ?? '0') + $units]); \
                 UPSERT meta:search_embedded SET n = (n ?? 0) + $embedded; \
                 COMMIT TRANSACTION;",
            )
            .bind(("units", units))
            .bind(("embedded", embedded))
            .await?
            .check()
        })
        .await?;
        Ok(())
    }

    /// Counts the rows and the vectors (after rows change) for
    /// `search_progress`.
    async fn count_search_rows(self) -> Result<()> {
        health::check_writable()?;
        // Counts written whole: racing `set_vectors`' increment, it is
        // tried again.
        let db = self.store.db().await?;
        let n: Option<i64> = retrying("count search rows", || async {
            let mut res = db
                .query(
                    "(SELECT count() AS n FROM search_unit GROUP ALL)[0].n ?? 0; \
                     UPSERT meta:search_embedded SET n = (SELECT count() AS n FROM search_vec GROUP ALL)[0].n ?? 0;",
                )
                .await?
                .check()?;
            res.take(0)
        })
        .await?;
        self.store.meta_set("search_units", &n.unwrap_or(0).to_string()).await
    }

    /// Units ranked by BM25 for the query's words (any of them), best first.
    #[tracing::instrument(name = "search.keyword", level = "debug", skip_all)]
    pub async fn keyword_search(
        self,
        query: &str,
        filters: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<(String, f64)>> {
        let words = self.affordable_words(&query_words(query)).await?;
        tracing::debug!(?words, "keyword words");
        if words.is_empty() {
            return Ok(Vec::new());
        }
        // No ORDER BY: SurrealDB scores every match before a LIMIT that
        // follows one (~50 µs a unit). Unordered, it stops at CANDIDATES
        // matches, which are then ranked here: all of them whenever the
        // words kept fit the budget, the first CANDIDATES otherwise.
        let sql = format!(
            "SELECT id, search::score(1) AS score FROM search_unit \
             WHERE text @1,OR@ $words{} LIMIT $cap",
            filters.conditions()
        );
        let mut res = self
            .store
            .db()
            .await?
            .query(sql)
            .bind(("words", words))
            .bind(("cap", CANDIDATES as i64))
            .bind(("path_regex", filters.path_regex.clone()))
            .bind(("kind", filters.kind.clone()))
            .bind(("lang", filters.language.clone()))
            .await
            .map_err(|e| db_error("keyword search", e))?;
        let mut rows: Vec<Scored> = res.take(0).map_err(|e| db_error("keyword search", e))?;
        tracing::debug!(rows = rows.len(), "keyword query");
        rows.sort_by(|a, b| b.score.total_cmp(&a.score));
        rows.truncate(limit);
        rows.into_iter().map(|r| Ok((key_string(&r.id)?, r.score))).collect()
    }

    /// The `limit` units nearest the vector (cosine similarity), best first.
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
