//! Keeps the code graph in step with main. After main moves (an import, a
//! flush through a mount), the code files that changed are parsed again;
//! their edges, and the edges of every file whose references may now
//! resolve differently, are resolved again. The first index of a store, or
//! one after an interrupted write, parses everything.
//!
//! Invariant: the graph after any sequence of incremental updates equals
//! the graph a full index of the same snapshot gives.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

use crate::error::Result;
use crate::graph::resolve::Symbol;
use crate::graph::resolve::{Edge, SymbolTable, file_stem, resolve_file};
use crate::graph::{Language, parse_file};
use crate::ids::ContentHash;
use crate::snapshot::{self, Resolved};
use crate::store::graph::{CodeFile, GraphWrite};
use crate::store::{ChangeOp, Store};
use crate::tree::EntryKind;

/// The version of what parsing and resolving produce. A graph built by
/// another version is rebuilt from scratch (parses are stored).
pub const GRAPH_VERSION: &str = "8";

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
    // The units changed and removed files had.
    let mut before_units: Vec<String> = Vec::new();
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
        // whose keys meet those can resolve differently now.
        let before = store.code_files(&changed_paths.iter().cloned().collect::<Vec<_>>()).await?;
        before_units =
            before.iter().flat_map(|f| f.parsed.units.iter().map(|u| u.id.clone())).collect();
        let mut touched = changed_symbols(&before, &parsed);
        let before_paths: BTreeSet<&str> = before.iter().map(|f| f.path.as_str()).collect();
        for path in &changed_paths {
            let came =
                parsed.iter().any(|f| &f.path == path) && !before_paths.contains(path.as_str());
            if came || removed.contains(path) {
                touched.insert(file_stem(path).to_owned());
            }
        }
        let touched: Vec<String> = touched.into_iter().collect();
        let others: Vec<String> = store
            .files_keyed_by(&touched)
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
        for path in store.code_paths().await? {
            if !changed_paths.contains(&path) {
                table.add_file(&path);
            }
        }
        for f in &parsed {
            table.add_file(&f.path);
            for u in &f.parsed.units {
                table.add(Symbol::of(u, &f.path));
            }
        }
    }

    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "symbol table ready");
    let mut write =
        GraphWrite { removed: removed.clone(), fresh: report.full, ..GraphWrite::default() };
    if !report.full {
        let now: HashSet<&str> =
            parsed.iter().flat_map(|f| f.parsed.units.iter().map(|u| u.id.as_str())).collect();
        write.vanished =
            before_units.iter().filter(|id| !now.contains(id.as_str())).cloned().collect();
        let mut sources: BTreeSet<String> = before_units.into_iter().collect();
        for f in parsed.iter().chain(to_resolve.iter()) {
            sources.extend(f.parsed.units.iter().map(|u| u.id.clone()));
        }
        write.edge_sources = sources.into_iter().collect();
    }
    for f in parsed.iter().chain(to_resolve.iter()) {
        let edges: Vec<Edge> = resolve_file(
            &f.path,
            f.language,
            &f.parsed.units,
            &f.parsed.refs,
            &f.parsed.imports,
            &table,
        );
        report.edges += edges.len();
        write.edges.push((f.path.clone(), edges));
    }
    for path in &removed {
        write.edges.push((path.clone(), Vec::new()));
    }
    for f in &parsed {
        let keys: Vec<String> =
            SymbolTable::keys(&f.parsed.refs, &f.parsed.imports).into_iter().collect();
        write.keys.push((f.path.clone(), keys));
    }
    report.resolved = write.edges.len() - removed.len();
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), edges = report.edges, "resolved");
    write.files = parsed;
    store.write_graph(write, root).await?;
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

/// The names whose symbols differ between two parses of the same files.
fn changed_symbols(before: &[CodeFile], after: &[CodeFile]) -> BTreeSet<String> {
    let picture = |files: &[CodeFile]| -> BTreeSet<(String, String)> {
        files
            .iter()
            .flat_map(|f| f.parsed.units.iter().map(move |u| (f, u)))
            .map(|(f, u)| (u.name.clone(), format!("{:?}", Symbol::of(u, &f.path))))
            .collect()
    };
    let (a, b) = (picture(before), picture(after));
    a.symmetric_difference(&b).map(|(name, _)| name.clone()).collect()
}

/// Reads and parses files, on every core.
async fn parse_all(store: &Store, files: &[(String, ContentHash)]) -> Result<Vec<CodeFile>> {
    let mut out = Vec::with_capacity(files.len());
    for batch in files.chunks(PARSE_BATCH) {
        let hashes: Vec<ContentHash> = batch.iter().map(|(_, h)| *h).collect();
        let contents = store.read_blobs(&hashes).await?;
        let jobs: Vec<(String, ContentHash, Vec<u8>)> = batch
            .iter()
            .map(|(p, h)| (p.clone(), *h, contents.get(h).cloned().unwrap_or_default()))
            .collect();
        let parsed = tokio::task::spawn_blocking(move || parse_parallel(jobs))
            .await
            .map_err(|e| crate::error::Error::Internal(format!("parser thread: {e}")))?;
        out.extend(parsed);
    }
    Ok(out)
}

fn parse_parallel(jobs: Vec<(String, ContentHash, Vec<u8>)>) -> Vec<CodeFile> {
    let workers =
        std::thread::available_parallelism().map_or(2, |n| n.get()).min(jobs.len().max(1));
    let chunk = jobs.len().div_ceil(workers).max(1);
    let mut results: BTreeMap<usize, CodeFile> = BTreeMap::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .enumerate()
            .map(|(n, part)| {
                scope.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(i, (path, content, bytes))| {
                            let language = Language::of_path(path.as_bytes()).expect("code path");
                            let parsed = parse_file(path, bytes, language);
                            (
                                n * chunk + i,
                                CodeFile {
                                    path: path.clone(),
                                    language,
                                    content: *content,
                                    parsed,
                                },
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            results.extend(h.join().expect("a parser thread panicked"));
        }
    });
    results.into_values().collect()
}
