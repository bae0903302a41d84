//! The graph's rows in memory, as last read or written, per view: the name
//! index's buckets, and files' decoded units and edges.
//!
//! An incremental index reads the buckets of every name its files use and
//! of the names those lead to: on a 2,000-file tree, 50-100 buckets and
//! 1-2 MB of encoded entries a write, 15-35 ms of a write's ~50 ms path to
//! the graph (`scripts/bench-index.sh`). The same few hundred buckets (the
//! names every file calls: `new`, `from`, `clone`…) come back write after
//! write. The graph's questions (`get_unit`, `callers`, `impact`…) read the
//! same files' units and edges call after call: fetching and decoding them
//! was two thirds of the daemon's time under MCP clients (perf). Both are
//! kept here.
//!
//! Rows are only ever served for the graph root they were read or written
//! under: a reader notes the root (`meta:graph_root`) before it reads the
//! rows and keeps them only if the root is the same after; a graph write
//! clears the view's root as it begins (as the store's mark does), and an
//! incremental write that began from the cached root puts the buckets it
//! wrote, drops the rows of the files it wrote, and moves the root on.
//! Anything else (a full index, another process writing to a shared server)
//! leaves a root that differs from the store's, and the view's rows are
//! dropped at the next read.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::graph::Unit;
use crate::graph::resolve::Edge;
use crate::ids::ContentHash;
use crate::memory::CacheUse;

/// A row of the graph, by what it is of.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum RowKey {
    /// A bucket of the name index.
    Bucket(u32),
    /// A file's units.
    Units(String),
    /// A file's edges.
    Edges(String),
}

impl RowKey {
    /// The file a file's row is of ("" for a bucket).
    pub(crate) fn path(&self) -> &str {
        match self {
            RowKey::Units(path) | RowKey::Edges(path) => path,
            RowKey::Bucket(_) => "",
        }
    }
}

/// A row as kept: a bucket's encoded entries; a file's units or edges,
/// decoded.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Row {
    Bucket(Arc<str>),
    Units(Arc<Vec<Unit>>),
    Edges(Arc<Vec<Edge>>),
}

impl Row {
    /// Bytes the row holds, near enough to budget by.
    fn weight(&self) -> usize {
        let strings = |xs: &[&str]| xs.iter().map(|x| x.len()).sum::<usize>();
        match self {
            Row::Bucket(row) => row.len(),
            Row::Units(units) => units
                .iter()
                .map(|u| {
                    std::mem::size_of::<Unit>()
                        + strings(&[&u.id, &u.name, &u.qname, &u.signature, &u.doc, &u.body_hash])
                        + u.parent.as_ref().map_or(0, String::len)
                        + u.fields.iter().map(|(a, b)| a.len() + b.len() + 48).sum::<usize>()
                        + u.returns.len()
                        + u.closure_args.iter().map(|a| a.len() + 24).sum::<usize>()
                })
                .sum(),
            Row::Edges(edges) => {
                edges.iter().map(|e| std::mem::size_of::<Edge>() + e.from.len() + e.to.len()).sum()
            }
        }
    }
}

/// Rows of the graph by view (namespace), within a byte budget (the memory
/// budget's graph share); the least lately used half goes when more would
/// not fit.
#[derive(Debug)]
pub(crate) struct GraphCache {
    state: Mutex<State>,
    budget: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    views: HashMap<String, ViewRows>,
    /// Bytes of the rows held, every view's.
    bytes: usize,
    /// Uses so far: a row's last use orders eviction.
    clock: u64,
}

#[derive(Debug, Default)]
struct ViewRows {
    /// The graph root the rows describe; none while a write is under way
    /// or before a read has established one.
    root: Option<ContentHash>,
    /// The root a write under way began from.
    writing_from: Option<ContentHash>,
    /// A row, its weight and its last use.
    rows: HashMap<RowKey, (Row, usize, u64)>,
}

impl ViewRows {
    /// Drops every row; returns the bytes freed.
    fn drain(&mut self) -> usize {
        self.rows.drain().map(|(_, (_, weight, _))| weight).sum()
    }
}

impl GraphCache {
    pub(crate) fn new(budget: &crate::memory::Budget) -> GraphCache {
        let (hits, misses) = (AtomicU64::new(0), AtomicU64::new(0));
        GraphCache { state: Mutex::default(), budget: budget.graph_cache as usize, hits, misses }
    }

    /// What the cache holds, and its hits and misses so far.
    pub(crate) fn usage(&self) -> CacheUse {
        CacheUse {
            held: self.lock().bytes as u64,
            budget: self.budget as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("graph cache")
    }

    /// The rows of `keys` held for `ns`'s graph at `root`, and the keys to
    /// read from the store. Rows of another root are dropped.
    pub(crate) fn get(
        &self,
        ns: &str,
        root: ContentHash,
        keys: &BTreeSet<RowKey>,
    ) -> (Vec<(RowKey, Row)>, BTreeSet<RowKey>) {
        let mut state = self.lock();
        state.clock += 1;
        let clock = state.clock;
        let mut found = Vec::new();
        let mut missing = BTreeSet::new();
        let mut dropped = 0;
        if let Some(view) = state.views.get_mut(ns)
            && view.root.is_some()
        {
            if view.root != Some(root) {
                dropped = view.drain();
                view.root = None;
            }
            for key in keys {
                match view.rows.get_mut(key) {
                    Some((row, _, used)) => {
                        *used = clock;
                        found.push((key.clone(), row.clone()));
                    }
                    None => {
                        missing.insert(key.clone());
                    }
                }
            }
        } else {
            missing.clone_from(keys);
        }
        state.bytes -= dropped;
        self.hits.fetch_add(found.len() as u64, Ordering::Relaxed);
        self.misses.fetch_add(missing.len() as u64, Ordering::Relaxed);
        crate::metrics::global().graph_cache.count_many(found.len() as u64, missing.len() as u64);
        (found, missing)
    }

    /// Keeps rows read for `ns`'s graph at `root` (the store's root before
    /// and after the read), unless the view holds another root or a write
    /// is under way.
    pub(crate) fn put(&self, ns: &str, root: ContentHash, rows: &[(RowKey, Row)]) {
        let mut state = self.lock();
        let view = state.views.entry(ns.to_owned()).or_default();
        match view.root {
            Some(r) if r == root => {}
            None if view.writing_from.is_none() => view.root = Some(root),
            _ => return,
        }
        self.insert(&mut state, ns, rows);
    }

    /// A graph write of `ns` begins: nothing is served until it ends.
    pub(crate) fn begin_write(&self, ns: &str) {
        let mut state = self.lock();
        let view = state.views.entry(ns.to_owned()).or_default();
        view.writing_from = view.root.take();
    }

    /// An incremental write of `ns` from the graph at `from` to the graph
    /// at `root` ended, writing `rows` and emptying or replacing `gone`: if
    /// the rows held were `from`'s, they become `root`'s; else the view's
    /// go.
    pub(crate) fn written(
        &self,
        ns: &str,
        (from, root): (ContentHash, ContentHash),
        rows: &[(RowKey, Row)],
        gone: &[RowKey],
    ) {
        let mut state = self.lock();
        let view = state.views.entry(ns.to_owned()).or_default();
        if view.writing_from.take() != Some(from) {
            drop(state);
            self.forget(ns);
            return;
        }
        view.root = Some(root);
        let freed: usize =
            gone.iter().filter_map(|k| view.rows.remove(k)).map(|(_, weight, _)| weight).sum();
        state.bytes -= freed;
        self.insert(&mut state, ns, rows);
    }

    /// Drops what is held for `ns` (a full index wrote its graph anew).
    pub(crate) fn forget(&self, ns: &str) {
        let mut state = self.lock();
        if let Some(mut view) = state.views.remove(ns) {
            state.bytes -= view.drain();
        }
    }

    fn insert(&self, state: &mut State, ns: &str, rows: &[(RowKey, Row)]) {
        let weighed: Vec<usize> = rows.iter().map(|(_, row)| row.weight()).collect();
        if state.bytes + weighed.iter().sum::<usize>() > self.budget {
            evict_older_half(state);
        }
        state.clock += 1;
        let clock = state.clock;
        let view = state.views.entry(ns.to_owned()).or_default();
        let mut delta: isize = 0;
        for ((key, row), &weight) in rows.iter().zip(&weighed) {
            if weight > self.budget / 8 {
                continue;
            }
            delta += weight as isize;
            if let Some((_, old, _)) = view.rows.insert(key.clone(), (row.clone(), weight, clock)) {
                delta -= old as isize;
            }
        }
        state.bytes = state.bytes.saturating_add_signed(delta);
    }
}

/// Drops the rows used least lately, half of them, every view's.
fn evict_older_half(state: &mut State) {
    let mut uses: Vec<u64> =
        state.views.values().flat_map(|v| v.rows.values().map(|(_, _, used)| *used)).collect();
    if uses.is_empty() {
        return;
    }
    uses.sort_unstable();
    let median = uses[uses.len() / 2];
    for view in state.views.values_mut() {
        view.rows.retain(|_, (_, _, used)| *used > median);
    }
    state.bytes =
        state.views.values().flat_map(|v| v.rows.values()).map(|(_, weight, _)| weight).sum();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> GraphCache {
        GraphCache::new(&crate::memory::Budget::of(1 << 30))
    }

    fn root(n: u8) -> ContentHash {
        ContentHash::of(&[n])
    }

    fn row(text: &str) -> Row {
        Row::Bucket(Arc::from(text))
    }

    fn wanted(buckets: &[u32]) -> BTreeSet<RowKey> {
        buckets.iter().map(|&b| RowKey::Bucket(b)).collect()
    }

    fn rows(rows: &[(u32, &str)]) -> Vec<(RowKey, Row)> {
        rows.iter().map(|&(b, text)| (RowKey::Bucket(b), row(text))).collect()
    }

    #[test]
    fn rows_are_served_only_for_the_root_they_were_read_at() {
        let c = cache();
        c.put("main", root(1), &rows(&[(1, "a"), (2, "b")]));
        let (found, missing) = c.get("main", root(1), &wanted(&[1, 3]));
        assert_eq!(found, rows(&[(1, "a")]));
        assert_eq!(missing, wanted(&[3]));
        // Another root: the store moved without this cache hearing of it.
        let (found, missing) = c.get("main", root(2), &wanted(&[1, 2]));
        assert!(found.is_empty());
        assert_eq!(missing, wanted(&[1, 2]));
        assert_eq!(c.usage().held, 0);
        // Views do not share rows.
        c.put("main", root(2), &rows(&[(1, "a2")]));
        assert!(c.get("session_x", root(2), &wanted(&[1])).0.is_empty());
    }

    #[test]
    fn an_incremental_write_moves_the_rows_on_and_a_foreign_one_drops_them() {
        let c = cache();
        c.put("main", root(1), &rows(&[(1, "a"), (2, "b"), (3, "c")]));
        c.begin_write("main");
        // Nothing is served during the write, and reads made during it are
        // not kept.
        assert!(c.get("main", root(1), &wanted(&[1])).0.is_empty());
        c.put("main", root(1), &rows(&[(4, "d")]));
        c.written("main", (root(1), root(2)), &rows(&[(2, "b2")]), &[RowKey::Bucket(3)]);
        let (found, missing) = c.get("main", root(2), &wanted(&[1, 2, 3, 4]));
        assert_eq!(found, rows(&[(1, "a"), (2, "b2")]));
        assert_eq!(missing, wanted(&[3, 4]));
        assert_eq!(c.usage().held, 3);
        // A write from a root this cache did not hold: its rows go.
        c.begin_write("main");
        c.written("main", (root(5), root(6)), &rows(&[(2, "x")]), &[]);
        assert!(c.get("main", root(6), &wanted(&[1, 2])).0.is_empty());
        assert_eq!(c.usage().held, 0);
    }

    #[test]
    fn a_write_drops_the_rows_of_the_files_it_wrote_and_keeps_the_others() {
        let c = cache();
        let units = |path: &str| RowKey::Units(path.to_owned());
        let edges = |path: &str| RowKey::Edges(path.to_owned());
        let none = || Row::Edges(Arc::new(Vec::new()));
        let kept = [units("a.rs"), edges("a.rs"), units("b.rs"), edges("b.rs")];
        c.put("main", root(1), &kept.iter().map(|k| (k.clone(), none())).collect::<Vec<_>>());
        c.begin_write("main");
        c.written("main", (root(1), root(2)), &[], &[units("a.rs"), edges("a.rs")]);
        let (found, missing) = c.get("main", root(2), &kept.iter().cloned().collect());
        let found: Vec<RowKey> = found.into_iter().map(|(k, _)| k).collect();
        assert_eq!(found, vec![units("b.rs"), edges("b.rs")]);
        assert_eq!(missing, [units("a.rs"), edges("a.rs")].into_iter().collect());
    }

    #[test]
    fn a_full_write_leaves_nothing_and_the_next_read_starts_again() {
        let c = cache();
        c.put("main", root(1), &rows(&[(1, "a")]));
        c.begin_write("main");
        c.forget("main");
        c.put("main", root(2), &rows(&[(1, "a2")]));
        assert_eq!(c.get("main", root(2), &wanted(&[1])).0, rows(&[(1, "a2")]));
    }

    #[test]
    fn the_budget_keeps_what_was_used_last() {
        let c = cache();
        let big = Row::Bucket(Arc::from("x".repeat(c.budget / 16)));
        c.put("main", root(1), &[(RowKey::Bucket(0), big.clone())]);
        for b in 1..40 {
            assert_eq!(c.get("main", root(1), &wanted(&[0])).0.len(), 1, "bucket 0 went at {b}");
            c.put("main", root(1), &[(RowKey::Bucket(b), big.clone())]);
            assert!(c.usage().held <= c.budget as u64);
        }
    }
}
