//! Search measurements, in process (no CLI start-up in the figures). Used by
//! scripts/bench-search.sh.
//!
//! - `throughput DIR WINDOW [N]`: embeds the units of the code files under
//!   DIR (up to N distinct texts, spread over the tree) and prints units/s
//!   and token counts as one JSON line.
//! - `quality WINDOW (TREE STORE_DIR QUERIES_JSON)...`: brings each store's
//!   search rows and vectors up to date for WINDOW, asks every question,
//!   and prints recall@1/3/10 and MRR@10 per set, half and mode, with the
//!   baselines (`baselines.rs`); then tunes the ranking's weights on the
//!   tuning halves and prints the same for the best.
//! - `latency STORE_DIR QUERIES_JSON UNITS`: replicates the store's units
//!   (rows and vectors) up to UNITS, then times every query per mode and
//!   prints p50/p95 in ms, right away and again after reopening the store.

use std::time::Instant;

use cortex::embed::Model;
use cortex::graph::{Language, parse_file};
use cortex::search::{self, Mode, Search, rank};

#[path = "baselines.rs"]
mod baselines;
use cortex::store::{OpenOptions, Store, StoreLocation};

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[derive(serde::Deserialize)]
struct Query {
    query: String,
    /// Unit ids (or id prefixes ending in `::`) that answer it.
    answers: Vec<String>,
}

fn load_queries(path: &str) -> Vec<Query> {
    serde_json::from_slice(&std::fs::read(path).expect("the query file")).expect("query JSON")
}

fn throughput(dir: &str, window: usize, limit: usize) {
    let mut texts = Vec::new();
    for entry in ignore::WalkBuilder::new(dir).build().flatten() {
        let path = entry.path();
        let Some(language) = Language::of_path(path.as_os_str().as_encoded_bytes()) else {
            continue;
        };
        let Ok(bytes) = std::fs::read(path) else { continue };
        let rel = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        let parsed = parse_file(&rel, &bytes, language);
        for u in parsed.units.iter().skip(1) {
            texts.push(search::embed_text(u, &rel, &bytes));
        }
    }
    texts.sort();
    texts.dedup();
    let step = (texts.len() / limit.max(1)).max(1);
    let sample: Vec<&str> = texts.iter().step_by(step).take(limit).map(String::as_str).collect();
    let model = Model::load(window).expect("the model");
    let mut ids = model.tokenize(&sample).unwrap();
    if std::env::var_os("BENCH_ONLY_FULL").is_some() {
        ids.retain(|i| i.len() == window);
    }
    let sample = &sample[..ids.len()];
    let tokens: usize = ids.iter().map(Vec::len).sum();
    let started = Instant::now();
    let vectors = model.embed_ids(&ids, cortex::embed::Priority::Foreground, &|_| {}).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(vectors.len(), sample.len());
    println!(
        "{}",
        serde_json::json!({
            "window": window, "units": sample.len(), "tokens": tokens,
            "mean_tokens": tokens as f64 / sample.len() as f64,
            "seconds": seconds, "units_per_s": sample.len() as f64 / seconds,
            "tokens_per_s": tokens as f64 / seconds,
        })
    );
}

async fn open(dir: &str) -> Store {
    let location = StoreLocation::Embedded(dir.into());
    Store::open(&location, OpenOptions::default()).await.expect("the store opens")
}

fn answers(q: &Query, id: &str) -> bool {
    q.answers.iter().any(|a| if a.ends_with("::") { id.starts_with(a.as_str()) } else { id == a })
}

/// One question's figures for a ranking: answered at rank 1, within 3,
/// within 10 (any of its answers), and the reciprocal rank of the first
/// answer within 10.
fn figures(q: &Query, ranked: &[String]) -> [f64; 4] {
    match ranked.iter().take(10).position(|id| answers(q, id)) {
        Some(r) => [(r < 1) as u8 as f64, (r < 3) as u8 as f64, 1.0, 1.0 / (r as f64 + 1.0)],
        None => [0.0; 4],
    }
}

/// Means of `figures` over questions.
fn mean(rows: &[[f64; 4]]) -> [f64; 4] {
    let mut m = [0.0; 4];
    for r in rows {
        for i in 0..4 {
            m[i] += r[i] / rows.len().max(1) as f64;
        }
    }
    m
}

/// The tuning half of a set: half of its questions chosen by a fixed
/// hash of their text (seed "cortex-search-split"), never by hand. The
/// other half is what the README reports.
fn tuning_half(queries: &[Query]) -> Vec<bool> {
    let mut order: Vec<(blake3::Hash, usize)> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| (blake3::hash(format!("cortex-search-split\0{}", q.query).as_bytes()), i))
        .collect();
    order.sort_by_key(|(h, _)| *h.as_bytes());
    let mut tune = vec![false; queries.len()];
    for (_, i) in order.iter().take(queries.len() / 2) {
        tune[*i] = true;
    }
    tune
}

/// A set: its tree, its store, its questions, what search found for each.
struct Set {
    name: String,
    queries: Vec<Query>,
    tune: Vec<bool>,
    found: Vec<search::Found>,
    baselines: Vec<[Vec<String>; 2]>,
}

const MODES: [(&str, rank::Lists); 3] = [
    ("keyword", rank::Lists::Keyword),
    ("semantic", rank::Lists::Semantic),
    ("hybrid", rank::Lists::Both),
];

fn ranked(q: &Query, found: &search::Found, lists: rank::Lists, w: &rank::Weights) -> Vec<String> {
    let query = rank::Query::new(&q.query);
    rank::rank(&query, lists, &found.keyword, &found.semantic, &found.facts, w, 10)
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// Mean figures of a set's questions in `half` (None: all).
fn set_figures(set: &Set, half: Option<bool>, rank_of: impl Fn(usize) -> Vec<String>) -> [f64; 4] {
    let rows: Vec<[f64; 4]> = (0..set.queries.len())
        .filter(|&i| half.is_none_or(|h| set.tune[i] == h))
        .map(|i| figures(&set.queries[i], &rank_of(i)))
        .collect();
    mean(&rows)
}

/// The weights tried when tuning: every combination of these. Tests and
/// private code always weigh less (the issue asks public API first and
/// code before tests); the grid says how much.
fn grid() -> Vec<rank::Weights> {
    let mut out = Vec::new();
    for rrf_k in [5.0, 10.0, 30.0, 60.0] {
        for keyword in [0.2, 0.35, 0.5, 0.75, 1.0] {
            for name in [0.0, 0.1, 0.2, 0.4] {
                for test in [0.5, 0.7, 0.9] {
                    for private in [0.7, 0.85, 0.95] {
                        for container in [0.5, 0.8, 1.0] {
                            out.push(rank::Weights {
                                rrf_k,
                                keyword,
                                name,
                                test,
                                private,
                                container,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

async fn load_set(dir: &str, tree: &str, queries: &str, model: &Model, window: usize) -> Set {
    let store = open(dir).await;
    let queries = load_queries(queries);
    cortex::index::index_head(&store).await.unwrap();
    search::sync(&store, window).await.unwrap();
    search::embed_pending(&store, model, cortex::embed::Priority::Foreground, &|_| {})
        .await
        .unwrap();
    let units = baselines::units(std::path::Path::new(tree));
    let unknown: Vec<&str> = queries
        .iter()
        .flat_map(|q| &q.answers)
        .filter(|a| {
            !units
                .iter()
                .any(|u| if a.ends_with("::") { u.id.starts_with(a.as_str()) } else { &u.id == *a })
        })
        .map(String::as_str)
        .collect();
    assert!(unknown.is_empty(), "answers that name no unit: {unknown:?}");
    let mut found = Vec::new();
    for q in &queries {
        let s =
            Search { query: q.query.clone(), mode: Mode::Hybrid, limit: 10, ..Search::default() };
        found.push(search::find(&store, Some(model), &s).await.unwrap());
    }
    let baselines = queries
        .iter()
        .map(|q| {
            [
                baselines::bm25_bodies(&units, &q.query, 10),
                baselines::ripgrep(std::path::Path::new(tree), &units, &q.query, 10),
            ]
        })
        .collect();
    let tune = tuning_half(&queries);
    let name = std::path::Path::new(tree).file_name().unwrap().to_string_lossy().into_owned();
    Set { name, queries, tune, found, baselines }
}

/// `quality WINDOW (TREE STORE QUERIES)...`: per set, half and mode, the
/// figures of the shipped ranking and of the baselines; then the weights
/// that score best on the tuning halves of all sets together (hybrid
/// MRR@10), with their figures. One JSON object per line.
async fn quality(window: usize, sets: &[String]) {
    let model = Model::load(window).expect("the model");
    let mut loaded = Vec::new();
    for s in sets.chunks(3) {
        loaded.push(load_set(&s[1], &s[0], &s[2], &model, window).await);
    }
    let report = |w: &rank::Weights, label: &str| {
        for set in &loaded {
            for (half, half_name) in [(Some(false), "report"), (Some(true), "tune"), (None, "all")]
            {
                let mut row = serde_json::Map::new();
                row.insert("weights".into(), label.into());
                row.insert("set".into(), set.name.clone().into());
                row.insert("half".into(), half_name.into());
                let mut modes: Vec<(&str, [f64; 4])> = MODES
                    .iter()
                    .map(|(m, lists)| {
                        (
                            *m,
                            set_figures(set, half, |i| {
                                ranked(&set.queries[i], &set.found[i], *lists, w)
                            }),
                        )
                    })
                    .collect();
                modes
                    .push(("bm25_bodies", set_figures(set, half, |i| set.baselines[i][0].clone())));
                modes.push(("ripgrep", set_figures(set, half, |i| set.baselines[i][1].clone())));
                for (m, f) in modes {
                    row.insert(
                        m.into(),
                        serde_json::json!({"r1": f[0], "r3": f[1], "r10": f[2], "mrr10": f[3]}),
                    );
                }
                println!("{}", serde_json::Value::Object(row));
            }
        }
    };
    report(&rank::SHIPPED, "shipped");
    let tuned = |w: &rank::Weights| -> f64 {
        loaded
            .iter()
            .map(|set| {
                set_figures(set, Some(true), |i| {
                    ranked(&set.queries[i], &set.found[i], rank::Lists::Both, w)
                })[3]
            })
            .sum::<f64>()
            / loaded.len() as f64
    };
    let best =
        grid().into_iter().map(|w| (tuned(&w), w)).max_by(|a, b| a.0.total_cmp(&b.0)).unwrap();
    println!(
        "{}",
        serde_json::json!({"best_on_tuning_halves": format!("{:?}", best.1), "hybrid_mrr10": best.0})
    );
    report(&best.1, "tuned");
    for set in &loaded {
        let misses: Vec<&str> = (0..set.queries.len())
            .filter(|&i| {
                figures(
                    &set.queries[i],
                    &ranked(&set.queries[i], &set.found[i], rank::Lists::Both, &rank::SHIPPED),
                )[2] == 0.0
            })
            .map(|i| set.queries[i].query.as_str())
            .collect();
        println!("{}", serde_json::json!({"set": set.name, "hybrid_misses": misses}));
    }
}

async fn latency(dir: &str, queries: &str, units: usize) {
    let store = open(dir).await;
    let queries = load_queries(queries);
    let window = search::window();
    let model = Model::load(window).expect("the model");
    cortex::index::index_head(&store).await.unwrap();
    search::sync(&store, window).await.unwrap();
    search::embed_pending(&store, &model, cortex::embed::Priority::Foreground, &|_| {})
        .await
        .unwrap();
    let started = Instant::now();
    let total = store.search().replicate_search_rows_for_bench(units).await.unwrap();
    let replicate_s = started.elapsed().as_secs_f64();
    let mut out = serde_json::Map::new();
    out.insert("units".into(), total.into());
    out.insert("replicate_seconds".into(), replicate_s.into());
    let modes = match std::env::var("BENCH_MODES").as_deref() {
        Ok("keyword") => vec![Mode::Keyword],
        _ => vec![Mode::Keyword, Mode::Semantic, Mode::Hybrid],
    };
    // Right after the rows are written, SurrealKV is still flushing and
    // compacting them on the other core; a store reopened later (what a
    // user searches once indexing is over) is measured apart.
    time_modes(&store, &model, &queries, &modes, "", &mut out).await;
    store.close().await;
    let store = open(dir).await;
    time_modes(&store, &model, &queries, &modes, "reopened_", &mut out).await;
    println!("{}", serde_json::Value::Object(out));
}

/// p50 and p95 per mode, of the second of two rounds over the queries.
async fn time_modes(
    store: &Store,
    model: &Model,
    queries: &[Query],
    modes: &[Mode],
    prefix: &str,
    out: &mut serde_json::Map<String, serde_json::Value>,
) {
    for &mode in modes {
        let mut times = Vec::new();
        for round in 0..2 {
            for q in queries {
                let s = Search { query: q.query.clone(), mode, limit: 10, ..Search::default() };
                let t = Instant::now();
                search::search(store, Some(model), &s).await.unwrap();
                if round == 1 {
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
        let name = format!("{prefix}{mode:?}").to_lowercase();
        out.insert(format!("{name}_p50_ms"), percentile(times.clone(), 0.5).into());
        out.insert(format!("{name}_p95_ms"), percentile(times, 0.95).into());
    }
}

fn main() {
    // SAFETY: first thing at start-up, before any thread exists.
    unsafe { cortex::embed::single_threaded_kernels() };
    tokio::runtime::Runtime::new().unwrap().block_on(run());
}

async fn run() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().expect("usage: see the example's doc comment");
    match arg(0).as_str() {
        "throughput" => throughput(
            &arg(1),
            arg(2).parse().unwrap(),
            args.get(3).map_or(2000, |n| n.parse().unwrap()),
        ),
        "quality" => quality(arg(1).parse().unwrap(), &args[2..]).await,
        "latency" => latency(&arg(1), &arg(2), arg(3).parse().unwrap()).await,
        other => panic!("unknown measurement {other:?}"),
    }
}
