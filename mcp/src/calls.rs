//! What the MCP server measures of its own work: tool calls by tool (count,
//! errors, latency) and HTTP requests refused (401, 403, 429), as
//! `cortex_mcp_*` series. `/metrics` serves them with the store's own
//! ([`cortex::metrics`]).

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::tool::catalogue;

/// The server's series.
pub struct Calls {
    registry: Registry,
    calls: IntCounterVec,
    errors: IntCounterVec,
    seconds: HistogramVec,
    refusals: IntCounterVec,
}

impl std::fmt::Debug for Calls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Calls")
    }
}

impl Calls {
    pub fn new() -> Calls {
        Calls::build().expect("the MCP server's series are valid")
    }

    fn build() -> prometheus::Result<Calls> {
        let registry = Registry::new();
        let calls = IntCounterVec::new(
            Opts::new("cortex_mcp_tool_calls_total", "tool calls, by tool"),
            &["tool"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new("cortex_mcp_tool_errors_total", "tool calls that failed, by tool"),
            &["tool"],
        )?;
        let seconds = HistogramVec::new(
            HistogramOpts::new("cortex_mcp_tool_seconds", "tool call latency, by tool")
                .buckets(cortex::metrics::latency_buckets()),
            &["tool"],
        )?;
        let refusals = IntCounterVec::new(
            Opts::new("cortex_mcp_http_refusals_total", "HTTP requests refused, by status"),
            &["status"],
        )?;
        registry.register(Box::new(calls.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(seconds.clone()))?;
        registry.register(Box::new(refusals.clone()))?;
        Ok(Calls { registry, calls, errors, seconds, refusals })
    }

    /// A call of `tool` that took `took`. A name not in the catalogue is
    /// counted as `unknown` (a client cannot make up series).
    pub fn record(&self, tool: &str, ok: bool, took: Duration) {
        let tool = catalogue().iter().find(|s| s.name == tool).map_or("unknown", |s| s.name);
        self.calls.with_label_values(&[tool]).inc();
        if !ok {
            self.errors.with_label_values(&[tool]).inc();
        }
        self.seconds.with_label_values(&[tool]).observe(took.as_secs_f64());
    }

    /// A request refused with `status`.
    pub fn refused(&self, status: u16) {
        self.refusals.with_label_values(&[&status.to_string()]).inc();
    }

    /// The series, in the Prometheus text format.
    pub fn text(&self) -> String {
        cortex::metrics::encode(&self.registry)
    }
}

impl Default for Calls {
    fn default() -> Calls {
        Calls::new()
    }
}
