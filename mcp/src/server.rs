//! The MCP server on stdin/stdout (rmcp): lists the catalogue, runs calls
//! against the store's [`Service`]. Logs go to stderr; stdout carries only
//! the protocol.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use cortex::ids::SessionName;
use cortex::service::{Remote, Service, Views, WritePolicy};
use cortex::session::{Command, Outcome};
use cortex::store::{OpenOptions, Store, StoreLocation};
use cortex::token::Grant;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};

use crate::calls::Calls;
use crate::tool::{Cx, Effect, Spec};

/// What `cortex mcp` was asked for.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Serve over HTTP instead of stdio (`--http`).
    pub http: Option<crate::http::HttpOptions>,
    /// The store (`--store`, else CORTEX_STORE); default: found from the
    /// current directory.
    pub store: Option<String>,
    /// Work in this session's view instead of main's.
    pub session: Option<String>,
    /// Let the tools write below `.git/`.
    pub allow_git_writes: bool,
}

/// The rmcp handler: one for stdio; over HTTP, one per request (cheap
/// clones), each call in the view of the request's token.
#[derive(Clone)]
pub(crate) struct Server {
    pub(crate) service: Arc<dyn Service>,
    /// The view over stdio (over HTTP, the token's view is used).
    session: Option<SessionName>,
    policy: WritePolicy,
    tools: Arc<Vec<Tool>>,
    pub(crate) calls: Arc<Calls>,
}

fn tool(spec: &Spec) -> Tool {
    let annotations = ToolAnnotations::with_title(spec.title)
        .read_only(spec.effect == Effect::ReadOnly)
        .destructive(spec.effect == Effect::Destructive)
        .open_world(false);
    Tool::new(spec.name, spec.description, Arc::new(spec.input.clone()))
        .with_title(spec.title)
        .with_raw_output_schema(Arc::new(spec.output.clone()))
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
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // Over HTTP the request carries its token's grant (checked by
        // `http::authorize`; checked again here, where the call runs).
        let grant = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Grant>());
        let args = request.arguments.unwrap_or_default();
        if let Some(grant) = grant
            && let Err(why) = crate::scope::permits(grant, &request.name, &args)
        {
            return Ok(CallToolResult::error(vec![ContentBlock::text(why)]).into());
        }
        let session = grant.map_or(self.session.as_ref(), |g| g.session.as_ref());
        let cx = Cx { service: self.service.as_ref(), session, policy: self.policy };
        let started = Instant::now();
        let result = crate::tool::call(&cx, &request.name, Some(args)).await;
        self.calls.record(&request.name, result.is_ok(), started.elapsed());
        Ok(match result {
            Ok(value) => CallToolResult::structured(value),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(e.0)]),
        }
        .into())
    }
}

/// The store's service: the daemon of this machine (started if none runs,
/// kept running while this server is attached, started again if it dies),
/// for a store on disk or on a server alike, so that the tools and this
/// machine's mounts share one view; the store opened here for one in
/// memory (returned too, to be closed at the end).
async fn connect(location: StoreLocation) -> Result<(Arc<dyn Service>, Option<Arc<Views>>)> {
    match location.runtime_dir()? {
        Some(dir) => {
            let attached = Mutex::new(attach(location.clone()).await?);
            let restart = move || {
                *attached.lock().unwrap() = cortex::service::daemon::attach(&location)?;
                Ok(())
            };
            let remote: Arc<dyn Service> = Arc::new(Remote::restarting(dir, Box::new(restart)));
            Ok((remote, None))
        }
        None => {
            let store = Store::open(&location, OpenOptions::default()).await?;
            let views = Arc::new(Views::in_process(store));
            let service: Arc<dyn Service> = views.clone();
            Ok((service, Some(views)))
        }
    }
}

async fn attach(location: StoreLocation) -> Result<std::os::unix::net::UnixStream> {
    Ok(tokio::task::spawn_blocking(move || cortex::service::daemon::attach(&location)).await??)
}

/// Serves MCP on stdin/stdout until the client goes.
pub async fn run(options: Options) -> Result<()> {
    if options.http.is_some() && options.session.is_some() {
        bail!(
            "over HTTP each token names its view: give `cortex token create --session NAME`, not --session"
        );
    }
    let session = options.session.as_deref().map(SessionName::parse).transpose()?;
    let spec = options.store.clone().or_else(|| std::env::var("CORTEX_STORE").ok());
    let location = match spec {
        Some(spec) => StoreLocation::parse(&spec)?,
        None => StoreLocation::discover(&std::env::current_dir()?)?,
    };
    let (service, local) = connect(location).await?;
    // A session that does not exist is an error now, not at the first call.
    if let Some(name) = &session {
        let Outcome::Listed(sessions) = service.session(Command::List).await? else {
            bail!("listing the sessions got another answer");
        };
        if !sessions.iter().any(|s| s.name == name.as_str()) {
            bail!("no session named {name}; `cortex session new {name}` makes one");
        }
    }
    let server = Server {
        service: service.clone(),
        session,
        policy: WritePolicy { git: options.allow_git_writes },
        tools: Arc::new(crate::tool::catalogue().iter().map(tool).collect()),
        calls: Arc::new(Calls::new()),
    };
    let served = match options.http {
        Some(http) => crate::http::serve(http, server).await,
        None => serve(server).await,
    };
    drop(service);
    if let Some(views) = local {
        close(views).await;
    }
    served
}

async fn serve(server: Server) -> Result<()> {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let mut pumps = tokio::spawn(crate::gate::gate(ours));
    let served = match server.serve(theirs).await {
        Ok(service) => service.waiting().await.map(|_| ()).context("the MCP server"),
        Err(e) => {
            // The client closed its end before it said hello (the gate ends
            // with stdin): nothing to serve, and nothing went wrong.
            if tokio::time::timeout(Duration::from_secs(2), &mut pumps).await.is_ok() {
                tracing::info!("stdin closed before the client initialised; stopping");
                Ok(())
            } else {
                Err(e).context("start the MCP server on stdio")
            }
        }
    };
    pumps.abort();
    served
}

/// Closes a store held here once the server's handles on it are gone,
/// saving what the tools wrote.
async fn close(mut views: Arc<Views>) {
    for _ in 0..500 {
        match Arc::try_unwrap(views) {
            Ok(views) => return views.shut().await,
            Err(still) => {
                views = still;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    tracing::warn!("the store is still in use at exit; its last writes were flushed");
    if let Err(e) = views.flush().await {
        tracing::error!("flush at exit failed: {e}");
    }
}
