//! The keyword index's records (migration 0016): `search_post` (posting
//! lists) and `search_doc` (what a doc number stands for), in the view's
//! namespace, written as search rows are (`search::replace_search_rows`)
//! and read by `keyword_search`. Their encoding and BM25 are
//! `postings`'.

use std::collections::HashMap;

use surrealdb::types::{Bytes, RecordId, RecordIdKey, SurrealValue};

use super::health::db_error;
use super::postings;
use super::retry::retrying;
use super::search::{SearchIndex, SearchQuery, query_words};
use crate::error::{Error, Result};

/// The meta key of the next doc number to give a row.
const NEXT_DOC: &str = "search_next_doc";

/// Posting records read and written per statement.
const POST_BATCH: usize = 500;

/// Most units a keyword search returns, best first (ranking reads them
/// all: it may lift one BM25 put low).
const CANDIDATES: usize = 250;

/// Most units a keyword search scores. The query's words are taken rarest
/// first; once this many units match, commoner words only add to the
/// scores of units already matched (they weigh least in BM25 anyway), and
/// a rarest word in more units than this seeds the best this many.
const MATCH_BUDGET: usize = 20_000;

impl SearchIndex<'_> {
    /// Takes `n` doc numbers from the view's counter; the first.
    pub(super) async fn number_docs(self, n: usize) -> Result<u64> {
        let next: u64 =
            self.store.meta_get(NEXT_DOC).await?.and_then(|v| v.parse().ok()).unwrap_or(0);
        self.store.meta_set(NEXT_DOC, &(next + n as u64).to_string()).await?;
        Ok(next)
    }

    /// Rewrites the posting records `changes` touches.
    pub(super) async fn write_postings(self, changes: &postings::Changes) -> Result<()> {
        for keys in changes.keys().chunks(POST_BATCH) {
            let old = self.data_records("search_post", keys).await?;
            let (mut write, mut emptied) = (Vec::new(), Vec::new());
            for &key in keys {
                let lists = changes.apply(key, old.get(&key).map(|b| b.as_slice()))?;
                match lists.is_empty() {
                    true => emptied.push(key),
                    false => write.push((key, postings::encode(&lists))),
                }
            }
            self.put_data_records("search_post", write, emptied).await?;
        }
        Ok(())
    }

    /// The records of `table` (`search_post`, `search_doc`) with these
    /// keys, by key.
    pub(super) async fn data_records(
        self,
        table: &str,
        keys: &[i64],
    ) -> Result<HashMap<i64, Vec<u8>>> {
        #[derive(Debug, SurrealValue)]
        struct Row {
            id: RecordId,
            data: Bytes,
        }
        let ctx = "read the keyword index";
        let ids: Vec<RecordId> = keys.iter().map(|k| RecordId::new(table, *k)).collect();
        let mut res = self
            .store
            .db()
            .await?
            .query("SELECT id, data FROM $ids")
            .bind(("ids", ids))
            .await
            .map_err(|e| db_error(ctx, e))?;
        let rows: Vec<Row> = res.take(0).map_err(|e| db_error(ctx, e))?;
        rows.into_iter()
            .map(|r| match r.id.key {
                RecordIdKey::Number(n) => Ok((n, Vec::from(r.data.into_inner()))),
                _ => Err(Error::Corrupt(format!("unexpected key in {table}"))),
            })
            .collect()
    }

    /// Replaces records of `table` (ours, not the user's: it is written
    /// into the statement): `write` by key, and deletes `gone`.
    pub(super) async fn put_data_records(
        self,
        table: &'static str,
        write: Vec<(i64, Vec<u8>)>,
        gone: Vec<i64>,
    ) -> Result<()> {
        #[derive(Clone, Debug, SurrealValue)]
        struct Row {
            id: RecordId,
            data: Bytes,
        }
        let ids: Vec<RecordId> =
            write.iter().map(|(k, _)| *k).chain(gone).map(|k| RecordId::new(table, k)).collect();
        let rows: Vec<Row> = write
            .into_iter()
            .map(|(k, data)| Row { id: RecordId::new(table, k), data: Bytes::from(data) })
            .collect();
        let db = self.store.db().await?;
        retrying("write the keyword index", || async {
            db.query(format!(
                "BEGIN TRANSACTION; DELETE $ids; \
                 INSERT INTO {table} $rows RETURN NONE; COMMIT TRANSACTION;"
            ))
            .bind(("ids", ids.clone()))
            .bind(("rows", rows.clone()))
            .await?
            .check()
        })
        .await
        .map(drop)
    }

    /// Takes the doc numbers `gone` out of `search_doc` and puts `entries`
    /// in.
    pub(super) async fn write_docs(
        self,
        gone: &[u64],
        entries: Vec<postings::DocEntry>,
    ) -> Result<()> {
        let mut add: HashMap<i64, Vec<postings::DocEntry>> = HashMap::new();
        for e in entries {
            add.entry(postings::doc_key(e.doc)).or_default().push(e);
        }
        let gone: std::collections::HashSet<u64> = gone.iter().copied().collect();
        let mut keys: Vec<i64> =
            add.keys().copied().chain(gone.iter().map(|d| postings::doc_key(*d))).collect();
        keys.sort_unstable();
        keys.dedup();
        for keys in keys.chunks(POST_BATCH) {
            let old = self.data_records("search_doc", keys).await?;
            let (mut write, mut emptied) = (Vec::new(), Vec::new());
            for &key in keys {
                let mut entries = match old.get(&key) {
                    Some(bytes) => postings::decode_docs(bytes)?,
                    None => Vec::new(),
                };
                entries.retain(|e| !gone.contains(&e.doc));
                entries.extend(add.remove(&key).unwrap_or_default());
                match entries.is_empty() {
                    true => emptied.push(key),
                    false => write.push((key, postings::encode_docs(&entries))),
                }
            }
            self.put_data_records("search_doc", write, emptied).await?;
        }
        Ok(())
    }

    /// What BM25 needs of the view: how many units, their length in terms,
    /// and how many doc numbers were given out.
    pub(super) async fn bm25_stats(self) -> Result<(postings::Bm25, u64)> {
        let ctx = "read the keyword index";
        let mut res = self
            .store
            .db()
            .await?
            .query(
                "(SELECT VALUE value FROM ONLY meta:search_units) ?? '0'; \
                 (SELECT VALUE value FROM ONLY meta:search_len) ?? '0'; \
                 (SELECT VALUE value FROM ONLY meta:search_next_doc) ?? '0';",
            )
            .await
            .map_err(|e| db_error(ctx, e))?;
        let mut number = |i: usize| -> Result<u64> {
            let v: Option<String> = res.take(i).map_err(|e| db_error(ctx, e))?;
            Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
        };
        let (docs, total_len, next_doc) = (number(0)?, number(1)?, number(2)?);
        Ok((postings::Bm25 { docs, total_len }, next_doc))
    }

    /// Units ranked by BM25 for the query's words (any of them), best
    /// first, at most `limit` (and CANDIDATES).
    #[tracing::instrument(name = "search.keyword", level = "debug", skip_all)]
    pub async fn keyword_search(
        self,
        query: &str,
        filters: &SearchQuery,
        limit: usize,
    ) -> Result<Vec<(String, f64)>> {
        let terms: Vec<String> = super::terms::terms_of(&query_words(query)).into_iter().collect();
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let (bm25, next_doc) = self.bm25_stats().await?;
        let blocks = next_doc.div_ceil(postings::BLOCK);
        let mut keys: Vec<i64> =
            terms.iter().flat_map(|t| postings::record_keys(t, blocks)).collect();
        keys.sort_unstable();
        keys.dedup();
        let records = self.data_records("search_post", &keys).await?;
        let mut lists = Vec::new();
        for term in &terms {
            let mut list = Vec::new();
            for key in postings::record_keys(term, blocks) {
                if let Some(bytes) = records.get(&key) {
                    list.extend(postings::find(bytes, term)?);
                }
            }
            lists.push(list);
        }
        let ranked = postings::rank(bm25, lists, MATCH_BUDGET);
        tracing::debug!(?terms, matched = ranked.len(), "keyword postings");
        let want = limit.min(CANDIDATES);
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        // The best units first, filtered, in growing steps until enough
        // pass the filters.
        let (mut at, mut step) = (0, want.max(1));
        while at < ranked.len() && out.len() < want {
            let chunk = &ranked[at..(at + step).min(ranked.len())];
            let docs: Vec<u64> = chunk.iter().map(|(doc, _)| *doc).collect();
            let units = self.units_of_docs(&docs, filters).await?;
            for (doc, score) in chunk {
                // A unit is listed once, under its best number (two
                // writers racing on one view may have numbered it twice).
                if let Some(id) = units.get(doc)
                    && out.len() < want
                    && seen.insert(id.clone())
                {
                    out.push((id.clone(), *score));
                }
            }
            at += chunk.len();
            step *= 2;
        }
        Ok(out)
    }

    /// The units numbered `docs` that pass the filters, by number.
    pub(super) async fn units_of_docs(
        self,
        docs: &[u64],
        filters: &SearchQuery,
    ) -> Result<HashMap<u64, String>> {
        let path = match &filters.path_regex {
            Some(re) => Some(
                regex::Regex::new(re)
                    .map_err(|e| Error::InvalidInput(format!("a path filter: {e}")))?,
            ),
            None => None,
        };
        let wanted: std::collections::HashSet<u64> = docs.iter().copied().collect();
        let mut keys: Vec<i64> = docs.iter().map(|d| postings::doc_key(*d)).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut out = HashMap::new();
        for bytes in self.data_records("search_doc", &keys).await?.values() {
            for e in postings::decode_docs(bytes)? {
                let pass = wanted.contains(&e.doc)
                    && path.as_ref().is_none_or(|re| re.is_match(&e.file))
                    && filters.kind.as_ref().is_none_or(|k| *k == e.kind)
                    && filters.language.as_ref().is_none_or(|l| *l == e.lang);
                if pass {
                    out.insert(e.doc, e.unit);
                }
            }
        }
        Ok(out)
    }
}
