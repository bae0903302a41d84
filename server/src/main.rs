//! `cortex-surreal`: a SurrealDB server, started by the test script on the
//! loopback interface (`scripts/surreal.sh`), as `surreal start` would be.
//! The arguments are the `surreal` command's; credentials come from
//! `SURREAL_USER` / `SURREAL_PASS` in the environment, never argv.

// The server's futures are deep: as in the `surreal` binary.
#![recursion_limit = "256"]

fn main() -> std::process::ExitCode {
    surrealdb_server::init(surrealdb_server::core::CommunityComposer())
}
