//! Writing a whole graph (a first index, or one after an interrupted
//! write) a piece at a time, so that a full index never holds every file's
//! parse, every edge and the whole name index at once: parses are written
//! as they come and kept encoded (`StoredParse`), edges are written per
//! batch of files resolved, and the name index is built as they are
//! (`FreshNames`), then written a few buckets at a time.
//!
//! Measured on the cargo registry cache (16,145 code files, 792k units,
//! 2.4 M edges): the index holding every parse, then every edge and name,
//! peaked at 3.4-3.8 GB; the parses alone took 1.5 GB, their JSON 405 MB.

use std::collections::BTreeMap;

use tokio::sync::mpsc;

use super::graph::{
    Bucket, BucketRow, CodeFile, CodeFileRow, CodeGraph, FileNames, FileWrites, ParseRow,
    bucket_of, bucket_record, code_file_row, encode_bucket, file_record, insert_edges, insert_rows,
};
use super::graph_codec as codec;
use crate::error::{Error, Result};
use crate::graph::Language;
use crate::graph::resolve::{Edge, Symbol};
use crate::ids::ContentHash;

/// Buckets of the name index encoded and written at a time.
const BUCKETS_AT_ONCE: usize = 256;

/// A parsed file as the graph stores it: its record, and its parse encoded.
pub struct StoredParse {
    pub path: String,
    pub language: Language,
    content: ContentHash,
    record: CodeFileRow,
    unit_count: usize,
    units: String,
    rest: String,
}

impl StoredParse {
    pub fn of(f: &CodeFile) -> StoredParse {
        StoredParse {
            path: f.path.clone(),
            language: f.language,
            content: f.content,
            record: code_file_row(f),
            unit_count: f.parsed.units.len(),
            units: codec::encode_units(&f.parsed.units),
            rest: codec::encode_rest(&f.parsed),
        }
    }

    /// The file as it was parsed.
    pub fn decode(&self) -> Result<CodeFile> {
        Ok(CodeFile {
            path: self.path.clone(),
            language: self.language,
            content: self.content,
            parsed: codec::decode_parse(&self.units, &self.rest)?,
        })
    }

    /// Units, the file's own included.
    pub fn units(&self) -> usize {
        self.unit_count
    }

    pub fn skipped(&self) -> bool {
        self.record.skipped.is_some()
    }

    pub fn with_errors(&self) -> bool {
        self.record.diagnostics > 0
    }

    fn rows(&self) -> (CodeFileRow, ParseRow) {
        let parse = ParseRow {
            id: file_record("code_parse", &self.path),
            units: self.units.clone(),
            rest: self.rest.clone(),
        };
        (self.record.clone(), parse)
    }
}

/// Parses being written by a task of their own, as they are sent.
pub struct ParseWriter {
    batches: mpsc::Sender<Vec<(CodeFileRow, ParseRow)>>,
    task: Option<FileWrites>,
}

impl ParseWriter {
    /// Queues the records of `files` (waits while two batches are queued).
    pub async fn send(&mut self, files: &[StoredParse]) -> Result<()> {
        let rows = files.iter().map(StoredParse::rows).collect();
        if self.batches.send(rows).await.is_ok() {
            return Ok(());
        }
        // The writer stopped on an error: that error.
        match self.task.take() {
            Some(task) => task.wait().await.and(Err(Error::Internal("graph writer ended".into()))),
            None => Err(Error::Internal("graph writer ended".into())),
        }
    }

    /// Waits for every record sent to be written.
    pub async fn finish(self) -> Result<()> {
        drop(self.batches);
        match self.task {
            Some(task) => task.wait().await,
            None => Err(Error::Internal("graph writer ended".into())),
        }
    }
}

/// The name index of a graph written whole, as files are resolved.
#[derive(Default)]
pub struct FreshNames(BTreeMap<u32, Bucket>);

impl FreshNames {
    /// Adds a file's names (taken, not copied: at a million units the
    /// copies were hundreds of megabytes).
    pub fn add(&mut self, path: &str, names: FileNames) {
        for (name, role) in names.roles {
            let bucket = self.0.entry(bucket_of(&name)).or_default();
            bucket.entry(name).or_default().files.insert(path.to_owned(), role);
        }
        for s in names.symbols {
            self.add_symbol(s);
        }
    }

    pub fn add_symbol(&mut self, s: Symbol) {
        let bucket = self.0.entry(bucket_of(&s.name)).or_default();
        bucket.entry(s.name.clone()).or_default().symbols.push(s);
    }
}

impl CodeGraph<'_> {
    /// Starts writing the records of parsed files into an empty graph
    /// (`begin_graph_write` comes first).
    pub fn parse_writer(self) -> ParseWriter {
        let (conn, ns) = (self.store.conn.clone(), self.store.ns.clone());
        let (batches, mut queue) = mpsc::channel::<Vec<(CodeFileRow, ParseRow)>>(2);
        let task = FileWrites(tokio::spawn(async move {
            let db = conn.client(&ns).await?;
            while let Some(batch) = queue.recv().await {
                let (records, parses): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                insert_rows(&db, "INSERT INTO code_file $rows RETURN NONE", records).await?;
                insert_rows(&db, "INSERT INTO code_parse $rows RETURN NONE", parses).await?;
            }
            Ok(())
        }));
        ParseWriter { batches, task: Some(task) }
    }

    /// Writes files' edges into an empty graph, in a task of its own.
    pub fn write_new_edges(self, edges: Vec<(String, Vec<Edge>)>) -> FileWrites {
        let (conn, ns) = (self.store.conn.clone(), self.store.ns.clone());
        FileWrites(tokio::spawn(async move {
            let db = conn.client(&ns).await?;
            insert_edges(&db, edges).await
        }))
    }

    /// Writes the name index of an empty graph, a few buckets at a time,
    /// each freed once written.
    pub async fn write_new_names(self, names: FreshNames) -> Result<()> {
        let db = self.store.db().await?;
        let mut buckets = names.0.into_iter().filter(|(_, b)| !b.is_empty()).peekable();
        while buckets.peek().is_some() {
            let some: Vec<(u32, Bucket)> = buckets.by_ref().take(BUCKETS_AT_ONCE).collect();
            let rows: Vec<BucketRow> = crate::par::map(&some, |(n, b)| BucketRow {
                id: bucket_record(*n),
                names: encode_bucket(b),
            });
            drop(some);
            insert_rows(&db, "INSERT INTO code_names $rows RETURN NONE", rows).await?;
        }
        Ok(())
    }
}
