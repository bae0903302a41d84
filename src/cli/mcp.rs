//! `cortex mcp`: an MCP server on stdin/stdout (or over HTTP with
//! `--http`), for agents. The server is
//! `cortex-mcp` (the `mcp/` crate); this command runs it in its place, as
//! `cortex mount` runs `cortex-mountd`.

use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use anyhow::{Context as _, Result};

use super::Context;

#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// Work in this session's view instead of main's.
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
    /// Let the tools write below `.git/` (hooks, config): only for an agent
    /// that must commit. Refused by default: a hook written there runs at
    /// your next git command.
    #[arg(long)]
    pub allow_git_writes: bool,
    /// Serve MCP over Streamable HTTP at ADDR (`/mcp`, and `/metrics`)
    /// instead of stdin/stdout; each request needs a bearer token
    /// (`cortex token create`), which names its view.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// Let --http listen on an address other machines reach.
    #[arg(long, requires = "http")]
    pub allow_remote: bool,
    /// Requests per second per token (--http; default 50).
    #[arg(long, value_name = "N", requires = "http")]
    pub rate_limit: Option<u32>,
    /// Requests a token may send at once above its rate (--http; default 100).
    #[arg(long, value_name = "N", requires = "http")]
    pub burst: Option<u32>,
    /// Requests of one token answered at once (--http; default 16).
    #[arg(long, value_name = "N", requires = "http")]
    pub max_in_flight: Option<u32>,
}

pub async fn run(cx: &Context, args: McpArgs) -> Result<ExitCode> {
    if let Some(name) = &args.session {
        if args.http.is_some() {
            anyhow::bail!(
                "--http serves every session, each by its token: drop --session and give its agent `cortex token create --session {name}`"
            );
        }
        cortex::ids::SessionName::parse(name)?;
    }
    let server = cortex::service::daemon::companion("cortex-mcp", "CORTEX_MCP")?;
    let mut command = std::process::Command::new(&server);
    // The store goes in the environment, as CORTEX_STORE would: a URL
    // stays out of the process list.
    if let Some(store) = &cx.store {
        command.env("CORTEX_STORE", store);
    }
    if let Some(name) = &args.session {
        command.arg("--session").arg(name);
    }
    if args.allow_git_writes {
        command.arg("--allow-git-writes");
    }
    if let Some(addr) = args.http {
        command.arg("--http").arg(addr.to_string());
        if args.allow_remote {
            command.arg("--allow-remote");
        }
        for (flag, n) in [
            ("--rate-limit", args.rate_limit),
            ("--burst", args.burst),
            ("--max-in-flight", args.max_in_flight),
        ] {
            if let Some(n) = n {
                command.arg(flag).arg(n.to_string());
            }
        }
    }
    // exec: stdin and stdout are the server's, and so is the exit status.
    let err = command.exec();
    Err(err).with_context(|| format!("start {}", server.display()))
}
