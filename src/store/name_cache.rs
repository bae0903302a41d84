//! The name index's buckets in memory, as last read or written, per view.
//!
//! An incremental index reads the buckets of every name its files use and
//! of the names those lead to: on a 2,000-file tree, 50-100 buckets and
//! 1-2 MB of encoded entries a write, 15-35 ms of a write's ~50 ms path to
//! the graph (`scripts/bench-index.sh`). The same few hundred buckets (the
//! names every file calls: `new`, `from`, `clone`…) come back write after
//! write, so they are kept here.
//!
//! Rows are only ever served for the graph root they were read or written
//! under: a reader notes the root (`meta:graph_root`) before it reads the
//! rows and keeps them only if the root is the same after; a graph write
//! clears the view's root as it begins (as the store's mark does), and an
//! incremental write that began from the cached root puts the buckets it
//! wrote and moves the root on. Anything else (a full index, another
//! process writing to a shared server) leaves a root that differs from the
//! store's, and the view's rows are dropped at the next read.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::ids::ContentHash;
use crate::memory::CacheUse;

/// Buckets of the name index by view (namespace), within a byte budget (the
/// memory budget's name share); the least lately used half goes when more
/// would not fit.
#[derive(Debug)]
pub(crate) struct NameCache {
    state: Mutex<State>,
    budget: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    views: HashMap<String, ViewNames>,
    /// Bytes of the rows held, every view's.
    bytes: usize,
    /// Uses so far: a row's last use orders eviction.
    clock: u64,
}

#[derive(Debug, Default)]
struct ViewNames {
    /// The graph root the rows describe; none while a write is under way
    /// or before a read has established one.
    root: Option<ContentHash>,
    /// The root a write under way began from.
    writing_from: Option<ContentHash>,
    /// A bucket's encoded entries and its last use.
    rows: HashMap<u32, (Arc<str>, u64)>,
}

impl NameCache {
    pub(crate) fn new(budget: &crate::memory::Budget) -> NameCache {
        let (hits, misses) = (AtomicU64::new(0), AtomicU64::new(0));
        NameCache { state: Mutex::default(), budget: budget.name_cache as usize, hits, misses }
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
        self.state.lock().expect("name cache")
    }

    /// The rows of `buckets` held for `ns`'s graph at `root`, and the
    /// buckets to read from the store. Rows of another root are dropped.
    pub(crate) fn get(
        &self,
        ns: &str,
        root: ContentHash,
        buckets: &BTreeSet<u32>,
    ) -> (Vec<(u32, Arc<str>)>, BTreeSet<u32>) {
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
                dropped = view.rows.drain().map(|(_, (row, _))| row.len()).sum();
                view.root = None;
            }
            for &b in buckets {
                match view.rows.get_mut(&b) {
                    Some((row, used)) => {
                        *used = clock;
                        found.push((b, row.clone()));
                    }
                    None => {
                        missing.insert(b);
                    }
                }
            }
        } else {
            missing.clone_from(buckets);
        }
        state.bytes -= dropped;
        self.hits.fetch_add(found.len() as u64, Ordering::Relaxed);
        self.misses.fetch_add(missing.len() as u64, Ordering::Relaxed);
        crate::metrics::global().name_cache.count_many(found.len() as u64, missing.len() as u64);
        (found, missing)
    }

    /// Keeps rows read for `ns`'s graph at `root` (the store's root before
    /// and after the read), unless the view holds another root or a write
    /// is under way.
    pub(crate) fn put(&self, ns: &str, root: ContentHash, rows: &[(u32, Arc<str>)]) {
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
    /// at `root` ended, writing `rows` and emptying `emptied`: if the rows
    /// held were `from`'s, they become `root`'s; else the view's go.
    pub(crate) fn written(
        &self,
        ns: &str,
        (from, root): (ContentHash, ContentHash),
        rows: &[(u32, Arc<str>)],
        emptied: &[u32],
    ) {
        let mut state = self.lock();
        let view = state.views.entry(ns.to_owned()).or_default();
        if view.writing_from.take() != Some(from) {
            drop(state);
            self.forget(ns);
            return;
        }
        view.root = Some(root);
        let gone: usize =
            emptied.iter().filter_map(|b| view.rows.remove(b)).map(|(row, _)| row.len()).sum();
        state.bytes -= gone;
        self.insert(&mut state, ns, rows);
    }

    /// Drops what is held for `ns` (a full index wrote its graph anew).
    pub(crate) fn forget(&self, ns: &str) {
        let mut state = self.lock();
        if let Some(view) = state.views.remove(ns) {
            state.bytes -= view.rows.values().map(|(row, _)| row.len()).sum::<usize>();
        }
    }

    fn insert(&self, state: &mut State, ns: &str, rows: &[(u32, Arc<str>)]) {
        let adding: usize = rows.iter().map(|(_, row)| row.len()).sum();
        if state.bytes + adding > self.budget {
            evict_older_half(state);
        }
        state.clock += 1;
        let clock = state.clock;
        let view = state.views.entry(ns.to_owned()).or_default();
        let mut delta: isize = 0;
        for (b, row) in rows {
            if row.len() > self.budget / 8 {
                continue;
            }
            delta += row.len() as isize;
            if let Some((old, _)) = view.rows.insert(*b, (row.clone(), clock)) {
                delta -= old.len() as isize;
            }
        }
        state.bytes = state.bytes.saturating_add_signed(delta);
    }
}

/// Drops the rows used least lately, half of them, every view's.
fn evict_older_half(state: &mut State) {
    let mut uses: Vec<u64> =
        state.views.values().flat_map(|v| v.rows.values().map(|(_, used)| *used)).collect();
    if uses.is_empty() {
        return;
    }
    uses.sort_unstable();
    let median = uses[uses.len() / 2];
    for view in state.views.values_mut() {
        view.rows.retain(|_, (_, used)| *used > median);
    }
    state.bytes = state.views.values().flat_map(|v| v.rows.values()).map(|(r, _)| r.len()).sum();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> NameCache {
        NameCache::new(&crate::memory::Budget::of(1 << 30))
    }

    fn root(n: u8) -> ContentHash {
        ContentHash::of(&[n])
    }

    fn row(text: &str) -> Arc<str> {
        Arc::from(text)
    }

    fn wanted(buckets: &[u32]) -> BTreeSet<u32> {
        buckets.iter().copied().collect()
    }

    #[test]
    fn rows_are_served_only_for_the_root_they_were_read_at() {
        let c = cache();
        c.put("main", root(1), &[(1, row("a")), (2, row("b"))]);
        let (found, missing) = c.get("main", root(1), &wanted(&[1, 3]));
        assert_eq!(found, vec![(1, row("a"))]);
        assert_eq!(missing, wanted(&[3]));
        // Another root: the store moved without this cache hearing of it.
        let (found, missing) = c.get("main", root(2), &wanted(&[1, 2]));
        assert!(found.is_empty());
        assert_eq!(missing, wanted(&[1, 2]));
        assert_eq!(c.usage().held, 0);
        // Views do not share rows.
        c.put("main", root(2), &[(1, row("a2"))]);
        assert!(c.get("session_x", root(2), &wanted(&[1])).0.is_empty());
    }

    #[test]
    fn an_incremental_write_moves_the_rows_on_and_a_foreign_one_drops_them() {
        let c = cache();
        c.put("main", root(1), &[(1, row("a")), (2, row("b")), (3, row("c"))]);
        c.begin_write("main");
        // Nothing is served during the write, and reads made during it are
        // not kept.
        assert!(c.get("main", root(1), &wanted(&[1])).0.is_empty());
        c.put("main", root(1), &[(4, row("d"))]);
        c.written("main", (root(1), root(2)), &[(2, row("b2"))], &[3]);
        let (found, missing) = c.get("main", root(2), &wanted(&[1, 2, 3, 4]));
        assert_eq!(found, vec![(1, row("a")), (2, row("b2"))]);
        assert_eq!(missing, wanted(&[3, 4]));
        assert_eq!(c.usage().held, 3);
        // A write from a root this cache did not hold: its rows go.
        c.begin_write("main");
        c.written("main", (root(5), root(6)), &[(2, row("x"))], &[]);
        assert!(c.get("main", root(6), &wanted(&[1, 2])).0.is_empty());
        assert_eq!(c.usage().held, 0);
    }

    #[test]
    fn a_full_write_leaves_nothing_and_the_next_read_starts_again() {
        let c = cache();
        c.put("main", root(1), &[(1, row("a"))]);
        c.begin_write("main");
        c.forget("main");
        c.put("main", root(2), &[(1, row("a2"))]);
        assert_eq!(c.get("main", root(2), &wanted(&[1])).0, vec![(1, row("a2"))]);
    }

    #[test]
    fn the_budget_keeps_what_was_used_last() {
        let c = cache();
        let big: Arc<str> = Arc::from("x".repeat(c.budget / 16));
        c.put("main", root(1), &[(0, big.clone())]);
        for b in 1..40 {
            assert_eq!(c.get("main", root(1), &wanted(&[0])).0.len(), 1, "bucket 0 went at {b}");
            c.put("main", root(1), &[(b, big.clone())]);
            assert!(c.usage().held <= c.budget as u64);
        }
    }
}
