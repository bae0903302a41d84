//! `cortex mcp`: an MCP server on stdin/stdout (rmcp), for agents.
//!
//! The tools themselves are `cortex::tools`. For an embedded store they run
//! in the store's daemon (started here if none runs, and kept running while
//! this server is attached), so that agents, mounts and the CLI share one
//! live store: a write through a tool is in every mount of that view at
//! once. A remote store has no daemon: the tools run in this process.
//! Logs go to stderr; stdout carries only the protocol.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use cortex::control::{self, Request, Response};
use cortex::store::{OpenOptions, Store, StoreLocation};
use cortex::tools::local::LocalHost;
use cortex::tools::{ToolError, ToolSpec};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Map, Value};

use super::Context;

#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// Work in this session's view instead of main's.
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
}

/// Where the tools run.
enum Backend {
    /// The store's daemon; `attached` keeps it running while we are.
    Daemon {
        dir: PathBuf,
        attached: Mutex<Option<UnixStream>>,
    },
    Local(LocalHost),
}

/// How long one tool call may take in the daemon (a merge of a big tree).
const CALL_TIMEOUT: Duration = Duration::from_secs(3600);

impl Backend {
    async fn call(
        &self,
        session: Option<&str>,
        name: &str,
        args: Option<Map<String, Value>>,
    ) -> Result<Value, ToolError> {
        match self {
            Backend::Local(host) => cortex::tools::call(host, session, name, args).await,
            Backend::Daemon { dir, attached } => {
                let request = Request::Tool {
                    session: session.map(str::to_owned),
                    name: name.to_owned(),
                    args,
                };
                let ask = |request: Request| {
                    let dir = dir.clone();
                    tokio::task::spawn_blocking(move || control::call(&dir, &request, CALL_TIMEOUT))
                };
                let mut answer =
                    ask(request.clone()).await.map_err(|e| ToolError::new(e.to_string()))?;
                if matches!(answer, Ok(None)) {
                    // The daemon went away (killed, say): start another once.
                    tracing::warn!("the cortex daemon is gone; starting it again");
                    let dir = dir.clone();
                    let fresh = tokio::task::spawn_blocking(move || attach(&dir))
                        .await
                        .map_err(|e| ToolError::new(e.to_string()))?
                        .map_err(|e| {
                            ToolError::new(format!(
                                "the cortex daemon died and could not be restarted: {e:#}"
                            ))
                        })?;
                    *attached.lock().unwrap() = Some(fresh);
                    answer = ask(request).await.map_err(|e| ToolError::new(e.to_string()))?;
                }
                match answer {
                    Ok(Some(Response::Tool { outcome })) => outcome,
                    Ok(Some(Response::Error { message })) => Err(ToolError::new(message)),
                    Ok(Some(other)) => {
                        Err(ToolError::new(format!("unexpected answer from the daemon: {other:?}")))
                    }
                    Ok(None) => Err(ToolError::new("the cortex daemon is gone")),
                    Err(e) => Err(ToolError::new(format!("the cortex daemon: {e}"))),
                }
            }
        }
    }
}

/// Starts the store's daemon if none runs, and attaches to it.
fn attach(dir: &std::path::Path) -> Result<UnixStream> {
    let socket = control::socket_path(dir);
    if UnixStream::connect(&socket).is_err() {
        super::mount::start_daemon(&super::mount::mountd_binary()?, dir)?;
    }
    let mut stream =
        UnixStream::connect(&socket).with_context(|| format!("connect to {}", socket.display()))?;
    let mut line = serde_json::to_string(&Request::Attach).expect("requests serialise");
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer)?;
    match serde_json::from_str::<Response>(&answer) {
        Ok(Response::Ok) => Ok(stream),
        _ => bail!("the cortex daemon at {} did not accept this server: {answer:?}", dir.display()),
    }
}

struct Server {
    backend: Arc<Backend>,
    session: Option<String>,
    tools: Vec<Tool>,
}

fn as_object(value: &Value) -> Arc<Map<String, Value>> {
    Arc::new(value.as_object().cloned().unwrap_or_default())
}

fn tool(spec: &ToolSpec) -> Tool {
    let annotations = ToolAnnotations::with_title(spec.title)
        .read_only(spec.read_only)
        .destructive(
            !spec.read_only
                && matches!(spec.name, "delete_path" | "write_file" | "merge" | "replace_unit"),
        )
        .open_world(false);
    Tool::new(spec.name, spec.description, as_object(&spec.input))
        .with_title(spec.title)
        .with_raw_output_schema(as_object(&spec.output))
        .with_annotations(annotations)
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        let view = match &self.session {
            Some(name) => format!("session {name}"),
            None => "main".to_owned(),
        };
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("cortex", env!("CARGO_PKG_VERSION")).with_title("Cortex"),
            )
            .with_instructions(format!(
                "A source tree in a database, with its code graph. This server works on {view}. Paths are \
                 relative to the tree's root. Use search to find code by meaning, callers/callees/impact \
                 before changing a function, and session tools to work apart and merge."
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.tools.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let started = std::time::Instant::now();
        let result =
            self.backend.call(self.session.as_deref(), &request.name, request.arguments).await;
        tracing::debug!(tool = %request.name, ms = started.elapsed().as_millis() as u64, ok = result.is_ok(), "tool call");
        Ok(match result {
            Ok(value) => CallToolResult::structured(value),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(e.0)]),
        }
        .into())
    }
}

/// The longest message read from stdin (rmcp's own limit).
const LINE_MAX: usize = 16 << 20;

/// Stands between stdin/stdout and rmcp (`ours` is the far end of rmcp's
/// pipe). A message that is not UTF-8 JSON would be dropped by rmcp without
/// an answer, leaving the client waiting: here it is answered (a tool error
/// for a `tools/call`, a JSON-RPC parse error otherwise) and the server
/// goes on.
async fn gate(ours: tokio::io::DuplexStream) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let (from_server, mut to_server) = tokio::io::split(ours);
    let stdout = Arc::new(tokio::sync::Mutex::new(tokio::io::stdout()));
    let out = stdout.clone();
    let answers = tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(from_server);
        let mut line = Vec::new();
        while matches!(lines.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
            let mut out = out.lock().await;
            if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
                break;
            }
            line.clear();
        }
    });
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    while matches!(stdin.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
        match refusal(&line) {
            None => {
                if to_server.write_all(&line).await.is_err() {
                    break;
                }
            }
            Some(Some(answer)) => {
                let mut out = stdout.lock().await;
                let _ = out.write_all(answer.as_bytes()).await;
                let _ = out.flush().await;
            }
            Some(None) => {}
        }
        line.clear();
    }
    drop(to_server); // rmcp sees the end of input and stops
    let _ = answers.await;
}

/// `None` when `line` may go to rmcp; otherwise the answer to send back, if
/// it has an id to answer.
fn refusal(line: &[u8]) -> Option<Option<String>> {
    let why = match std::str::from_utf8(line) {
        _ if line.len() > LINE_MAX => format!("the message is over {LINE_MAX} bytes"),
        Err(_) => "the message is not valid UTF-8 (JSON text must be UTF-8)".to_owned(),
        Ok(text) if text.trim().is_empty() => return None,
        Ok(text) => match serde_json::from_str::<Value>(text) {
            Ok(_) => return None,
            Err(e) => format!("the message is not valid JSON ({e})"),
        },
    };
    tracing::warn!("refused a message: {why}");
    // Its id and method, read from a repaired copy, say how to answer.
    let head = &line[..line.len().min(LINE_MAX)];
    let repaired = without_lone_surrogates(&String::from_utf8_lossy(head));
    let message = serde_json::from_str::<Value>(&repaired).unwrap_or(Value::Null);
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    if id.is_null() && message.get("method").is_some() {
        return Some(None); // a notification: nothing to answer
    }
    let answer = if message["method"] == "tools/call" {
        serde_json::json!({ "jsonrpc": "2.0", "id": id, "result": {
            "content": [{ "type": "text", "text": format!("{why}; the call was not run: send the arguments as UTF-8 text") }],
            "isError": true,
        }})
    } else {
        serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32700, "message": why } })
    };
    Some(Some(format!("{answer}\n")))
}

/// `text` with each `\uD800`–`\uDFFF` escape (a lone surrogate, which JSON
/// parsers refuse) turned into U+FFFD.
fn without_lone_surrogates(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\\u") {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let hex = after.get(2..6).unwrap_or("");
        let surrogate = u16::from_str_radix(hex, 16).is_ok_and(|c| (0xD800..=0xDFFF).contains(&c));
        if surrogate {
            out.push_str("\\ufffd");
            rest = &after[6..];
        } else {
            out.push_str(&after[..2]);
            rest = &after[2..];
        }
    }
    out.push_str(rest);
    out
}

pub async fn run(cx: &Context, args: McpArgs) -> Result<ExitCode> {
    if let Some(name) = &args.session {
        cortex::store::sessions::check_name(name)?;
    }
    let location = cx.locate(&std::env::current_dir()?)?;
    let backend = match location {
        StoreLocation::Embedded(dir) => {
            let d = dir.clone();
            let stream = tokio::task::spawn_blocking(move || attach(&d)).await??;
            Backend::Daemon { dir, attached: Mutex::new(Some(stream)) }
        }
        remote => {
            Backend::Local(LocalHost::new(Store::open(&remote, OpenOptions::default()).await?))
        }
    };
    let backend = Arc::new(backend);
    // A session that does not exist is an error now, not at the first call.
    if let Some(name) = &args.session {
        let sessions =
            backend.call(None, "session_list", None).await.map_err(|e| anyhow::anyhow!(e.0))?;
        let known = sessions["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["name"] == name.as_str());
        if !known {
            bail!("no session named {name}; `cortex session new {name}` makes one");
        }
    }
    let server = Server {
        backend: backend.clone(),
        session: args.session.clone(),
        tools: cortex::tools::catalogue().iter().map(tool).collect(),
    };
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let pumps = tokio::spawn(gate(ours));
    let service = server.serve(theirs).await.context("start the MCP server on stdio")?;
    service.waiting().await.context("the MCP server")?;
    pumps.abort();
    if let Ok(Backend::Local(host)) = Arc::try_unwrap(backend) {
        host.close().await;
    }
    Ok(ExitCode::SUCCESS)
}
