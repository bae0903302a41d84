//! Content-addressed objects: file contents (blobs), their chunks, and trees.
//!
//! Objects are immutable and keyed by their blake3 hash, so writing one that
//! exists already is a no-op (`INSERT IGNORE`) and objects written by a
//! change that never committed are harmless leftovers, never a half-state.

use std::collections::HashMap;

use surrealdb::types::{Bytes, RecordId, RecordIdKey, SurrealValue};

use super::Store;
use crate::error::{Error, Result};
use crate::ids::ContentHash;
use crate::tree::Tree;

/// Contents up to this size are stored inline; larger ones as chunks of it.
pub const CHUNK_SIZE: usize = 1 << 20;

/// Rows per INSERT; also bounded by bytes so one statement stays modest.
const BATCH_ROWS: usize = 512;
const BATCH_BYTES: usize = 8 << 20;

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

impl Store {
    /// Writes blobs, in batches, skipping those that exist.
    pub async fn put_blobs(&self, blobs: Vec<BlobWrite>) -> Result<()> {
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
    pub async fn put_chunk(&self, hash: ContentHash, data: Vec<u8>) -> Result<()> {
        let row = DataRow { id: record("chunk", &hash), data: Bytes::from(data) };
        self.insert_ignore("chunk", vec![row]).await
    }

    /// Writes encoded trees, skipping those that exist.
    pub async fn put_trees(&self, trees: Vec<(ContentHash, Vec<u8>)>) -> Result<()> {
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

    async fn insert_ignore<T: SurrealValue>(&self, table: &str, rows: Vec<T>) -> Result<()> {
        // INSERT takes a table name, not an expression; these are ours.
        let sql = match table {
            "blob" => "INSERT IGNORE INTO blob $rows RETURN NONE",
            "chunk" => "INSERT IGNORE INTO chunk $rows RETURN NONE",
            "tree" => "INSERT IGNORE INTO tree $rows RETURN NONE",
            other => unreachable!("no objects table {other}"),
        };
        self.objects
            .query(sql)
            .bind(("rows", rows))
            .await
            .and_then(|r| r.check())
            .map_err(|e| Error::db(format!("write {table} objects"), e))?;
        Ok(())
    }

    /// Reads a tree object.
    pub async fn load_tree(&self, hash: ContentHash) -> Result<Tree> {
        let mut trees = self.load_trees(&[hash]).await?;
        trees.remove(&hash).ok_or_else(|| Error::Corrupt(format!("tree {hash} is missing")))
    }

    /// Reads many tree objects at once. Missing ones are an error.
    pub async fn load_trees(&self, hashes: &[ContentHash]) -> Result<HashMap<ContentHash, Tree>> {
        let rows = self.load_data("tree", hashes).await?;
        let mut out = HashMap::with_capacity(rows.len());
        for (hash, data) in rows {
            if ContentHash::of(&data) != hash {
                return Err(Error::Corrupt(format!("tree {hash} does not match its hash")));
            }
            out.insert(hash, Tree::decode(&data)?);
        }
        if let Some(missing) = hashes.iter().find(|h| !out.contains_key(h)) {
            return Err(Error::Corrupt(format!("tree {missing} is missing")));
        }
        Ok(out)
    }

    async fn load_data(
        &self,
        table: &str,
        hashes: &[ContentHash],
    ) -> Result<Vec<(ContentHash, Vec<u8>)>> {
        let mut out = Vec::with_capacity(hashes.len());
        for batch in hashes.chunks(BATCH_ROWS) {
            let ids: Vec<RecordId> = batch.iter().map(|h| record(table, h)).collect();
            let mut res = self
                .objects
                .query("SELECT id, data FROM $ids")
                .bind(("ids", ids))
                .await
                .map_err(|e| Error::db(format!("read {table} objects"), e))?;
            let rows: Vec<DataRow> =
                res.take(0).map_err(|e| Error::db(format!("read {table} objects"), e))?;
            for row in rows {
                out.push((hash_of(&row.id)?, row.data.to_vec()));
            }
        }
        Ok(out)
    }

    /// Reads one file's content.
    pub async fn read_blob(&self, hash: ContentHash) -> Result<Vec<u8>> {
        let mut found = self.read_blobs(&[hash]).await?;
        found.remove(&hash).ok_or_else(|| Error::Corrupt(format!("content {hash} is missing")))
    }

    /// Reads many files' contents at once, verifying each against its hash.
    pub async fn read_blobs(
        &self,
        hashes: &[ContentHash],
    ) -> Result<HashMap<ContentHash, Vec<u8>>> {
        let mut out = HashMap::with_capacity(hashes.len());
        let mut batch_start = 0;
        while batch_start < hashes.len() {
            let batch = &hashes[batch_start..(batch_start + 64).min(hashes.len())];
            batch_start += batch.len();
            let ids: Vec<RecordId> = batch.iter().map(|h| record("blob", h)).collect();
            let mut res = self
                .objects
                .query("SELECT id, size, data, chunks FROM $ids")
                .bind(("ids", ids))
                .await
                .map_err(|e| Error::db("read contents", e))?;
            let rows: Vec<BlobRow> = res.take(0).map_err(|e| Error::db("read contents", e))?;
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

    async fn read_chunks(&self, chunks: &[String], size: i64) -> Result<Vec<u8>> {
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

impl Store {
    /// How many rows a table of objects holds (for tests and status).
    pub async fn count_objects(&self, table: &str) -> Result<u64> {
        let mut res = self
            .objects
            .query("SELECT VALUE count() FROM type::table($table) GROUP ALL")
            .bind(("table", table.to_owned()))
            .await
            .map_err(|e| Error::db(format!("count {table}"), e))?;
        let counts: Vec<i64> = res.take(0).map_err(|e| Error::db(format!("count {table}"), e))?;
        Ok(counts.first().copied().unwrap_or(0) as u64)
    }
}

impl Store {
    /// Writes one file's content, as chunks when it is large. `hash` must be
    /// the blake3 hash of `data`.
    pub async fn put_content(&self, hash: ContentHash, data: &[u8]) -> Result<()> {
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
