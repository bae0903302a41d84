//! What the process that holds a store measures: FUSE operations, flushes
//! and commits, the index and embedding queues, the caches, memory. The
//! daemon serves it over its control socket; `cortex mcp --http` adds it to
//! `/metrics`, and `cortex stats` shows it to a person.
//!
//! One registry per process ([`global`]), written in the Prometheus text
//! format by the `prometheus` crate. Every series is named `cortex_*`.

use std::sync::OnceLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets, in seconds: 10 µs to ~10 s, ×4 apart.
pub fn latency_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(10e-6, 4.0, 11).expect("valid buckets")
}

/// The store-side series of this process.
pub struct Metrics {
    registry: Registry,
    /// `cortex_fuse_op_seconds{op}`: each FUSE request, by operation.
    pub fuse: HistogramVec,
    /// `cortex_fuse_errors_total{op}`: requests answered with an error.
    pub fuse_errors: IntCounterVec,
    /// `cortex_flush_seconds`: writes saved as a snapshot (one view's flush).
    pub flush: Histogram,
    /// `cortex_commit_seconds`: the store transaction that records a snapshot.
    pub commit: Histogram,
    /// `cortex_queue_depth{queue}`: `index` (views whose graph is behind
    /// their head) and `embed` (units without a vector).
    pub queue: IntGaugeVec,
    /// `cortex_cache_bytes{cache}`: what each cache holds now.
    pub cache_bytes: IntGaugeVec,
    /// `cortex_cache_lookups_total{cache,result}` of the content cache
    /// (file contents read through mounts), the tree cache (decoded
    /// directories) and the name cache (buckets of the graph's name index).
    pub content_cache: Lookups,
    pub tree_cache: Lookups,
    pub graph_cache: Lookups,
    /// `cortex_resident_bytes`: the process's resident memory, read when
    /// the metrics are.
    resident: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// A cache's hit and miss counters.
pub struct Lookups {
    hit: IntCounter,
    miss: IntCounter,
}

impl Lookups {
    pub fn count(&self, hit: bool) {
        if hit { self.hit.inc() } else { self.miss.inc() }
    }

    pub fn count_many(&self, hits: u64, misses: u64) {
        self.hit.inc_by(hits);
        self.miss.inc_by(misses);
    }
}

/// This process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| Metrics::new().expect("the metrics' names and labels are valid"))
}

impl Metrics {
    fn new() -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let fuse = HistogramVec::new(
            HistogramOpts::new("cortex_fuse_op_seconds", "FUSE requests by operation")
                .buckets(latency_buckets()),
            &["op"],
        )?;
        let fuse_errors = IntCounterVec::new(
            Opts::new("cortex_fuse_errors_total", "FUSE requests answered with an error"),
            &["op"],
        )?;
        let flush = Histogram::with_opts(
            HistogramOpts::new("cortex_flush_seconds", "a view's writes saved as a snapshot")
                .buckets(latency_buckets()),
        )?;
        let commit = Histogram::with_opts(
            HistogramOpts::new("cortex_commit_seconds", "the transaction recording a snapshot")
                .buckets(latency_buckets()),
        )?;
        let queue = IntGaugeVec::new(
            Opts::new("cortex_queue_depth", "work waiting: index (views), embed (units)"),
            &["queue"],
        )?;
        let cache_bytes =
            IntGaugeVec::new(Opts::new("cortex_cache_bytes", "bytes a cache holds"), &["cache"])?;
        let cache_lookups = IntCounterVec::new(
            Opts::new("cortex_cache_lookups_total", "cache lookups by result (hit, miss)"),
            &["cache", "result"],
        )?;
        let resident = IntGauge::new("cortex_resident_bytes", "resident memory of the process")?;
        registry.register(Box::new(fuse.clone()))?;
        registry.register(Box::new(fuse_errors.clone()))?;
        registry.register(Box::new(flush.clone()))?;
        registry.register(Box::new(commit.clone()))?;
        registry.register(Box::new(queue.clone()))?;
        registry.register(Box::new(cache_bytes.clone()))?;
        registry.register(Box::new(cache_lookups.clone()))?;
        registry.register(Box::new(resident.clone()))?;
        let lookups = |cache: &str| Lookups {
            hit: cache_lookups.with_label_values(&[cache, "hit"]),
            miss: cache_lookups.with_label_values(&[cache, "miss"]),
        };
        Ok(Metrics {
            fuse,
            fuse_errors,
            flush,
            commit,
            queue,
            cache_bytes,
            content_cache: lookups("content"),
            tree_cache: lookups("tree"),
            graph_cache: lookups("graph"),
            resident,
            registry,
        })
    }

    /// Every series, in the Prometheus text format.
    pub fn text(&self) -> String {
        if let Some(bytes) = resident_bytes() {
            self.resident.set(bytes as i64);
        }
        encode(&self.registry)
    }
}

/// `registry` in the Prometheus text format (version 0.0.4).
pub fn encode(registry: &Registry) -> String {
    let mut out = Vec::new();
    // Encoding into a Vec fails only on a metric family with no metrics,
    // which `gather` never returns.
    if let Err(e) = TextEncoder::new().encode(&registry.gather(), &mut out) {
        tracing::error!("metrics could not be encoded: {e}");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The Content-Type of [`encode`]'s text.
pub const TEXT_FORMAT: &str = prometheus::TEXT_FORMAT;

/// Resident memory of this process, from /proc/self/statm.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(1) as u64)
}

/// A sample of a text exposition: `name{labels} value`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// The samples of a Prometheus text exposition (comments skipped), for
/// `cortex stats`. Label values are read with their escapes undone.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(sample)
        .collect()
}

fn sample(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    let Some((name, rest)) = series.split_once('{') else {
        return Some(Sample { name: series.to_owned(), labels: Vec::new(), value });
    };
    let mut labels = Vec::new();
    let mut rest = rest.strip_suffix('}')?;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut text = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => text.push('\n'),
                    c => text.push(c),
                },
                (_, c) => text.push(c),
            }
        };
        labels.push((key.trim_start_matches(',').to_owned(), text));
        rest = &after[end + 1..];
    }
    Some(Sample { name: name.to_owned(), labels, value })
}

/// Latencies of one operation, read back from a histogram.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Timing {
    /// The operation (the histogram's label), or the histogram's name.
    pub name: String,
    pub count: u64,
    pub errors: u64,
    pub mean_ms: f64,
    /// Upper bounds of the buckets holding the median and the 95th
    /// percentile.
    pub p50_ms: f64,
    pub p95_ms: f64,
}

/// A cache, read back.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CacheSummary {
    pub cache: String,
    pub bytes: u64,
    pub hits: u64,
    pub misses: u64,
}

/// Metrics for a person (`cortex stats`), from a text exposition.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    pub fuse: Vec<Timing>,
    pub flush: Option<Timing>,
    pub commit: Option<Timing>,
    pub tools: Vec<Timing>,
    pub queues: Vec<(String, u64)>,
    pub caches: Vec<CacheSummary>,
    pub resident_bytes: u64,
}

impl Summary {
    /// The summary of the samples of a text exposition.
    pub fn of(samples: &[Sample]) -> Summary {
        let gauge = |name: &str, label: &str| -> Vec<(String, u64)> {
            samples
                .iter()
                .filter(|s| s.name == name)
                .filter_map(|s| Some((label_of(s, label)?.to_owned(), s.value as u64)))
                .collect()
        };
        let lookups = gauge("cortex_cache_lookups_total", "cache");
        let count = |cache: &str, result: &str| {
            samples
                .iter()
                .filter(|s| s.name == "cortex_cache_lookups_total")
                .filter(|s| {
                    label_of(s, "cache") == Some(cache) && label_of(s, "result") == Some(result)
                })
                .map(|s| s.value as u64)
                .sum()
        };
        let mut caches: Vec<CacheSummary> = gauge("cortex_cache_bytes", "cache")
            .into_iter()
            .map(|(cache, bytes)| CacheSummary {
                hits: count(&cache, "hit"),
                misses: count(&cache, "miss"),
                cache,
                bytes,
            })
            .collect();
        for (cache, _) in lookups {
            if !caches.iter().any(|c| c.cache == cache) {
                let (hits, misses) = (count(&cache, "hit"), count(&cache, "miss"));
                caches.push(CacheSummary { cache, bytes: 0, hits, misses });
            }
        }
        Summary {
            fuse: timings(
                samples,
                "cortex_fuse_op_seconds",
                Some(("op", "cortex_fuse_errors_total")),
            ),
            flush: timings(samples, "cortex_flush_seconds", None).pop(),
            commit: timings(samples, "cortex_commit_seconds", None).pop(),
            tools: timings(
                samples,
                "cortex_mcp_tool_seconds",
                Some(("tool", "cortex_mcp_tool_errors_total")),
            ),
            queues: gauge("cortex_queue_depth", "queue"),
            caches,
            resident_bytes: samples
                .iter()
                .find(|s| s.name == "cortex_resident_bytes")
                .map_or(0, |s| s.value as u64),
        }
    }
}

fn label_of<'a>(sample: &'a Sample, key: &str) -> Option<&'a str> {
    sample.labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The timings of histogram `family`, one per value of `by.0` (or one for
/// the whole family), with errors from counter `by.1`. Only what was
/// observed at least once.
fn timings(samples: &[Sample], family: &str, by: Option<(&str, &str)>) -> Vec<Timing> {
    let key =
        |s: &Sample| by.and_then(|(label, _)| label_of(s, label)).unwrap_or(family).to_owned();
    let (buckets_of, sum_of, count_of) =
        (format!("{family}_bucket"), format!("{family}_sum"), format!("{family}_count"));
    let mut out = Vec::new();
    for total in samples.iter().filter(|s| s.name == count_of && s.value > 0.0) {
        let name = key(total);
        let mine = |s: &&Sample| key(s) == name;
        let mut buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| s.name == buckets_of)
            .filter(mine)
            .filter_map(|s| Some((label_of(s, "le")?.parse::<f64>().ok()?, s.value)))
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let quantile = |q: f64| {
            let rank = q * total.value;
            buckets.iter().find(|(_, n)| *n >= rank).map_or(f64::NAN, |(le, _)| le * 1e3)
        };
        let sum = samples.iter().filter(|s| s.name == sum_of).find(mine).map_or(0.0, |s| s.value);
        let errors = by
            .and_then(|(_, errors)| samples.iter().filter(|s| s.name == errors).find(mine))
            .map_or(0, |s| s.value as u64);
        out.push(Timing {
            name,
            count: total.value as u64,
            errors,
            mean_ms: sum / total.value * 1e3,
            p50_ms: quantile(0.5),
            p95_ms: quantile(0.95),
        });
    }
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_reads_back_as_its_samples() {
        let m = global();
        m.fuse.with_label_values(&["read"]).observe(0.002);
        m.content_cache.count(true);
        m.queue.with_label_values(&["embed"]).set(42);
        let samples = parse(&m.text());
        let find = |name: &str, labels: &[(&str, &str)]| {
            samples.iter().find(|s| {
                s.name == name
                    && labels.iter().all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
            })
        };
        assert!(find("cortex_fuse_op_seconds_count", &[("op", "read")]).unwrap().value >= 1.0);
        assert!(find("cortex_fuse_op_seconds_bucket", &[("op", "read"), ("le", "+Inf")]).is_some());
        let hits = find("cortex_cache_lookups_total", &[("cache", "content"), ("result", "hit")]);
        assert!(hits.unwrap().value >= 1.0);
        assert_eq!(find("cortex_queue_depth", &[("queue", "embed")]).unwrap().value, 42.0);
        assert!(find("cortex_resident_bytes", &[]).unwrap().value > 1e6);
    }

    #[test]
    fn a_summary_reads_counts_means_and_bucket_quantiles() {
        let text = "\
cortex_fuse_op_seconds_bucket{op=\"read\",le=\"0.001\"} 90
cortex_fuse_op_seconds_bucket{op=\"read\",le=\"0.01\"} 99
cortex_fuse_op_seconds_bucket{op=\"read\",le=\"+Inf\"} 100
cortex_fuse_op_seconds_sum{op=\"read\"} 0.2
cortex_fuse_op_seconds_count{op=\"read\"} 100
cortex_fuse_op_seconds_count{op=\"write\"} 0
cortex_fuse_errors_total{op=\"read\"} 3
cortex_cache_bytes{cache=\"content\"} 4096
cortex_cache_lookups_total{cache=\"content\",result=\"hit\"} 7
cortex_cache_lookups_total{cache=\"content\",result=\"miss\"} 1
cortex_queue_depth{queue=\"embed\"} 12
cortex_resident_bytes 1000
";
        let s = Summary::of(&parse(text));
        assert_eq!(s.fuse.len(), 1, "ops never seen are left out");
        let read = &s.fuse[0];
        assert_eq!((read.name.as_str(), read.count, read.errors), ("read", 100, 3));
        assert!((read.mean_ms - 2.0).abs() < 1e-9);
        assert_eq!((read.p50_ms, read.p95_ms), (1.0, 10.0));
        assert_eq!(
            s.caches,
            vec![CacheSummary { cache: "content".into(), bytes: 4096, hits: 7, misses: 1 }]
        );
        assert_eq!(s.queues, vec![("embed".to_owned(), 12)]);
        assert_eq!(s.resident_bytes, 1000);
        assert!(s.flush.is_none());
    }

    #[test]
    fn escaped_label_values_are_read_back() {
        let s = sample(r#"x_total{a="q\"u,o=te",b="n\\l"} 3"#).unwrap();
        assert_eq!(s.labels, vec![("a".into(), "q\"u,o=te".into()), ("b".into(), "n\\l".into())]);
        assert_eq!(s.value, 3.0);
    }
}
