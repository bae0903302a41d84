//! The HTTP load of `scripts/bench-mcp.sh --http`, from Rust: CLIENTS MCP
//! clients at once over Streamable HTTP (rmcp's client, one token each),
//! each calling every tool SAMPLES times in turn; prints every call's
//! latency.
//!
//! The script also runs the same load from the Python `mcp` SDK, which is
//! what most agents use. On this two-core machine those eight Python
//! clients took 43% of both cores' time (perf), most of it checking each
//! answer against its tool's output schema; the server then has what is
//! left. This client costs a few percent, so its figures are the server's
//! own, as an agent on another machine would see them.
//!
//! Reads its job from stdin, as JSON (tokens are never put in argv):
//! `{"url", "tokens": [..], "samples", "calls": [[label, tool, args], ..]}`.
//! Writes `{"times": {label: [ms, ..]}, "seconds"}` to stdout.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[derive(Deserialize)]
struct Job {
    url: String,
    tokens: Vec<String>,
    samples: usize,
    /// (label, tool, arguments)
    calls: Vec<(String, String, Map<String, Value>)>,
}

// One thread: the load should take as little of the machine as it can.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let job: Arc<Job> = Arc::new(serde_json::from_str(&text).context("the job on stdin")?);
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for token in &job.tokens {
        clients.spawn(client(job.clone(), token.clone()));
    }
    let mut times: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    while let Some(done) = clients.join_next().await {
        for (label, ms) in done?? {
            times.entry(label).or_default().push(ms);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{}", json!({"times": times, "seconds": seconds}));
    Ok(())
}

/// One client's calls, each with its time in ms.
async fn client(job: Arc<Job>, token: String) -> Result<Vec<(String, f64)>> {
    let config = StreamableHttpClientTransportConfig::with_uri(job.url.as_str()).auth_header(token);
    let running = ().serve(StreamableHttpClientTransport::from_config(config)).await?;
    let mut times = Vec::with_capacity(job.calls.len() * job.samples);
    for (label, tool, args) in &job.calls {
        for _ in 0..job.samples {
            let params = CallToolRequestParams::new(tool.clone()).with_arguments(args.clone());
            let t = Instant::now();
            let result = running.call_tool(params).await.with_context(|| tool.to_string())?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            if result.is_error == Some(true) {
                bail!("{tool}({args:?}) answered an error: {:?}", result.content);
            }
            times.push((label.clone(), ms));
        }
    }
    running.cancel().await?;
    Ok(times)
}
