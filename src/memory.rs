//! The memory budget: one setting, `CORTEX_MEMORY` (MiB), split between the
//! caches that would otherwise grow with the tree.
//!
//! | share | of the budget | what it holds |
//! |---|---|---|
//! | SurrealKV block cache | 1/4 | decoded store blocks, every view's reads |
//! | SurrealKV memtable | 1/8, 32–256 MiB | writes not yet flushed to a table; one transaction must fit |
//! | content cache | 1/4 per mounted view (`CORTEX_CONTENT_CACHE` overrides) | clean file contents read through a mount |
//! | tree cache | 1/64, 4–64 MiB | decoded directory trees |
//! | graph cache | 1/16, 8–128 MiB | the graph's rows: name-index buckets, files' decoded units and edges (`store/graph_cache.rs`) |
//! | the rest | ~5/16 | the embedding model (~90 MB) and its batches, the graph being built, the allocator's slack |
//!
//! The default, 1 GiB, keeps a daemon serving a million-unit tree near
//! 1.5 GB resident at most, which fits beside an IDE on a laptop. Without
//! it SurrealKV sizes its block cache at half the machine's RAM less 1 GiB.

use crate::error::{Error, Result};

/// Buffers at least this large are mapped on their own and unmapped when
/// freed (glibc's `M_MMAP_THRESHOLD`).
const MAPPED_FROM: libc::c_int = 256 << 10;

/// Makes large buffers go back to the system when freed. By default glibc
/// raises its mapping threshold each time a mapped buffer is freed, so the
/// 512 KiB blocks and file contents a daemon reads from the store end up in
/// its heaps, where they stay as slack: a daemon budgeted 128 MiB grew by
/// ~125 MiB reading 160 MiB of large files, against ~60 MiB with the
/// threshold fixed (`cli::limits::a_tree_larger_than_the_memory_budget_is_read_within_it`).
/// Call once, first thing at start-up.
pub fn return_large_buffers() {
    // SAFETY: mallopt only sets allocator parameters; glibc documents it
    // as callable at any time.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MAPPED_FROM);
    }
}

const MIB: u64 = 1 << 20;

/// The budget when `CORTEX_MEMORY` is not set, in MiB.
pub const DEFAULT_MIB: u64 = 1024;

/// The smallest budget accepted, in MiB: below it one transaction's writes
/// no longer fit the memtable.
pub const MIN_MIB: u64 = 128;

/// What a cache holds and how well it serves: a view's content cache, the
/// tree cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheUse {
    /// Bytes held, and the most it may hold.
    pub held: u64,
    pub budget: u64,
    /// Reads answered from memory, and those that went to the store.
    pub hits: u64,
    pub misses: u64,
}

/// The budget and its shares, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Budget {
    pub total: u64,
    pub block_cache: u64,
    pub memtable: u64,
    pub content_cache: u64,
    pub tree_cache: u64,
    #[serde(default)]
    pub graph_cache: u64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::of(DEFAULT_MIB * MIB)
    }
}

impl Budget {
    /// The shares of `total` bytes.
    pub fn of(total: u64) -> Budget {
        Budget {
            total,
            block_cache: total / 4,
            memtable: (total / 8).clamp(32 * MIB, 256 * MIB),
            content_cache: total / 4,
            tree_cache: (total / 64).clamp(4 * MIB, 64 * MIB),
            graph_cache: (total / 16).clamp(8 * MIB, 128 * MIB),
        }
    }

    /// The budget `CORTEX_MEMORY` sets (MiB), or the default; the content
    /// cache's share as `CORTEX_CONTENT_CACHE` (MiB) sets it, if it does.
    pub fn from_env() -> Result<Budget> {
        let mib = |name: &str| -> Result<Option<u64>> {
            match std::env::var(name) {
                Ok(v) => v.trim().parse::<u64>().map(Some).map_err(|_| {
                    Error::InvalidInput(format!("{name}={v:?} is not a whole number of MiB"))
                }),
                Err(_) => Ok(None),
            }
        };
        let total = mib("CORTEX_MEMORY")?.unwrap_or(DEFAULT_MIB);
        if total < MIN_MIB {
            return Err(Error::InvalidInput(format!(
                "CORTEX_MEMORY={total} is below the smallest budget, {MIN_MIB} MiB"
            )));
        }
        let mut budget = Budget::of(total * MIB);
        if let Some(content) = mib("CORTEX_CONTENT_CACHE")? {
            budget.content_cache = content * MIB;
        }
        Ok(budget)
    }

    /// The budget of this process, read from the environment once; an
    /// invalid setting is reported where the store is opened, and the
    /// default used meanwhile.
    pub fn current() -> Budget {
        static CURRENT: std::sync::LazyLock<Budget> =
            std::sync::LazyLock::new(|| Budget::from_env().unwrap_or_default());
        *CURRENT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_less_than_the_budget_and_clamp() {
        for mib in [MIN_MIB, 256, DEFAULT_MIB, 4096, 65536] {
            let b = Budget::of(mib * MIB);
            let caches =
                b.block_cache + b.memtable + b.content_cache + b.tree_cache + b.graph_cache;
            assert!(caches < b.total, "{mib} MiB: caches {caches} exceed the budget");
            assert!((32 * MIB..=256 * MIB).contains(&b.memtable));
            assert!((4 * MIB..=64 * MIB).contains(&b.tree_cache));
            assert!((8 * MIB..=128 * MIB).contains(&b.graph_cache));
        }
        assert_eq!(Budget::of(DEFAULT_MIB * MIB).block_cache, 256 * MIB);
    }
}
