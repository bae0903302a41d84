//! The core, driven through the library against a real store engine.

mod errors;
mod graph;
mod history;
mod merge;
mod roundtrip;
mod sessions;
mod vfs;
