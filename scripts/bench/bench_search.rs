//! Search measurements, in process (no CLI start-up in the figures). Used by
//! scripts/bench-search.sh.
//!
//! - `throughput DIR WINDOW [N]`: embeds the units of the code files under
//!   DIR (up to N distinct texts, spread over the tree) and prints units/s
//!   and token counts as one JSON line.
//! - `quality STORE_DIR QUERIES_JSON WINDOW`: brings the store's search
//!   rows and vectors up to date for WINDOW, runs each query in keyword,
//!   semantic and hybrid mode and prints MRR@10 and recall@10 per mode.
//! - `latency STORE_DIR QUERIES_JSON UNITS`: replicates the store's units
//!   (rows and vectors) up to UNITS, then times every query per mode and
//!   prints p50/p95 in ms, right away and again after reopening the store.

use std::time::Instant;

use cortex::embed::Model;
use cortex::graph::{Language, parse_file};
use cortex::search::{self, Mode, Search};
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
            texts.push(search::embed_text(u, &bytes));
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
    let vectors = model.embed_ids(&ids, &|_| {}).unwrap();
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

async fn quality(dir: &str, queries: &str, window: usize) {
    let store = open(dir).await;
    let queries = load_queries(queries);
    let model = Model::load(window).expect("the model");
    cortex::index::index_head(&store).await.unwrap();
    search::sync(&store, window).await.unwrap();
    let started = Instant::now();
    let embedded = search::embed_pending(&store, &model, &|_| {}).await.unwrap();
    let embed_s = started.elapsed().as_secs_f64();
    let mut out = serde_json::Map::new();
    out.insert("window".into(), window.into());
    out.insert("queries".into(), queries.len().into());
    out.insert("embedded".into(), embedded.into());
    out.insert("embed_seconds".into(), embed_s.into());
    let mut misses = Vec::new();
    for mode in [Mode::Keyword, Mode::Semantic, Mode::Hybrid] {
        let (mut rr, mut recall) = (0.0, 0.0);
        for q in &queries {
            let s = Search { query: q.query.clone(), mode, limit: 10, ..Search::default() };
            let hits = search::search(&store, Some(&model), &s).await.unwrap().hits;
            if let Some(rank) = hits.iter().position(|h| answers(q, &h.id)) {
                rr += 1.0 / (rank as f64 + 1.0);
            } else if mode == Mode::Hybrid {
                misses.push(q.query.clone());
            }
            let found = q
                .answers
                .iter()
                .filter(|a| {
                    hits.iter().any(|h| {
                        answers(&Query { query: String::new(), answers: vec![(*a).clone()] }, &h.id)
                    })
                })
                .count();
            recall += found as f64 / q.answers.len() as f64;
        }
        let n = queries.len() as f64;
        let name = format!("{mode:?}").to_lowercase();
        out.insert(format!("{name}_mrr10"), (rr / n).into());
        out.insert(format!("{name}_recall10"), (recall / n).into());
    }
    out.insert("hybrid_misses".into(), misses.into());
    // Fusion settings, from the same two lists of 50 per query.
    let mut lists = Vec::new();
    for q in &queries {
        let get = async |mode| {
            let s = Search { query: q.query.clone(), mode, limit: 50, ..Search::default() };
            let hits = search::search(&store, Some(&model), &s).await.unwrap().hits;
            hits.into_iter().map(|h| h.id).collect::<Vec<String>>()
        };
        let (k, s) = (get(Mode::Keyword).await, get(Mode::Semantic).await);
        lists.push((k, s));
    }
    let mut grid = serde_json::Map::new();
    for k in [10.0, 30.0, 60.0] {
        for w in [0.2, 0.35, 0.5, 0.75, 1.0] {
            let mut rr = 0.0;
            for (q, (kw, sem)) in queries.iter().zip(&lists) {
                let fused = search::fuse(&[(sem, 1.0), (kw, w)], k, 10);
                if let Some(rank) = fused.iter().position(|(id, _)| answers(q, id)) {
                    rr += 1.0 / (rank as f64 + 1.0);
                }
            }
            grid.insert(format!("k{k}_w{w}"), (rr / queries.len() as f64).into());
        }
    }
    out.insert("fusion_mrr10".into(), grid.into());
    println!("{}", serde_json::Value::Object(out));
}

async fn latency(dir: &str, queries: &str, units: usize) {
    let store = open(dir).await;
    let queries = load_queries(queries);
    let window = search::window();
    let model = Model::load(window).expect("the model");
    cortex::index::index_head(&store).await.unwrap();
    search::sync(&store, window).await.unwrap();
    search::embed_pending(&store, &model, &|_| {}).await.unwrap();
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
        "quality" => quality(&arg(1), &arg(2), arg(3).parse().unwrap()).await,
        "latency" => latency(&arg(1), &arg(2), arg(3).parse().unwrap()).await,
        other => panic!("unknown measurement {other:?}"),
    }
}
