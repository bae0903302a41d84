//! The cortex MCP server: what an agent can ask of a view of the tree (main,
//! or a session) beyond plain files, as MCP tools over stdio or HTTP.
//!
//! - [`tool`]: what a tool is. Each tool is a type: its parameters a struct
//!   (the input schema is derived from it, unknown fields refused), its
//!   answer a type (the output schema derived likewise), so the catalogue
//!   `tools/list` shows cannot drift from what the tools take and give.
//! - [`tools`]: the tools, by what they touch: files, the code graph and
//!   search, sessions.
//! - [`server`]: the rmcp server that lists and calls them, behind a gate
//!   that answers what rmcp would drop (stdio).
//! - [`http`]: the same server over Streamable HTTP (`--http`), behind
//!   bearer tokens ([`scope`]: what each may call), per-token rate limits,
//!   with `/metrics` ([`calls`]: the server's own series).
//!
//! The tools run against a [`cortex::service::Service`]: this machine's
//! daemon of the store, on disk or on a server (so agents, mounts and the
//! CLI share one live view: a tool's write is in every mount of that view
//! at once), or the store opened in this process when it is in memory.
//! Only this crate knows rmcp.

pub mod calls;
pub mod http;
pub mod scope;
pub mod server;
pub mod tool;
pub mod tools;

mod gate;

pub use http::{HttpOptions, Limits};
pub use server::{Options, run};
pub use tool::{Cx, ToolError, call, catalogue};
