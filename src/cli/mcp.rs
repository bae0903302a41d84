//! `cortex mcp`: an MCP server on stdin/stdout, for agents. The server is
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
}

pub async fn run(cx: &Context, args: McpArgs) -> Result<ExitCode> {
    if let Some(name) = &args.session {
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
    // exec: stdin and stdout are the server's, and so is the exit status.
    let err = command.exec();
    Err(err).with_context(|| format!("start {}", server.display()))
}
