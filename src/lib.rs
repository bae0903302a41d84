//! Cortex: a source tree held in SurrealDB as snapshots of content-addressed
//! trees, imported from and exported to real directories.
//!
//! Start at [`store::Store`] (the only module that speaks SurrealQL), then
//! [`tree`] (what a directory is), [`snapshot`] (reading and comparing
//! snapshots), [`import`] and [`export`]. ARCHITECTURE.md has the map.

pub mod control;
pub mod embed;
pub mod error;
pub mod export;
pub mod fsck;
pub mod graph;
pub mod ids;
pub mod import;
pub mod index;
pub mod merge;
pub mod par;
pub mod query;
pub mod search;
pub mod session;
pub mod snapshot;
pub mod store;
pub mod tools;
pub mod tree;
pub mod vfs;

pub use error::{Error, Result};
