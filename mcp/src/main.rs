//! `cortex-mcp`: the MCP server, started by `cortex mcp` (which passes its
//! own arguments on).
//!
//! Usage: cortex-mcp [--store PATH|URL] [--session NAME] [--allow-git-writes]
//! (the store also from CORTEX_STORE, as for `cortex`)
//!
//! Users type `cortex mcp`; this binary takes only what that passes it, so
//! it parses its few arguments by hand. Logs go to stderr (stdout carries
//! the protocol); CORTEX_LOG sets the filter.

use std::process::ExitCode;

use cortex_mcp::Options;

fn main() -> ExitCode {
    // SAFETY: first thing at start-up, before any thread exists.
    unsafe { cortex::embed::single_threaded_kernels() };
    cortex::init_logging("warn,surrealkv::lsm=error");
    cortex::store::health::enable();
    let mut options = Options::default();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--store") => options.store = args.next().and_then(|s| s.into_string().ok()),
            Some("--session") => options.session = args.next().and_then(|s| s.into_string().ok()),
            Some("--allow-git-writes") => options.allow_git_writes = true,
            _ => {
                eprintln!("cortex-mcp: unexpected argument {arg:?}; it is started by `cortex mcp`");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
    let result = match runtime {
        Ok(rt) => {
            let result = rt.block_on(cortex_mcp::run(options));
            // A call to the daemon still under way when the client went
            // away is not waited for without end.
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
            result
        }
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cortex: {}", cortex::error::one_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
