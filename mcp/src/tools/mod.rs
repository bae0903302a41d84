//! The tools, by what they touch. Each is a type implementing
//! [`Tool`](crate::tool::Tool); [`catalogue`](crate::tool::catalogue)
//! lists them.

pub mod files;
pub mod graph;
pub mod notes;
pub mod sessions;
