//! The `cortex` command. All the work is in the library; this file parses
//! arguments, runs the command, and turns an error into one line on stderr
//! and a non-zero exit.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// jemalloc rather than glibc's malloc: see Cargo.toml.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // SAFETY: first thing at start-up, before any thread exists.
    unsafe { cortex::embed::single_threaded_kernels() };
    // Output piped into `head` ends quietly when the reader goes, as with
    // other Unix tools, instead of a panic on EPIPE.
    // SAFETY: restoring a signal's default disposition at start-up, before
    // any thread exists; touches no memory of ours.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    cli::init_logging();
    cortex::store::health::enable();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cortex: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(cli::run(args));
    // A blocking call still under way when the command has its answer (an
    // MCP server's call to a daemon, when its client went away) is not
    // waited for: dropping the runtime would wait for it without end.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cortex: {}", cli::one_line(&e));
            ExitCode::FAILURE
        }
    }
}
