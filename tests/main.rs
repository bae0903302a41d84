//! The integration suite: one binary, so the suite links once.
//!
//! `core` drives the library against a real store: the in-memory engine by
//! default, SurrealKV on disk when `CORTEX_TEST_ENGINE=surrealkv` (the test
//! script runs it both ways). `cli` runs the `cortex` binary as a user would.
//! (`tests/tidy.rs`, a binary of its own, checks the architecture's rules
//! on the source itself; it needs no store.)

mod cli;
mod common;
mod core;
