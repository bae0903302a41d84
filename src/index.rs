//! Keeps the code graph in step with main. After main moves (an import, a
//! flush through a mount), the code files that changed are parsed again;
//! their edges, and the edges of every file whose references may now
//! resolve differently, are resolved again. The first index of a store, or
//! one after an interrupted write, parses everything.
//!
//! Invariant: the graph after any sequence of incremental updates equals
//! the graph a full index of the same snapshot gives.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Instant;

use crate::error::Result;
use crate::graph::resolve::Symbol;
use crate::graph::resolve::{Edge, SymbolTable, file_stem, resolve_file, target_key};
use crate::graph::{Language, parse_file};
use crate::ids::ContentHash;
use crate::snapshot::{self, Resolved};
use crate::store::graph::{CodeFile, FileNames, GraphWrite, role};
use crate::store::{ChangeOp, Store};
use crate::tree::EntryKind;

/// The version of what parsing and resolving produce. A graph built by
/// another version is rebuilt from scratch (parses are stored).
pub const GRAPH_VERSION: &str = "10";

/// Files read and parsed at a time.
const PARSE_BATCH: usize = 512;

/// What an index run did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IndexReport {
    /// Everything was parsed (first index, or after an interrupted one).
    pub full: bool,
    pub parsed: usize,
    pub removed: usize,
    /// Files whose edges were resolved again (the parsed ones included).
    pub resolved: usize,
    pub units: usize,
    pub edges: usize,
    pub skipped: usize,
    pub with_errors: usize,
    pub seconds: f64,
}

/// Brings the graph to main's head.
pub async fn index_head(store: &Store) -> Result<IndexReport> {
    let head = store.head().await?;
    index_root(store, head.root).await
}

/// Brings the graph to the snapshot whose root tree is `root`.
pub async fn index_root(store: &Store, root: ContentHash) -> Result<IndexReport> {
    let started = Instant::now();
    let same_version = store.meta_get("graph_version").await?.as_deref() == Some(GRAPH_VERSION);
    let previous = if same_version { store.graph_root().await? } else { None };
    if previous == Some(root) {
        return Ok(IndexReport::default());
    }
    let mut report = IndexReport { full: previous.is_none(), ..IndexReport::default() };
    // The code files to parse (path, content) and to drop.
    let mut changed: Vec<(String, ContentHash)> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    match previous {
        None => {
            store.clear_graph().await?;
            store.meta_set("graph_version", GRAPH_VERSION).await?;
            for (path, entry) in snapshot::walk(store, root).await? {
                if let (EntryKind::File { content, .. }, Ok(path)) =
                    (&entry.kind, String::from_utf8(path))
                    && Language::of_path(path.as_bytes()).is_some()
                {
                    changed.push((path, *content));
                }
            }
        }
        Some(old) => {
            for change in snapshot::diff(store, old, root).await? {
                let Ok(path) = String::from_utf8(change.path) else { continue };
                if Language::of_path(path.as_bytes()).is_none() {
                    continue;
                }
                let now = match change.op {
                    ChangeOp::Delete => None,
                    _ => match snapshot::resolve(store, root, path.as_bytes()).await {
                        Ok(Resolved::Entry(e)) => match e.kind {
                            EntryKind::File { content, .. } => Some(content),
                            _ => None,
                        },
                        _ => None,
                    },
                };
                match now {
                    Some(content) => changed.push((path, content)),
                    None => removed.push(path),
                }
            }
        }
    }
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), files = changed.len(), "to parse");
    let parsed = parse_all(store, &changed).await?;
    tracing::debug!(files = parsed.len(), seconds = started.elapsed().as_secs_f64(), "parsed");
    report.parsed = parsed.len();
    report.removed = removed.len();
    report.skipped = parsed.iter().filter(|f| f.parsed.skipped.is_some()).count();
    report.with_errors = parsed.iter().filter(|f| !f.parsed.diagnostics.is_empty()).count();
    report.units = parsed.iter().map(|f| f.parsed.units.len()).sum();

    // What to resolve, and the units it may resolve to.
    let changed_paths: BTreeSet<String> =
        parsed.iter().map(|f| f.path.clone()).chain(removed.iter().cloned()).collect();
    let mut table = SymbolTable::default();
    let mut to_resolve: Vec<CodeFile> = Vec::new();
    // What the files parsed, resolved again or removed had before.
    let mut before: HashMap<String, CodeFile> = HashMap::new();
    let mut before_edges: HashMap<String, Vec<Edge>> = HashMap::new();
    // The code paths the graph had (incremental runs).
    let mut old_paths = None;
    if report.full {
        for f in &parsed {
            table.add_file(&f.path);
            for u in &f.parsed.units {
                table.add(Symbol::of(u, &f.path));
            }
        }
    } else {
        // Names whose units came, went or changed in what resolution sees
        // of them, and the stems of files that came or went: only files
        // whose keys or edges meet those can resolve differently now.
        let changed: Vec<String> = changed_paths.iter().cloned().collect();
        let old = store.code_files(&changed).await?;
        let mut touched = changed_symbols(&old, &parsed);
        before.extend(old.into_iter().map(|f| (f.path.clone(), f)));
        for path in &changed_paths {
            let came = parsed.iter().any(|f| &f.path == path) && !before.contains_key(path);
            if came || removed.contains(path) {
                touched.insert(file_stem(path).to_owned());
                touched.insert(path.clone());
            }
        }
        let touched: Vec<String> = touched.into_iter().collect();
        let others: Vec<String> = store
            .files_with(&touched, role::KEY | role::TARGET)
            .await?
            .into_iter()
            .filter(|p| !changed_paths.contains(p))
            .collect();
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            others = others.len(),
            "others found"
        );
        to_resolve = store.code_files(&others).await?;
        let mut old_edges: Vec<String> = changed;
        old_edges.extend(others);
        before_edges.extend(store.code_edges(&old_edges).await?);
        let mut keys: HashSet<String> = HashSet::new();
        for f in parsed.iter().chain(to_resolve.iter()) {
            keys.extend(SymbolTable::keys(&f.parsed.refs, &f.parsed.imports));
        }
        let keys: Vec<String> = keys.into_iter().collect();
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), keys = keys.len(), "keys");
        for s in store.symbols_named(&keys).await? {
            if !changed_paths.contains(&s.path) {
                table.add(s);
            }
        }
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "symbols read");
        let old_root = previous.expect("an incremental index has a previous graph");
        let paths = store.code_paths_of(old_root).await?;
        for path in paths.iter() {
            if !changed_paths.contains(path) {
                table.add_file(path);
            }
        }
        old_paths = Some(paths);
        for f in &parsed {
            table.add_file(&f.path);
            for u in &f.parsed.units {
                table.add(Symbol::of(u, &f.path));
            }
        }
    }

    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "symbol table ready");
    store.begin_graph_write().await?;
    let file_writes = store.write_files(&parsed, report.full);
    let mut write =
        GraphWrite { removed: removed.clone(), fresh: report.full, ..GraphWrite::default() };
    let no_edges: Vec<Edge> = Vec::new();
    let files: Vec<&CodeFile> = parsed.iter().chain(to_resolve.iter()).collect();
    let full = report.full;
    let resolved = crate::par::map(&files, |f| {
        let edges: Vec<Edge> = resolve_file(
            &f.path,
            f.language,
            &f.parsed.units,
            &f.parsed.refs,
            &f.parsed.imports,
            &table,
        );
        let old_parse = match before.get(&f.path) {
            Some(old) => Some(&old.parsed),
            // A file resolved again, not parsed: its parse is the same.
            None if !full && !changed_paths.contains(&f.path) => Some(&f.parsed),
            None => None,
        };
        let old_edges = before_edges.get(&f.path).unwrap_or(&no_edges);
        let names = (
            f.path.clone(),
            FileNames::of(&f.path, old_parse, old_edges),
            FileNames::of(&f.path, Some(&f.parsed), &edges),
        );
        (edges, names)
    });
    for (f, (edges, names)) in files.iter().zip(resolved) {
        report.edges += edges.len();
        write.names.push(names);
        write.edges.push((f.path.clone(), edges));
    }
    for path in &removed {
        let old_parse = before.get(path).map(|f| &f.parsed);
        let old_edges = before_edges.get(path).unwrap_or(&no_edges);
        write.names.push((
            path.clone(),
            FileNames::of(path, old_parse, old_edges),
            FileNames::default(),
        ));
    }
    report.resolved = write.edges.len();
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), edges = report.edges, "resolved");
    store.write_graph(write, file_writes, root).await?;
    // The next run starts from here: its code paths are these.
    let mut paths: BTreeSet<String> =
        old_paths.map(|p| p.iter().cloned().collect()).unwrap_or_default();
    for path in &removed {
        paths.remove(path);
    }
    paths.extend(parsed.iter().map(|f| f.path.clone()));
    store.remember_code_paths(root, paths.into_iter().collect());
    // Freeing a full index's parses takes a while: not on the way.
    std::thread::spawn(move || drop((parsed, to_resolve, before, table)));
    report.seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        parsed = report.parsed,
        removed = report.removed,
        resolved = report.resolved,
        seconds = report.seconds,
        "code graph updated"
    );
    Ok(report)
}

/// The names whose symbols differ between two parses of the same files,
/// and the keys edges into those symbols are filed under.
fn changed_symbols(before: &[CodeFile], after: &[CodeFile]) -> BTreeSet<String> {
    let picture = |files: &[CodeFile]| -> BTreeSet<(String, String, String)> {
        files
            .iter()
            .flat_map(|f| f.parsed.units.iter().map(move |u| (f, u)))
            .map(|(f, u)| {
                let key = target_key(&u.id).to_owned();
                (u.name.clone(), key, format!("{:?}", Symbol::of(u, &f.path)))
            })
            .collect()
    };
    let (a, b) = (picture(before), picture(after));
    a.symmetric_difference(&b).flat_map(|(name, key, _)| [name.clone(), key.clone()]).collect()
}

/// Reads and parses files: contents are read from the store a batch at a
/// time while parser threads, one per core, take files one by one (an
/// even split by count left one core idle at the end of every batch).
async fn parse_all(store: &Store, files: &[(String, ContentHash)]) -> Result<Vec<CodeFile>> {
    type Job = (usize, String, ContentHash, Vec<u8>);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(PARSE_BATCH);
    let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
    let (done, results) = std::sync::mpsc::channel::<(usize, CodeFile)>();
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let queue = queue.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                loop {
                    let job = queue.lock().expect("parse queue").recv();
                    let Ok((i, path, content, bytes)) = job else { break };
                    let language = Language::of_path(path.as_bytes()).expect("code path");
                    let parsed = parse_file(&path, &bytes, language);
                    if done.send((i, CodeFile { path, language, content, parsed })).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(done);
    let mut next = 0;
    let mut reading = std::time::Duration::ZERO;
    for batch in files.chunks(PARSE_BATCH) {
        let hashes: Vec<ContentHash> = batch.iter().map(|(_, h)| *h).collect();
        let read_started = Instant::now();
        let contents = store.read_blobs(&hashes).await?;
        reading += read_started.elapsed();
        for (path, hash) in batch {
            // Two files may share one content.
            let bytes = contents.get(hash).cloned().unwrap_or_default();
            let job = (next, path.clone(), *hash, bytes);
            next += 1;
            let job = match jobs.try_send(job) {
                Ok(()) => continue,
                Err(std::sync::mpsc::TrySendError::Full(job)) => job,
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                    return Err(crate::error::Error::Internal("the parsers stopped".into()));
                }
            };
            // A full queue waits for the parsers, off the async threads.
            let jobs = jobs.clone();
            tokio::task::spawn_blocking(move || jobs.send(job))
                .await
                .map_err(|e| crate::error::Error::Internal(format!("parser queue: {e}")))?
                .map_err(|_| crate::error::Error::Internal("the parsers stopped".into()))?;
        }
    }
    drop(jobs);
    tracing::debug!(seconds = reading.as_secs_f64(), "contents read");
    let mut out: BTreeMap<usize, CodeFile> = BTreeMap::new();
    let collected = tokio::task::spawn_blocking(move || {
        let all: Vec<(usize, CodeFile)> = results.iter().collect();
        for t in threads {
            t.join().expect("a parser thread panicked");
        }
        all
    })
    .await
    .map_err(|e| crate::error::Error::Internal(format!("parser threads: {e}")))?;
    out.extend(collected);
    Ok(out.into_values().collect())
}
