//! Ranking: how the keyword list, the semantic list and what is known of
//! each unit become one ordered answer. Pure functions over what `search`
//! gathered, so that `scripts/bench-search.sh` can score other weights on
//! the same lists.
//!
//! Every mode starts from a base score in [0, 1] (keyword: BM25 over the
//! best BM25 of the list; semantic: cosine similarity; hybrid: reciprocal
//! rank fusion over the best fused score), adds a bonus for the query's
//! words in the unit's name, and multiplies by priors: tests, private code
//! and containers (impl blocks, modules) weigh less. Variants of one unit
//! (`f`, `f#2`: one per `#[cfg]`) are listed once.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::store::search::query_words;
use crate::store::terms::term_parts;

/// What ranking needs to know of a unit beyond the lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub kind: String,
    /// `store::search::tier_of`: 0 public API, 1 the rest, 2 tests; none
    /// for rows written before tiers existed.
    pub tier: Option<u8>,
}

/// The knobs of ranking. `SHIPPED` is what `cortex search` uses; the
/// benchmark scores others on one half of its questions (README).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weights {
    /// Reciprocal rank fusion's k.
    pub rrf_k: f64,
    /// The keyword list's weight in the fusion (the semantic list's is 1).
    pub keyword: f64,
    /// Added to the base score when the query's words make up the whole
    /// of the unit's name (a share of it for part).
    pub name: f64,
    /// Factor for a test when the query does not ask about tests.
    pub test: f64,
    /// Factor for code that is not public API.
    pub private: f64,
    /// Factor for impl blocks, modules and files: the definitions inside
    /// them answer better.
    pub container: f64,
}

/// The best of `scripts/bench-search.sh`'s grid on the tuning halves of
/// the four query sets pooled (hybrid MRR@10 0.651 there; README,
/// "Search", reports the other halves).
pub const SHIPPED: Weights =
    Weights { rrf_k: 10.0, keyword: 0.5, name: 0.0, test: 0.5, private: 0.85, container: 0.5 };

/// Which list or lists a ranking uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lists {
    Keyword,
    Semantic,
    Both,
}

/// A query as ranking reads it: its words' stems.
#[derive(Clone, Debug)]
pub struct Query {
    stems: BTreeSet<String>,
    about_tests: bool,
}

impl Query {
    pub fn new(text: &str) -> Query {
        let stems: BTreeSet<String> =
            term_parts(&query_words(text)).into_iter().map(|(stem, _)| stem).collect();
        let about_tests = ["test", "spec", "fixtur", "mock"].iter().any(|t| stems.contains(*t));
        Query { stems, about_tests }
    }
}

/// A unit id without its variant suffix (`a.rs::f#2` is `a.rs::f`).
pub fn base_id(id: &str) -> &str {
    match id.rsplit_once('#') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => id,
    }
}

/// The stems of a name, without the words a query never keeps (`as_f64`
/// is `f64`): so that a query can cover a whole name.
fn name_stems(name: &str) -> BTreeSet<String> {
    term_parts(&query_words(name)).into_iter().map(|(stem, _)| stem).collect()
}

/// How well the query names the unit, in [0, 1]: nothing unless the query
/// holds every word of the unit's own name (`spawn_blocking` for "spawn
/// blocking work", not `send_once` for "send it again"); then 1 less a
/// share for the words of its owner (`Value` of `Value::as_f64`, a class
/// of a method) the query does not hold.
pub fn name_match(q: &Query, id: &str) -> f64 {
    // `path::Type::method`: a file's path holds no `::`.
    let Some((_, qname)) = base_id(id).split_once("::") else { return 0.0 };
    let mut parts: Vec<&str> = qname.split("::").collect();
    let own = name_stems(parts.pop().unwrap_or_default());
    if own.is_empty() || !own.iter().all(|s| q.stems.contains(s)) {
        return 0.0;
    }
    let owner: BTreeSet<String> = parts.iter().flat_map(|p| name_stems(p)).collect();
    let held = owner.iter().filter(|s| q.stems.contains(*s)).count();
    (2.0 + held as f64) / (2.0 + owner.len() as f64)
}

/// What a unit's kind and tier make of its score.
fn prior(q: &Query, facts: Option<&Facts>, w: &Weights) -> f64 {
    let Some(f) = facts else { return 1.0 };
    let mut p = 1.0;
    match f.tier {
        Some(2) if !q.about_tests => p *= w.test,
        Some(1) => p *= w.private,
        _ => {}
    }
    if matches!(f.kind.as_str(), "impl" | "module" | "file") {
        p *= w.container;
    }
    p
}

/// Ranks the units of the lists (each best first, with its own score) and
/// returns the first `limit`, best first, each variant group once.
pub fn rank(
    q: &Query,
    lists: Lists,
    keyword: &[(String, f64)],
    semantic: &[(String, f64)],
    facts: &HashMap<String, Facts>,
    w: &Weights,
    limit: usize,
) -> Vec<(String, f64)> {
    let base: Vec<(&str, f64)> = match lists {
        Lists::Keyword => over_best(keyword.iter().map(|(id, s)| (id.as_str(), *s)).collect()),
        Lists::Semantic => semantic.iter().map(|(id, s)| (id.as_str(), *s)).collect(),
        Lists::Both => {
            let mut fused: HashMap<&str, f64> = HashMap::new();
            for (list, weight) in [(semantic, 1.0), (keyword, w.keyword)] {
                for (rank, (id, _)) in list.iter().enumerate() {
                    *fused.entry(id.as_str()).or_default() +=
                        weight / (w.rrf_k + rank as f64 + 1.0);
                }
            }
            over_best(fused.into_iter().collect())
        }
    };
    let mut scored: Vec<(&str, f64)> = base
        .into_iter()
        .map(|(id, b)| (id, (b + w.name * name_match(q, id)) * prior(q, facts.get(id), w)))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut seen = HashSet::new();
    scored
        .into_iter()
        .filter(|(id, _)| seen.insert(base_id(id)))
        .take(limit)
        .map(|(id, s)| (id.to_owned(), s))
        .collect()
}

/// Scores divided by the best of them (all zero stays zero).
fn over_best(mut list: Vec<(&str, f64)>) -> Vec<(&str, f64)> {
    let best = list.iter().map(|(_, s)| *s).fold(0.0, f64::max);
    if best > 0.0 {
        for (_, s) in &mut list {
            *s /= best;
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[(String, f64)]) -> Vec<&str> {
        list.iter().map(|(id, _)| id.as_str()).collect()
    }

    fn scored(ids: &[&str]) -> Vec<(String, f64)> {
        ids.iter().enumerate().map(|(i, id)| ((*id).to_owned(), 1.0 - i as f64 * 0.1)).collect()
    }

    #[test]
    fn a_name_the_query_spells_out_matches_wholly() {
        let q = Query::new("spawn blocking work");
        assert_eq!(name_match(&q, "src/task/blocking.rs::spawn_blocking"), 1.0);
        assert_eq!(name_match(&q, "src/task/spawn.rs::SpawnLocation"), 0.0);
        let q = Query::new("parse a value from text");
        assert_eq!(name_match(&q, "src/value/mod.rs::Value::parse"), 1.0);
        assert!(name_match(&q, "src/de.rs::Deserializer::parse") > 0.5);
        assert!(name_match(&q, "src/de.rs::Deserializer::parse") < 1.0);
        assert_eq!(name_match(&q, "src/lexical/parse.rs::parse_mantissa"), 0.0);
    }

    #[test]
    fn fusion_rewards_agreement() {
        let semantic = scored(&["x", "y", "z"]);
        let keyword = scored(&["y", "w"]);
        let q = Query::new("x");
        let fused = rank(&q, Lists::Both, &keyword, &semantic, &HashMap::new(), &SHIPPED, 10);
        assert_eq!(ids(&fused)[0], "y");
        assert_eq!(fused.len(), 4);
        // A lighter keyword list moves things less.
        let w = Weights { keyword: 0.01, ..SHIPPED };
        let fused = rank(&q, Lists::Both, &keyword, &semantic, &HashMap::new(), &w, 10);
        assert_eq!(ids(&fused)[0], "x");
    }

    #[test]
    fn variants_of_one_unit_are_listed_once() {
        let list = scored(&["a.rs::Loc", "a.rs::Loc#2", "a.rs::spawn"]);
        let out = rank(&Query::new("x"), Lists::Keyword, &list, &[], &HashMap::new(), &SHIPPED, 10);
        assert_eq!(ids(&out), ["a.rs::Loc", "a.rs::spawn"]);
        assert_eq!(base_id("a.rs::f#12"), "a.rs::f");
        assert_eq!(base_id("a.rs::f#"), "a.rs::f#");
    }

    #[test]
    fn priors_put_public_code_above_private_and_tests_below_unless_asked() {
        let w = Weights { test: 0.5, private: 0.8, name: 0.0, ..SHIPPED };
        let facts: HashMap<String, Facts> =
            [("t.rs::check", 2), ("a.rs::check_private", 1), ("a.rs::check_public", 0)]
                .into_iter()
                .map(|(id, tier)| {
                    (id.to_owned(), Facts { kind: "function".into(), tier: Some(tier) })
                })
                .collect();
        // The same text: the same semantic score.
        let list: Vec<(String, f64)> = facts.keys().map(|id| (id.clone(), 0.9)).collect::<Vec<_>>();
        let q = Query::new("check the input");
        let out = rank(&q, Lists::Semantic, &list, &list, &facts, &w, 10);
        assert_eq!(ids(&out), ["a.rs::check_public", "a.rs::check_private", "t.rs::check"]);
        let q = Query::new("the test that checks the input");
        let out = rank(&q, Lists::Semantic, &list, &list, &facts, &w, 10);
        assert_eq!(ids(&out)[0], "a.rs::check_public");
        assert_eq!(ids(&out)[1], "t.rs::check");
    }
}
