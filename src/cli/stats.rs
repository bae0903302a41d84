//! `cortex stats`: what the daemon measures (FUSE operations, flushes and
//! commits, queues, caches, memory), as a table or `--json`. The same
//! series as `/metrics` of `cortex mcp --http`.

use std::process::ExitCode;

use anyhow::Result;
use cortex::metrics::{Summary, Timing};

use super::Context;
use super::output::print_json;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
    /// The raw series, in the Prometheus text format.
    #[arg(long, conflicts_with = "json")]
    prometheus: bool,
}

pub async fn run(cx: &Context, args: Args) -> Result<ExitCode> {
    let daemon = cx.daemon()?.is_some();
    let text = cx.with_service(async |svc| Ok(svc.metrics().await?)).await?;
    if args.prometheus {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let summary = Summary::of(&cortex::metrics::parse(&text));
    if args.json {
        print_json(&serde_json::json!({ "daemon": daemon, "stats": summary }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if !daemon {
        println!("no daemon runs for this store: the figures are this command's own");
    }
    print_timings("FUSE operation", &summary.fuse);
    let writes: Vec<Timing> = summary.flush.iter().chain(&summary.commit).cloned().collect();
    print_timings("writes", &writes);
    println!();
    println!("{:<24} {:>12}", "queue", "waiting");
    for (queue, n) in &summary.queues {
        println!("{queue:<24} {n:>12}");
    }
    println!();
    println!("{:<24} {:>12} {:>12} {:>12} {:>8}", "cache", "bytes", "hits", "misses", "hit rate");
    for c in &summary.caches {
        let rate = match c.hits + c.misses {
            0 => "-".to_owned(),
            n => format!("{:.1}%", 100.0 * c.hits as f64 / n as f64),
        };
        println!("{:<24} {:>12} {:>12} {:>12} {rate:>8}", c.cache, c.bytes, c.hits, c.misses);
    }
    println!();
    println!("resident memory: {:.1} MiB", summary.resident_bytes as f64 / (1 << 20) as f64);
    Ok(ExitCode::SUCCESS)
}

fn print_timings(what: &str, timings: &[Timing]) {
    println!();
    println!(
        "{what:<24} {:>10} {:>8} {:>10} {:>10} {:>10}",
        "count", "errors", "mean ms", "p50 ≤ ms", "p95 ≤ ms"
    );
    if timings.is_empty() {
        println!("{:<24} {:>10}", "(none yet)", 0);
    }
    for t in timings {
        println!(
            "{:<24} {:>10} {:>8} {:>10.3} {:>10.3} {:>10.3}",
            t.name, t.count, t.errors, t.mean_ms, t.p50_ms, t.p95_ms
        );
    }
}
