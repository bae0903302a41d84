//! Content-addressed objects: file contents (blobs), their chunks, and trees.
//!
//! Objects are immutable and keyed by their blake3 hash, so writing one that
//! exists already is a no-op (`INSERT IGNORE`) and objects written by a
//! change that never committed are harmless leftovers, never a half-state.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use surrealdb::types::{Bytes, RecordId, RecordIdKey, SurrealValue};

use super::Store;
use super::health::{self, db_error};
use crate::error::{Error, Result};
use crate::ids::ContentHash;
use crate::memory::CacheUse;
use crate::tree::Tree;

/// Contents up to this size are stored inline; larger ones as chunks of it.
pub const CHUNK_SIZE: usize = 1 << 20;

/// Rows per INSERT; also bounded by bytes so one statement stays modest.
const BATCH_ROWS: usize = 512;
const BATCH_BYTES: usize = 8 << 20;

/// Trees read lately, decoded, shared by every handle on a connection. A
/// tree is named by its hash, so an entry is never stale. Each step of a
/// write through a mount walks the same few trees again (the flush's diff,
/// the index's diff, the changed paths looked up): 10-15 reads of ~0.3 ms.
#[derive(Debug)]
pub(crate) struct TreeCache {
    state: Mutex<TreeCacheState>,
    /// Encoded bytes held at most (the memory budget's tree share); the
    /// least lately used half goes when more would be.
    budget: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Debug, Default)]
struct TreeCacheState {
    /// A tree, its last use, its encoded size.
    trees: HashMap<ContentHash, (Tree, u64, usize)>,
    /// Encoded bytes of the trees held.
    bytes: usize,
    /// Uses so far: a tree's last use orders eviction.
    clock: u64,
}

impl TreeCache {
    pub(crate) fn new(budget: &crate::memory::Budget) -> TreeCache {
        let (hits, misses) = (AtomicU64::new(0), AtomicU64::new(0));
        TreeCache { state: Mutex::default(), budget: budget.tree_cache as usize, hits, misses }
    }

    /// What the cache holds, and its hits and misses so far.
    pub(crate) fn usage(&self) -> CacheUse {
        CacheUse {
            held: self.state.lock().expect("tree cache").bytes as u64,
            budget: self.budget as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    fn get(&self, hash: &ContentHash) -> Option<Tree> {
        let mut state = self.state.lock().expect("tree cache");
        state.clock += 1;
        let clock = state.clock;
        let found = state.trees.get_mut(hash).map(|(tree, used, _)| {
            *used = clock;
            tree.clone()
        });
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        crate::metrics::global().tree_cache.count(found.is_some());
        found
    }

    fn put(&self, hash: ContentHash, tree: &Tree, encoded: usize) {
        if encoded > self.budget / 4 {
            return;
        }
        let mut state = self.state.lock().expect("tree cache");
        if state.bytes + encoded > self.budget {
            let mut uses: Vec<u64> = state.trees.values().map(|(_, used, _)| *used).collect();
            uses.sort_unstable();
            let median = uses[uses.len() / 2];
            state.trees.retain(|_, (_, used, _)| *used > median);
            state.bytes = state.trees.values().map(|(_, _, size)| size).sum();
        }
        state.clock += 1;
        let clock = state.clock;
        if state.trees.insert(hash, (tree.clone(), clock, encoded)).is_none() {
            state.bytes += encoded;
        }
    }
}

/// A blob to write: either the whole (small) content or the list of chunks
/// already written for a large one.
#[derive(Debug)]
pub enum BlobWrite {
    Inline { hash: ContentHash, data: Vec<u8> },
    Chunked { hash: ContentHash, size: u64, chunks: Vec<ContentHash> },
}

impl BlobWrite {
    fn weight(&self) -> usize {
        match self {
            BlobWrite::Inline { data, .. } => data.len() + 100,
            BlobWrite::Chunked { chunks, .. } => chunks.len() * 70 + 100,
        }
    }
}

#[derive(SurrealValue)]
struct BlobRow {
    id: RecordId,
    size: i64,
    data: Option<Bytes>,
    chunks: Option<Vec<String>>,
}

#[derive(SurrealValue)]
struct DataRow {
    id: RecordId,
    data: Bytes,
}

fn record(table: &str, hash: &ContentHash) -> RecordId {
    RecordId::new(table, hash.to_hex())
}

fn hash_of(id: &RecordId) -> Result<ContentHash> {
    match &id.key {
        RecordIdKey::String(hex) => ContentHash::from_hex(hex),
        _ => Err(Error::Corrupt(format!("unexpected record key in {}", id.table))),
    }
}

/// Contents, chunks and trees: immutable, content-addressed, shared by every view: a facet of
/// [`Store`], from [`Store::objects`].
#[derive(Clone, Copy, Debug)]
pub struct Objects<'a> {
    pub(super) store: &'a Store,
}

impl Objects<'_> {
    /// What the decoded-tree cache holds, and how well it serves.
    pub fn tree_cache(self) -> CacheUse {
        self.store.trees.usage()
    }

    /// Writes blobs, in batches, skipping those that exist.
    pub async fn put_blobs(self, blobs: Vec<BlobWrite>) -> Result<()> {
        health::check_writable()?;
        let mut batch: Vec<BlobRow> = Vec::new();
        let mut weight = 0;
        for blob in blobs {
            weight += blob.weight();
            batch.push(match blob {
                BlobWrite::Inline { hash, data } => BlobRow {
                    id: record("blob", &hash),
                    size: data.len() as i64,
                    data: Some(Bytes::from(data)),
                    chunks: None,
                },
                BlobWrite::Chunked { hash, size, chunks } => BlobRow {
                    id: record("blob", &hash),
                    size: size as i64,
                    data: None,
                    chunks: Some(chunks.iter().map(ContentHash::to_hex).collect()),
                },
            });
            if batch.len() >= BATCH_ROWS || weight >= BATCH_BYTES {
                self.insert_ignore("blob", std::mem::take(&mut batch)).await?;
                weight = 0;
            }
        }
        if !batch.is_empty() {
            self.insert_ignore("blob", batch).await?;
        }
        Ok(())
    }

    /// Writes one chunk of a large content.
    pub async fn put_chunk(self, hash: ContentHash, data: Vec<u8>) -> Result<()> {
        health::check_writable()?;
        let row = DataRow { id: record("chunk", &hash), data: Bytes::from(data) };
        self.insert_ignore("chunk", vec![row]).await
    }

    /// Writes encoded trees, skipping those that exist.
    pub async fn put_trees(self, trees: Vec<(ContentHash, Vec<u8>)>) -> Result<()> {
        health::check_writable()?;
        let mut batch = Vec::new();
        let mut weight = 0;
        for (hash, data) in trees {
            weight += data.len() + 100;
            batch.push(DataRow { id: record("tree", &hash), data: Bytes::from(data) });
            if batch.len() >= BATCH_ROWS || weight >= BATCH_BYTES {
                self.insert_ignore("tree", std::mem::take(&mut batch)).await?;
                weight = 0;
            }
        }
        if !batch.is_empty() {
            self.insert_ignore("tree", batch).await?;
        }
        Ok(())
    }

    async fn insert_ignore<T: SurrealValue>(self, table: &str, rows: Vec<T>) -> Result<()> {
        // INSERT takes a table name, not an expression; these are ours.
        let sql = match table {
            "blob" => "INSERT IGNORE INTO blob $rows RETURN NONE",
            "chunk" => "INSERT IGNORE INTO chunk $rows RETURN NONE",
            "tree" => "INSERT IGNORE INTO tree $rows RETURN NONE",
            other => unreachable!("no objects table {other}"),
        };
        self.store
            .objects_db()
            .await?
            .query(sql)
            .bind(("rows", rows))
            .await
            .and_then(|r| r.check())
            .map_err(|e| db_error(format!("write {table} objects"), e))?;
        Ok(())
    }

    /// Reads a tree object.
    pub async fn load_tree(self, hash: ContentHash) -> Result<Tree> {
        let mut trees = self.load_trees(&[hash]).await?;
        trees.remove(&hash).ok_or_else(|| Error::Corrupt(format!("tree {hash} is missing")))
    }

    /// Reads many tree objects at once, those read lately from memory.
    /// Missing ones are an error.
    pub async fn load_trees(self, hashes: &[ContentHash]) -> Result<HashMap<ContentHash, Tree>> {
        let mut out = HashMap::with_capacity(hashes.len());
        let mut missing = Vec::new();
        for hash in hashes {
            match self.store.trees.get(hash) {
                Some(tree) => {
                    out.insert(*hash, tree);
                }
                None => missing.push(*hash),
            }
        }
        for (hash, data) in self.load_data("tree", &missing).await? {
            if ContentHash::of(&data) != hash {
                return Err(Error::Corrupt(format!("tree {hash} does not match its hash")));
            }
            let tree = Tree::decode(&data)?;
            self.store.trees.put(hash, &tree, data.len());
            out.insert(hash, tree);
        }
        if let Some(missing) = hashes.iter().find(|h| !out.contains_key(h)) {
            return Err(Error::Corrupt(format!("tree {missing} is missing")));
        }
        Ok(out)
    }

    async fn load_data(
        self,
        table: &str,
        hashes: &[ContentHash],
    ) -> Result<Vec<(ContentHash, Vec<u8>)>> {
        let mut out = Vec::with_capacity(hashes.len());
        for batch in hashes.chunks(BATCH_ROWS) {
            let ids: Vec<RecordId> = batch.iter().map(|h| record(table, h)).collect();
            let mut res = self
                .store
                .objects_db()
                .await?
                .query("SELECT id, data FROM $ids")
                .bind(("ids", ids))
                .await
                .map_err(|e| db_error(format!("read {table} objects"), e))?;
            let rows: Vec<DataRow> =
                res.take(0).map_err(|e| db_error(format!("read {table} objects"), e))?;
            for row in rows {
                out.push((hash_of(&row.id)?, row.data.to_vec()));
            }
        }
        Ok(out)
    }

    /// Reads one file's content.
    pub async fn read_blob(self, hash: ContentHash) -> Result<Vec<u8>> {
        let mut found = self.read_blobs(&[hash]).await?;
        found.remove(&hash).ok_or_else(|| Error::Corrupt(format!("content {hash} is missing")))
    }

    /// Reads many files' contents at once, verifying each against its hash.
    pub async fn read_blobs(self, hashes: &[ContentHash]) -> Result<HashMap<ContentHash, Vec<u8>>> {
        let mut out = HashMap::with_capacity(hashes.len());
        let mut batch_start = 0;
        while batch_start < hashes.len() {
            let batch = &hashes[batch_start..(batch_start + 64).min(hashes.len())];
            batch_start += batch.len();
            let ids: Vec<RecordId> = batch.iter().map(|h| record("blob", h)).collect();
            let mut res = self
                .store
                .objects_db()
                .await?
                .query("SELECT id, size, data, chunks FROM $ids")
                .bind(("ids", ids))
                .await
                .map_err(|e| db_error("read contents", e))?;
            let rows: Vec<BlobRow> = res.take(0).map_err(|e| db_error("read contents", e))?;
            for row in rows {
                let hash = hash_of(&row.id)?;
                let data = match (row.data, row.chunks) {
                    (Some(data), _) => data.to_vec(),
                    (None, Some(chunks)) => self.read_chunks(&chunks, row.size).await?,
                    (None, None) => {
                        return Err(Error::Corrupt(format!("content {hash} has no data")));
                    }
                };
                if ContentHash::of(&data) != hash {
                    return Err(Error::Corrupt(format!("content {hash} does not match its hash")));
                }
                out.insert(hash, data);
            }
        }
        if let Some(missing) = hashes.iter().find(|h| !out.contains_key(h)) {
            return Err(Error::Corrupt(format!("content {missing} is missing")));
        }
        Ok(out)
    }

    /// One chunk of a large content, verified against its hash.
    pub async fn read_chunk(self, hash: ContentHash) -> Result<Vec<u8>> {
        let (_, data) = self
            .store
            .objects()
            .load_data("chunk", &[hash])
            .await?
            .pop()
            .ok_or_else(|| Error::Corrupt(format!("chunk {hash} is missing")))?;
        if ContentHash::of(&data) != hash {
            return Err(Error::Corrupt(format!("chunk {hash} does not match its hash")));
        }
        Ok(data)
    }

    /// The chunks of a large content, in order; `None` for one stored whole.
    pub async fn blob_chunks(self, hash: ContentHash) -> Result<Option<Vec<ContentHash>>> {
        let mut res = self
            .store
            .objects_db()
            .await?
            .query("SELECT VALUE chunks FROM $id")
            .bind(("id", record("blob", &hash)))
            .await
            .map_err(|e| db_error("read a content's chunk list", e))?;
        let rows: Vec<Option<Vec<String>>> =
            res.take(0).map_err(|e| db_error("read a content's chunk list", e))?;
        let Some(chunks) = rows.into_iter().next() else {
            return Err(Error::Corrupt(format!("content {hash} is missing")));
        };
        chunks.map(|list| list.iter().map(|h| ContentHash::from_hex(h)).collect()).transpose()
    }

    async fn read_chunks(self, chunks: &[String], size: i64) -> Result<Vec<u8>> {
        let hashes = chunks.iter().map(|h| ContentHash::from_hex(h)).collect::<Result<Vec<_>>>()?;
        let mut data = Vec::with_capacity(size.max(0) as usize);
        // Read a few chunks per query to bound memory per round trip.
        for batch in hashes.chunks(8) {
            let rows: HashMap<ContentHash, Vec<u8>> =
                self.load_data("chunk", batch).await?.into_iter().collect();
            for h in batch {
                let chunk =
                    rows.get(h).ok_or_else(|| Error::Corrupt(format!("chunk {h} is missing")))?;
                data.extend_from_slice(chunk);
            }
        }
        Ok(data)
    }
}

impl Objects<'_> {
    /// How many rows a table of objects holds (for tests and status).
    pub async fn count_objects(self, table: &str) -> Result<u64> {
        let mut res = self
            .store
            .objects_db()
            .await?
            .query("SELECT VALUE count() FROM type::table($table) GROUP ALL")
            .bind(("table", table.to_owned()))
            .await
            .map_err(|e| db_error(format!("count {table}"), e))?;
        let counts: Vec<i64> = res.take(0).map_err(|e| db_error(format!("count {table}"), e))?;
        Ok(counts.first().copied().unwrap_or(0) as u64)
    }
}

impl Objects<'_> {
    /// Writes one file's content, as chunks when it is large. `hash` must be
    /// the blake3 hash of `data`.
    pub async fn put_content(self, hash: ContentHash, data: &[u8]) -> Result<()> {
        health::check_writable()?;
        if data.len() <= CHUNK_SIZE {
            return self.put_blobs(vec![BlobWrite::Inline { hash, data: data.to_vec() }]).await;
        }
        let mut chunks = Vec::new();
        for piece in data.chunks(CHUNK_SIZE) {
            let chunk = ContentHash::of(piece);
            self.put_chunk(chunk, piece.to_vec()).await?;
            chunks.push(chunk);
        }
        let size = data.len() as u64;
        self.put_blobs(vec![BlobWrite::Chunked { hash, size, chunks }]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_cache_keeps_what_was_used_last_within_its_budget() {
        let cache = TreeCache::new(&crate::memory::Budget::of(1 << 30));
        let budget = cache.budget;
        let hash = |n: usize| ContentHash::of(&n.to_le_bytes());
        let tree = Tree::new(vec![]).unwrap();
        cache.put(hash(0), &tree, 100);
        assert_eq!(cache.get(&hash(0)), Some(tree.clone()));
        // Fill past the budget while using the first tree now and then: the
        // least lately used half goes, the first tree stays.
        for n in 1..100 {
            cache.put(hash(n), &tree, budget / 64);
            if n % 8 == 0 {
                cache.get(&hash(0)).unwrap();
            }
        }
        let state = cache.state.lock().unwrap();
        assert!(state.bytes <= budget, "{}", state.bytes);
        assert_eq!(state.bytes, state.trees.values().map(|(_, _, s)| s).sum::<usize>());
        drop(state);
        assert!(cache.get(&hash(0)).is_some(), "used lately, kept");
        assert!(cache.get(&hash(1)).is_none(), "not used since, gone");
        assert!(cache.get(&hash(99)).is_some());
        // Too big to be worth holding.
        cache.put(hash(500), &tree, budget);
        assert!(cache.get(&hash(500)).is_none());
    }
}
