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

use tracing::Instrument;

use crate::error::{Error, Result};
use crate::graph::resolve::Symbol;
use crate::graph::resolve::{
    Edge, FileEdges, SymbolTable, file_stem, module_name, resolve_file, target_key,
};
use crate::graph::rust::{crate_name_in, outside_lib, rust_package_dir};
use crate::graph::{Language, UnitKind, parse_file};
use crate::ids::ContentHash;
use crate::snapshot::{self, Resolved};
use crate::store::graph::{CodeFile, FileNames, FileWrites, GraphWrite, role};
use crate::store::{ChangeOp, Store};
use crate::store::{FreshNames, StoredParse};
use crate::tree::EntryKind;

/// The version of what parsing and resolving produce. A graph built by
/// another version is rebuilt from scratch (parses are stored).
pub const GRAPH_VERSION: &str = "20";

/// How many hops deep an incremental index reads the names a symbol leads
/// to: through re-exports, and (`Known::read_consulted`) the types a
/// receiver's chain goes through (at most `types::MAX_CHAIN` steps). A
/// clean index has every name at hand.
const MAX_HOPS: usize = 6;

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
    let head = store.history().head().await?;
    index_root(store, head.root).await
}

/// Brings the graph to the snapshot whose root tree is `root`, in stages,
/// each a span (`index.changes`, `index.parse`, `index.symbols`,
/// `index.resolve`, `index.write`: with `CORTEX_LOG=cortex=debug` each
/// logs its time as it closes).
#[tracing::instrument(name = "index", skip_all, fields(root = %root.short()))]
pub async fn index_root(store: &Store, root: ContentHash) -> Result<IndexReport> {
    let started = Instant::now();
    let same_version = store.meta_get("graph_version").await?.as_deref() == Some(GRAPH_VERSION);
    let previous = if same_version { store.graph().graph_root().await? } else { None };
    if previous == Some(root) {
        return Ok(IndexReport::default());
    }
    let mut report = IndexReport { full: previous.is_none(), ..IndexReport::default() };
    let (changed, removed) = changes(store, previous, root).await?;
    let paths = match previous {
        None => index_full(store, root, &changed, &mut report).await?,
        Some(old_root) => {
            index_changes(store, (old_root, root), &changed, &removed, &mut report).await?
        }
    };
    store.graph().remember_code_paths(root, paths);
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

/// Files resolved at a time by a full index: their parses decoded, their
/// edges written, their names added to the index being built.
const RESOLVE_BATCH: usize = 1024;

/// A first index (or one after an interrupted write), in stages that hold
/// little at once: each file's parse is written as it comes and kept
/// encoded, its symbols go into the table; then the files are resolved a
/// batch at a time, each batch's edges written and its names added to the
/// name index, which is written last. (Holding every parse, then every
/// edge and name, peaked at 3.4 GB on the cargo registry cache.) Gives the
/// code paths.
async fn index_full(
    store: &Store,
    root: ContentHash,
    files: &[(String, ContentHash)],
    report: &mut IndexReport,
) -> Result<Vec<String>> {
    let graph = store.graph();
    graph.begin_graph_write().await?;
    let (mut table, file_units, kept) = parse_and_write(store, files).await?;
    report.parsed = kept.len();
    report.skipped = kept.iter().filter(|f| f.skipped()).count();
    report.with_errors = kept.iter().filter(|f| f.with_errors()).count();
    report.units = kept.iter().map(StoredParse::units).sum();
    for (dir, name) in crate_names(store, root, kept.iter().map(|f| (&*f.path, f.language))).await {
        table.add_crate(&dir, &name);
    }
    let resolving = tracing::debug_span!("index.resolve");
    let mut names = FreshNames::default();
    let mut paths = Vec::with_capacity(kept.len());
    let mut writing: Option<FileWrites> = None;
    let mut rest = kept.into_iter();
    loop {
        let batch: Vec<StoredParse> = rest.by_ref().take(RESOLVE_BATCH).collect();
        if batch.is_empty() {
            break;
        }
        let resolved = resolving.in_scope(|| {
            crate::par::map(&batch, |stored| {
                let f = stored.decode()?;
                let p = &f.parsed;
                let FileEdges { edges, consulted } =
                    resolve_file(&f.path, f.language, &p.units, &p.refs, &p.imports, &table);
                // The symbols come from the table, once resolution is done.
                let names = FileNames::roles_of(Some(p), &edges, &consulted);
                Ok::<_, Error>((f.path, edges, names))
            })
        });
        drop(batch);
        let mut edges = Vec::with_capacity(resolved.len());
        for file in resolved {
            let (path, file_edges, file_names): (String, Vec<Edge>, FileNames) = file?;
            report.edges += file_edges.len();
            names.add(&path, file_names);
            paths.push(path.clone());
            edges.push((path, file_edges));
        }
        // One batch's edges are written while the next is resolved.
        if let Some(previous) = writing.replace(graph.write_new_edges(edges)) {
            previous.wait().await?;
        }
    }
    if let Some(last) = writing {
        last.wait().await?;
    }
    report.resolved = paths.len();
    for s in table.into_symbols().chain(file_units) {
        names.add_symbol(s);
    }
    graph.write_new_names(names).instrument(tracing::debug_span!("index.write")).await?;
    graph.end_graph_write(root).await?;
    Ok(paths)
}

/// A full index's first stage: every file parsed, its records written as
/// it comes, its symbols added to the table; gives the table, the files'
/// own units (which the table does not keep) and the parses, encoded.
async fn parse_and_write(
    store: &Store,
    files: &[(String, ContentHash)],
) -> Result<(SymbolTable, Vec<Symbol>, Vec<StoredParse>)> {
    let mut writer = store.graph().parse_writer();
    let mut table = SymbolTable::default();
    let mut kept: Vec<StoredParse> = Vec::with_capacity(files.len());
    let mut file_units: Vec<Symbol> = Vec::with_capacity(files.len());
    let encode = |f: CodeFile| (StoredParse::of(&f), Symbol::all_of(&f.path, &f.parsed));
    let mut parsing = Parsing::start(store, files, encode);
    let parse = tracing::debug_span!("index.parse", files = files.len());
    while let Some(batch) = parsing.next().instrument(parse.clone()).await? {
        let mut stored = Vec::with_capacity(batch.len());
        for (file, symbols) in batch {
            table.add_file(&file.path);
            for s in symbols {
                if s.kind == UnitKind::File {
                    file_units.push(s.clone());
                }
                table.add(s);
            }
            stored.push(file);
        }
        writer.send(&stored).await?;
        kept.extend(stored);
    }
    writer.finish().await?;
    Ok((table, file_units, kept))
}

/// An index from the graph of `old_root` to `root`: the files parsed
/// again, and those whose references may resolve differently now. Gives
/// the code paths.
async fn index_changes(
    store: &Store,
    (old_root, root): (ContentHash, ContentHash),
    changed: &[(String, ContentHash)],
    removed: &[String],
    report: &mut IndexReport,
) -> Result<Vec<String>> {
    let mut parsed: Vec<CodeFile> = Vec::with_capacity(changed.len());
    let mut parsing = Parsing::start(store, changed, |f| f);
    let parse = tracing::debug_span!("index.parse", files = changed.len());
    while let Some(batch) = parsing.next().instrument(parse.clone()).await? {
        parsed.extend(batch);
    }
    let parsed = std::sync::Arc::new(parsed);
    report.parsed = parsed.len();
    report.removed = removed.len();
    report.skipped = parsed.iter().filter(|f| f.parsed.skipped.is_some()).count();
    report.with_errors = parsed.iter().filter(|f| !f.parsed.diagnostics.is_empty()).count();
    report.units = parsed.iter().map(|f| f.parsed.units.len()).sum();

    let mut known = Known::around(store, old_root, &parsed, removed).await?;
    let resolving = parsed.iter().chain(known.to_resolve.iter());
    for (dir, name) in crate_names(store, root, resolving.map(|f| (&*f.path, f.language))).await {
        known.table.add_crate(&dir, &name);
    }
    store.graph().begin_graph_write().await?;
    let file_writes = store.graph().write_files(parsed.clone());
    let write = resolve_all(&parsed, removed, &known);
    report.edges = write.edges.iter().map(|(_, edges)| edges.len()).sum();
    report.resolved = write.edges.len();
    // The next run starts from here: its code paths are these.
    let mut paths: BTreeSet<String> = known.old_paths.iter().cloned().collect();
    for path in removed {
        paths.remove(path);
    }
    paths.extend(parsed.iter().map(|f| f.path.clone()));
    store
        .graph()
        .write_graph(write, file_writes, (old_root, root))
        .instrument(tracing::debug_span!("index.write"))
        .await?;
    Ok(paths.into_iter().collect())
}

/// The crate names of the Rust packages whose tests, examples or benches
/// are being resolved (only those call the library by the crate's name),
/// from their `Cargo.toml` in the snapshot (none: not a package). A crate
/// renamed is seen when those files are next resolved.
async fn crate_names<'a>(
    store: &Store,
    root: ContentHash,
    files: impl Iterator<Item = (&'a str, Language)>,
) -> Vec<(String, String)> {
    let dirs: BTreeSet<&str> = files
        .filter(|&(path, language)| language == Language::Rust && outside_lib(path))
        .map(|(path, _)| rust_package_dir(path))
        .collect();
    let mut out = Vec::new();
    for dir in dirs {
        let manifest = format!("{dir}Cargo.toml");
        let Ok(bytes) = snapshot::read_file(store, root, manifest.as_bytes()).await else {
            continue;
        };
        if let Some(name) = crate_name_in(&String::from_utf8_lossy(&bytes)) {
            out.push((dir.to_owned(), name));
        }
    }
    out
}

/// The code files to parse (path, content) and the paths gone.
type Changes = (Vec<(String, ContentHash)>, Vec<String>);

/// The code files to parse and the ones gone, between the graph's
/// snapshot (`previous`; none: everything) and `root`.
#[tracing::instrument(name = "index.changes", level = "debug", skip_all)]
async fn changes(
    store: &Store,
    previous: Option<ContentHash>,
    root: ContentHash,
) -> Result<Changes> {
    let mut changed: Vec<(String, ContentHash)> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    let Some(old) = previous else {
        store.graph().clear_graph().await?;
        store.meta_set("graph_version", GRAPH_VERSION).await?;
        for (path, entry) in snapshot::walk(store, root).await? {
            if let (EntryKind::File { content, .. }, Ok(path)) =
                (&entry.kind, String::from_utf8(path))
                && Language::of_path(path.as_bytes()).is_some()
            {
                changed.push((path, *content));
            }
        }
        return Ok((changed, removed));
    };
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
    tracing::debug!(files = changed.len(), removed = removed.len(), "to parse");
    Ok((changed, removed))
}

/// What resolution sees besides the files just parsed: the symbol table,
/// the other files to resolve again, and what the changed files had before.
#[derive(Default)]
struct Known {
    table: SymbolTable,
    /// Files not parsed whose references may resolve differently now.
    to_resolve: Vec<CodeFile>,
    /// What the files parsed, resolved again or removed had before.
    before: HashMap<String, CodeFile>,
    before_edges: HashMap<String, Vec<Edge>>,
    /// The code paths the graph had.
    old_paths: std::sync::Arc<Vec<String>>,
    /// The paths parsed or removed.
    changed_paths: BTreeSet<String>,
}

impl Known {
    /// An incremental index from the graph of `old_root`: names whose units
    /// came, went or changed in what resolution sees of them, and the stems
    /// of files that came or went, decide which other files can resolve
    /// differently now; only their keys' symbols are read.
    #[tracing::instrument(name = "index.symbols", level = "debug", skip_all)]
    async fn around(
        store: &Store,
        old_root: ContentHash,
        parsed: &[CodeFile],
        removed: &[String],
    ) -> Result<Known> {
        let changed_paths: BTreeSet<String> =
            parsed.iter().map(|f| f.path.clone()).chain(removed.iter().cloned()).collect();
        let changed: Vec<String> = changed_paths.iter().cloned().collect();
        let old = store.graph().code_files(&changed).await?;
        let mut touched = changed_symbols(&old, parsed);
        let before: HashMap<String, CodeFile> =
            old.into_iter().map(|f| (f.path.clone(), f)).collect();
        for path in &changed_paths {
            let came = parsed.iter().any(|f| &f.path == path) && !before.contains_key(path);
            if came || removed.contains(path) {
                touched.insert(file_stem(path).to_owned());
                touched.insert(module_name(path).to_owned());
                touched.insert(path.clone());
            }
        }
        let touched: Vec<String> = touched.into_iter().collect();
        let others: Vec<String> = store
            .graph()
            .files_with(&touched, role::KEY | role::TARGET)
            .await?
            .into_iter()
            .filter(|p| !changed_paths.contains(p))
            .collect();
        tracing::debug!(others = others.len(), "others found");
        let to_resolve = store.graph().code_files(&others).await?;
        let mut old_edges: Vec<String> = changed;
        old_edges.extend(others);
        let before_edges: HashMap<String, Vec<Edge>> =
            store.graph().code_edges(&old_edges).await?.into_iter().collect();
        let mut keys: HashSet<String> = HashSet::new();
        for f in parsed.iter().chain(to_resolve.iter()) {
            keys.extend(SymbolTable::keys(&f.parsed));
        }
        let (mut table, asked) = read_table(store, keys, parsed, &changed_paths).await?;
        let paths = store.graph().code_paths_of(old_root).await?;
        for path in paths.iter() {
            if !changed_paths.contains(path) {
                table.add_file(path);
            }
        }
        let mut known =
            Known { table, to_resolve, before, before_edges, old_paths: paths, changed_paths };
        known.add_parsed(parsed);
        known.read_consulted(store, parsed, asked).await?;
        Ok(known)
    }

    /// The names resolution consults beyond the files' keys (the types a
    /// receiver's chain goes through), read until resolving the files
    /// asks for no name not read yet: what a clean index, which has every
    /// name, would find. (Reading every struct's field types ahead, six
    /// hops deep, cost a write through the mount 100 ms.)
    async fn read_consulted(
        &mut self,
        store: &Store,
        parsed: &[CodeFile],
        mut asked: HashSet<String>,
    ) -> Result<()> {
        for _ in 0..MAX_HOPS {
            let mut wanted = BTreeSet::new();
            for f in parsed.iter().chain(self.to_resolve.iter()) {
                let resolved = resolve_file(
                    &f.path,
                    f.language,
                    &f.parsed.units,
                    &f.parsed.refs,
                    &f.parsed.imports,
                    &self.table,
                );
                wanted.extend(resolved.consulted.into_iter().filter(|n| !asked.contains(n)));
            }
            if wanted.is_empty() {
                break;
            }
            let wanted: Vec<String> = wanted.into_iter().collect();
            asked.extend(wanted.iter().cloned());
            let (more, more_asked) =
                read_table(store, wanted.into_iter().collect(), &[], &self.changed_paths).await?;
            asked.extend(more_asked);
            self.table.absorb(more);
        }
        Ok(())
    }

    fn add_parsed(&mut self, parsed: &[CodeFile]) {
        for f in parsed {
            self.table.add_file(&f.path);
            for s in Symbol::all_of(&f.path, &f.parsed) {
                self.table.add(s);
            }
        }
    }
}

/// The symbols named by `keys`, not of the changed files, and the names
/// re-exports lead to: `export { a as b } from './m'` is keyed by b, and
/// resolving it needs m's a. (A clean index has every name at hand.)
async fn read_table(
    store: &Store,
    mut keys: HashSet<String>,
    parsed: &[CodeFile],
    changed_paths: &BTreeSet<String>,
) -> Result<(SymbolTable, HashSet<String>)> {
    tracing::debug!(keys = keys.len(), "keys");
    let mut table = SymbolTable::default();
    let mut asked: HashSet<String> = HashSet::new();
    for f in parsed {
        for s in Symbol::all_of(&f.path, &f.parsed) {
            keys.extend(SymbolTable::next_keys(&s));
        }
    }
    let mut next: Vec<String> = keys.into_iter().collect();
    for _ in 0..=MAX_HOPS {
        if next.is_empty() {
            break;
        }
        asked.extend(next.iter().cloned());
        let mut more = HashSet::new();
        for s in store.graph().symbols_named(&next).await? {
            if changed_paths.contains(&s.path) {
                continue;
            }
            more.extend(SymbolTable::next_keys(&s));
            table.add(s);
        }
        next = more.into_iter().filter(|k| !asked.contains(k)).collect();
    }
    Ok((table, asked))
}

/// Resolves the parsed files and the others `known` names, on every core,
/// into the graph's next write.
#[tracing::instrument(name = "index.resolve", level = "debug", skip_all)]
fn resolve_all(parsed: &[CodeFile], removed: &[String], known: &Known) -> GraphWrite {
    let mut write = GraphWrite { removed: removed.to_vec(), ..GraphWrite::default() };
    let no_edges: Vec<Edge> = Vec::new();
    let files: Vec<&CodeFile> = parsed.iter().chain(known.to_resolve.iter()).collect();
    let resolved = crate::par::map(&files, |f| {
        let FileEdges { edges, consulted } = resolve_file(
            &f.path,
            f.language,
            &f.parsed.units,
            &f.parsed.refs,
            &f.parsed.imports,
            &known.table,
        );
        let old_parse = match known.before.get(&f.path) {
            Some(old) => Some(&old.parsed),
            // A file resolved again, not parsed: its parse is the same.
            None if !known.changed_paths.contains(&f.path) => Some(&f.parsed),
            None => None,
        };
        let old_edges = known.before_edges.get(&f.path).unwrap_or(&no_edges);
        // What was consulted before is not kept: an entry left over only
        // costs a file resolved again for nothing.
        let names = (
            f.path.clone(),
            FileNames::of(&f.path, old_parse, old_edges, &[]),
            FileNames::of(&f.path, Some(&f.parsed), &edges, &consulted),
        );
        (edges, names)
    });
    for (f, (edges, names)) in files.iter().zip(resolved) {
        write.names.push(names);
        write.edges.push((f.path.clone(), edges));
    }
    for path in removed {
        let old_parse = known.before.get(path).map(|f| &f.parsed);
        let old_edges = known.before_edges.get(path).unwrap_or(&no_edges);
        write.names.push((
            path.clone(),
            FileNames::of(path, old_parse, old_edges, &[]),
            FileNames::default(),
        ));
    }
    write
}

/// The names whose symbols differ between two parses of the same files,
/// and the keys edges into those symbols are filed under.
fn changed_symbols(before: &[CodeFile], after: &[CodeFile]) -> BTreeSet<String> {
    let picture = |files: &[CodeFile]| -> BTreeSet<(String, String, String)> {
        files
            .iter()
            .flat_map(|f| Symbol::all_of(&f.path, &f.parsed))
            .map(|s| {
                let key = target_key(&s.id).to_owned();
                (s.name.clone(), key, format!("{s:?}"))
            })
            .collect()
    };
    let (a, b) = (picture(before), picture(after));
    a.symmetric_difference(&b).flat_map(|(name, key, _)| [name.clone(), key.clone()]).collect()
}

/// Reads and parses files: contents are read from the store a batch at a
/// time while parser threads, one per core, take files one by one (an
/// even split by count left one core idle at the end of every batch).
/// Each parse is handed to `post` on its parser's thread; what it gives
/// comes out of `next` in the files' order, as batches are done.
struct Parsing<'a, T> {
    store: &'a Store,
    batches: std::slice::Chunks<'a, (String, ContentHash)>,
    jobs: Option<std::sync::mpsc::SyncSender<ParseJob>>,
    results: Option<std::sync::mpsc::Receiver<(usize, T)>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    in_order: InOrder<T>,
    sent: usize,
    reading: std::time::Duration,
}

type ParseJob = (usize, String, ContentHash, Vec<u8>);

impl<'a, T: Send + 'static> Parsing<'a, T> {
    fn start(
        store: &'a Store,
        files: &'a [(String, ContentHash)],
        post: fn(CodeFile) -> T,
    ) -> Parsing<'a, T> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (jobs, queue) = std::sync::mpsc::sync_channel::<ParseJob>(PARSE_BATCH);
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        let (done, results) = std::sync::mpsc::channel::<(usize, T)>();
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
                        drop(bytes);
                        let file = post(CodeFile { path, language, content, parsed });
                        if done.send((i, file)).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        Parsing {
            store,
            batches: files.chunks(PARSE_BATCH),
            jobs: Some(jobs),
            results: Some(results),
            threads,
            in_order: InOrder::default(),
            sent: 0,
            reading: std::time::Duration::ZERO,
        }
    }

    /// The files parsed since the last call, in order (perhaps none yet);
    /// `None` once every file was given.
    async fn next(&mut self) -> Result<Option<Vec<T>>> {
        let Some(results) = self.results.take() else { return Ok(None) };
        if let Some(batch) = self.batches.next() {
            self.send(batch).await?;
            self.in_order.extend(results.try_iter());
            self.results = Some(results);
            return Ok(Some(self.in_order.ready()));
        }
        drop(self.jobs.take());
        tracing::debug!(seconds = self.reading.as_secs_f64(), "contents read");
        let threads = std::mem::take(&mut self.threads);
        let rest = tokio::task::spawn_blocking(move || {
            let rest: Vec<(usize, T)> = results.iter().collect();
            for t in threads {
                t.join().expect("a parser thread panicked");
            }
            rest
        })
        .await
        .map_err(|e| Error::Internal(format!("parser threads: {e}")))?;
        self.in_order.extend(rest);
        Ok(Some(self.in_order.ready()))
    }

    /// Reads a batch's contents and queues them for the parsers.
    async fn send(&mut self, batch: &[(String, ContentHash)]) -> Result<()> {
        let jobs = self.jobs.as_ref().expect("jobs are sent before the end");
        let hashes: Vec<ContentHash> = batch.iter().map(|(_, h)| *h).collect();
        let read_started = Instant::now();
        let contents = self.store.objects().read_blobs(&hashes).await?;
        self.reading += read_started.elapsed();
        for (path, hash) in batch {
            // Two files may share one content.
            let bytes = contents.get(hash).cloned().unwrap_or_default();
            let job = (self.sent, path.clone(), *hash, bytes);
            self.sent += 1;
            let job = match jobs.try_send(job) {
                Ok(()) => continue,
                Err(std::sync::mpsc::TrySendError::Full(job)) => job,
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                    return Err(Error::Internal("the parsers stopped".into()));
                }
            };
            // A full queue waits for the parsers, off the async threads.
            let jobs = jobs.clone();
            tokio::task::spawn_blocking(move || jobs.send(job))
                .await
                .map_err(|e| Error::Internal(format!("parser queue: {e}")))?
                .map_err(|_| Error::Internal("the parsers stopped".into()))?;
        }
        Ok(())
    }
}

/// Results that come in any order, given out in order.
struct InOrder<T> {
    waiting: BTreeMap<usize, T>,
    next: usize,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        InOrder { waiting: BTreeMap::new(), next: 0 }
    }
}

impl<T> InOrder<T> {
    fn extend(&mut self, results: impl IntoIterator<Item = (usize, T)>) {
        self.waiting.extend(results);
    }

    /// The results from the next one on, up to the first still missing.
    fn ready(&mut self) -> Vec<T> {
        let mut out = Vec::new();
        while let Some(t) = self.waiting.remove(&self.next) {
            out.push(t);
            self.next += 1;
        }
        out
    }
}
