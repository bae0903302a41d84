//! The core, driven through the library against a real store engine.

mod embed;
mod errors;
mod graph;
mod graph_rust;
mod history;
mod merge;
mod notes;
mod roundtrip;
mod search;
mod sessions;
mod vfs;
mod watch;
