//! `cortex mcp --http ADDR`: the tools over MCP's Streamable HTTP (rmcp's
//! server transport, stateless, JSON answers) at `/mcp`, and the metrics
//! at `/metrics`, for agents on other machines.
//!
//! It runs in the `cortex-mcp` process, not in the daemon: the daemon
//! stays free of HTTP and of rmcp, a fault in the web side cannot take the
//! mounts down, and one binary serves both transports against the same
//! [`Service`] (this machine's daemon's, over its socket).
//!
//! Every request passes [`authorize`] first: a bearer token checked
//! against the store (401 if missing, wrong or revoked), its rate and
//! calls in flight limited per token (429 with Retry-After), and each
//! `tools/call` in the body checked against the token's scope (403, with
//! what to do; [`crate::scope`]). The grant then rides with the request to
//! the tool, which runs in the token's view.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cortex::service::Service;
use cortex::session::{Command, Outcome};
use cortex::token::{Grant, Secret, TokenCommand, TokenOutcome};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http_body_util::BodyExt;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::calls::Calls;
use crate::server::Server;

/// The largest request body read (rmcp's own limit).
const BODY_MAX: usize = 4 << 20;

/// Per-token limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests per second, sustained.
    pub per_second: u32,
    /// Requests at once above that rate.
    pub burst: u32,
    /// Requests being answered at once.
    pub in_flight: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { per_second: 50, burst: 100, in_flight: 16 }
    }
}

/// What `cortex mcp --http` was asked for.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    pub addr: SocketAddr,
    /// Serve on an address other machines reach.
    pub allow_remote: bool,
    pub limits: Limits,
}

/// The state every request sees.
struct Gate {
    service: Arc<dyn Service>,
    calls: Arc<Calls>,
    limiter: DefaultKeyedRateLimiter<String>,
    in_flight: Mutex<HashMap<String, Arc<Semaphore>>>,
    limits: Limits,
}

/// Serves `server`'s tools over HTTP until SIGINT or SIGTERM.
pub(crate) async fn serve(options: HttpOptions, server: Server) -> Result<()> {
    let HttpOptions { addr, allow_remote, limits } = options;
    if !allow_remote && !addr.ip().is_loopback() {
        bail!("{addr} is reachable from other machines; give --allow-remote to serve there");
    }
    let nonzero = |n: u32, what: &str| {
        NonZeroU32::new(n).with_context(|| format!("{what} must be at least 1"))
    };
    let quota = Quota::per_second(nonzero(limits.per_second, "--rate-limit")?)
        .allow_burst(nonzero(limits.burst, "--burst")?);
    nonzero(limits.in_flight, "--max-in-flight")?;
    let gate = Arc::new(Gate {
        service: server.service.clone(),
        calls: server.calls.clone(),
        limiter: RateLimiter::keyed(quota),
        in_flight: Mutex::default(),
        limits,
    });
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(BODY_MAX);
    if allow_remote {
        // Any Host: the tokens guard the server, not the name it is
        // reached by.
        config = config.disable_allowed_hosts();
    }
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let app = axum::Router::new()
        .route_service("/mcp", mcp)
        .route("/metrics", axum::routing::get(metrics))
        .layer(axum::middleware::from_fn_with_state(gate.clone(), authorize))
        .with_state(gate);
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listen on {addr}"))?;
    let bound = listener.local_addr()?;
    eprintln!("cortex mcp: serving http://{bound}/mcp (metrics at /metrics)");
    axum::serve(listener, app)
        .with_graceful_shutdown(stopped())
        .await
        .context("the MCP HTTP server")
}

/// Resolves at SIGINT or SIGTERM.
async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

/// `/metrics`: this server's series and those of the process holding the
/// store.
async fn metrics(State(gate): State<Arc<Gate>>) -> Response {
    let mut text = gate.calls.text();
    match gate.service.metrics().await {
        Ok(store) => text.push_str(&store),
        Err(e) => tracing::warn!("the store's metrics: {}", cortex::error::one_line(&e)),
    }
    ([(header::CONTENT_TYPE, cortex::metrics::TEXT_FORMAT)], text).into_response()
}

/// A refusal: `status`, a JSON-RPC error for `id` saying why.
fn refuse(gate: &Gate, status: StatusCode, id: Value, message: &str) -> Response {
    gate.calls.refused(status.as_u16());
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32001, "message": message}});
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"cortex\""));
    }
    response
}

/// 429, retry after `wait`.
fn too_many(gate: &Gate, wait: Duration, message: &str) -> Response {
    let mut response = refuse(gate, StatusCode::TOO_MANY_REQUESTS, Value::Null, message);
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// The token's grant; `None` if it is not a valid token.
async fn check(service: &dyn Service, token: &str) -> cortex::Result<Option<Grant>> {
    let command = Command::Token(TokenCommand::Check { token: Secret(token.to_owned()) });
    match service.session(command).await? {
        Outcome::Token(TokenOutcome::Checked(grant)) => Ok(grant),
        _ => Err(cortex::Error::Internal("a token check got another answer".into())),
    }
}

/// The bearer token of a request.
fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Who sends a request with these `headers`, if its token is valid and within its limits, and
/// the permit that holds its place among the token's calls under way.
async fn admit(
    gate: &Gate,
    headers: &axum::http::HeaderMap,
) -> Result<(Grant, tokio::sync::OwnedSemaphorePermit), Response> {
    let Some(token) = bearer(headers) else {
        return Err(refuse(
            gate,
            StatusCode::UNAUTHORIZED,
            Value::Null,
            "no bearer token: send \
            `Authorization: Bearer TOKEN` (`cortex token create` makes one)",
        ));
    };
    let grant = match check(gate.service.as_ref(), token).await {
        Ok(Some(grant)) => grant,
        Ok(None) => {
            return Err(refuse(
                gate,
                StatusCode::UNAUTHORIZED,
                Value::Null,
                "the token is not \
                valid (wrong, or revoked); `cortex token create` makes one",
            ));
        }
        Err(e) => {
            let message =
                format!("the store cannot check tokens now: {}", cortex::error::one_line(&e));
            return Err(refuse(gate, StatusCode::SERVICE_UNAVAILABLE, Value::Null, &message));
        }
    };
    if let Err(not_until) = gate.limiter.check_key(&grant.id) {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let message = format!(
            "over this token's limit of {} requests a second; retry after the time in Retry-After",
            gate.limits.per_second
        );
        return Err(too_many(gate, wait, &message));
    }
    let permits = gate
        .in_flight
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(grant.id.clone())
        .or_insert_with(|| Arc::new(Semaphore::new(gate.limits.in_flight as usize)))
        .clone();
    let Ok(permit) = permits.try_acquire_owned() else {
        let message = format!(
            "this token has {} requests under way already, its limit; retry when one is answered",
            gate.limits.in_flight
        );
        return Err(too_many(gate, Duration::from_secs(1), &message));
    };
    Ok((grant, permit))
}

/// The gate in front of every route (see the module's doc).
async fn authorize(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let (grant, permit) = match admit(&gate, request.headers()).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let (parts, body) = request.into_parts();
    let bytes = match http_body_util::Limited::new(body, BODY_MAX).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return refuse(
                &gate,
                StatusCode::PAYLOAD_TOO_LARGE,
                Value::Null,
                "the body is over 4 MiB",
            );
        }
        Err(_) => {
            return refuse(&gate, StatusCode::BAD_REQUEST, Value::Null, "the body was cut off");
        }
    };
    if let Ok(message) = serde_json::from_slice::<Value>(&bytes) {
        for (id, tool, args) in crate::scope::tool_calls(&message) {
            if let Err(why) = crate::scope::permits(&grant, &tool, &args) {
                return refuse(&gate, StatusCode::FORBIDDEN, id, &why);
            }
        }
    }
    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(grant);
    let response = next.run(request).await;
    // The call is in flight until its answer has been sent.
    let (parts, body) = response.into_parts();
    let body = body.map_frame(move |frame| {
        let _held = &permit;
        frame
    });
    Response::from_parts(parts, Body::new(body))
}
