//! `cortex-mcp`: the MCP server, started by `cortex mcp` (which passes its
//! own arguments on).
//!
//! Usage: cortex-mcp [--store PATH|URL] [--session NAME] [--allow-git-writes]
//!        [--http ADDR [--allow-remote] [--rate-limit N] [--burst N] [--max-in-flight N]]
//! (the store also from CORTEX_STORE, as for `cortex`)
//!
//! Users type `cortex mcp`; this binary takes only what that passes it, so
//! it parses its few arguments by hand. Logs go to stderr (stdout carries
//! the protocol); CORTEX_LOG sets the filter.

use std::process::ExitCode;

use cortex_mcp::{HttpOptions, Limits, Options};

/// The options of the command line, or what is wrong with it.
fn parse(mut args: impl Iterator<Item = std::ffi::OsString>) -> Result<Options, String> {
    let mut options = Options::default();
    let (mut http, mut allow_remote, mut limits) = (None, false, Limits::default());
    let value = |args: &mut dyn Iterator<Item = std::ffi::OsString>, what: &str| {
        args.next().and_then(|s| s.into_string().ok()).ok_or(format!("{what} needs a value"))
    };
    let number = |text: String, what: &str| {
        text.parse::<u32>().map_err(|_| format!("{what} takes a whole number, not {text:?}"))
    };
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--store") => options.store = Some(value(&mut args, "--store")?),
            Some("--session") => options.session = Some(value(&mut args, "--session")?),
            Some("--allow-git-writes") => options.allow_git_writes = true,
            Some("--http") => {
                let addr = value(&mut args, "--http")?;
                http = Some(addr.parse().map_err(|_| {
                    format!("--http takes an address and port like 127.0.0.1:8931, not {addr:?}")
                })?);
            }
            Some("--allow-remote") => allow_remote = true,
            Some(flag @ ("--rate-limit" | "--burst" | "--max-in-flight")) => {
                let n = number(value(&mut args, flag)?, flag)?;
                match flag {
                    "--rate-limit" => limits.per_second = n,
                    "--burst" => limits.burst = n,
                    _ => limits.in_flight = n,
                }
            }
            _ => return Err(format!("unexpected argument {arg:?}; it is started by `cortex mcp`")),
        }
    }
    match http {
        Some(addr) => options.http = Some(HttpOptions { addr, allow_remote, limits }),
        None if allow_remote => return Err("--allow-remote goes with --http".into()),
        None => {}
    }
    Ok(options)
}

fn main() -> ExitCode {
    // SAFETY: first thing at start-up, before any thread exists.
    unsafe { cortex::embed::single_threaded_kernels() };
    cortex::init_logging("warn,surrealkv::lsm=error");
    cortex::store::health::enable();
    let options = match parse(std::env::args_os().skip(1)) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("cortex-mcp: {e}");
            return ExitCode::from(2);
        }
    };
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
