//! The gate between stdin/stdout and rmcp: what rmcp would drop without an
//! answer, or answer wrongly, is answered here and the server goes on.

use std::sync::Arc;

use serde_json::Value;

/// The longest message read from stdin (rmcp's own limit).
const LINE_MAX: usize = 16 << 20;

/// Stands between stdin/stdout and rmcp (`ours` is the far end of rmcp's
/// pipe). A message rmcp would drop without an answer (not UTF-8, not
/// JSON, nested past serde_json's depth limit, over [`LINE_MAX`]) or answer
/// with the wrong error (`arguments` that are not an object) is answered
/// here, with the request's id whenever it can be read, and the server goes
/// on. When stdin ends, rmcp is told (it then stops and the process exits);
/// when stdout is gone (the client went away), so are we.
pub async fn gate(ours: tokio::io::DuplexStream) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let (from_server, mut to_server) = tokio::io::split(ours);
    let stdout = Arc::new(tokio::sync::Mutex::new(tokio::io::stdout()));
    let out = stdout.clone();
    let mut answers = tokio::spawn(async move {
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
    let client_gone = loop {
        let message = tokio::select! {
            message = read_message(&mut stdin) => message,
            _ = &mut answers => break true,
        };
        let Some(message) = message else { break false };
        match refusal(&message) {
            None => {
                if to_server.write_all(&message.bytes).await.is_err() {
                    break false;
                }
            }
            Some(Some(answer)) => {
                let mut out = stdout.lock().await;
                if out.write_all(answer.as_bytes()).await.is_err() || out.flush().await.is_err() {
                    break true;
                }
            }
            Some(None) => {}
        }
    };
    // rmcp sees the end of its input and stops. (Dropping one half of a
    // split stream would not close it: the other half keeps it open.)
    let _ = to_server.shutdown().await;
    drop(to_server);
    if client_gone {
        tracing::info!("the MCP client closed its end; stopping");
    } else {
        let _ = answers.await;
    }
}

/// One line from the client: its bytes (all of them, or the first
/// [`LINE_MAX`] if it was longer) and what a scan of the whole line found.
struct Message {
    bytes: Vec<u8>,
    oversize: bool,
    head: Head,
}

/// Reads the next line, never holding more than [`LINE_MAX`] bytes of it.
/// `None` at the end of input.
async fn read_message<R: tokio::io::AsyncBufRead + Unpin>(input: &mut R) -> Option<Message> {
    use tokio::io::AsyncBufReadExt;
    let mut message = Message { bytes: Vec::new(), oversize: false, head: Head::default() };
    let mut scan = Scanner::default();
    loop {
        let buf = match input.fill_buf().await {
            Ok(buf) => buf,
            Err(e) => {
                tracing::warn!("reading stdin: {e}");
                return None;
            }
        };
        if buf.is_empty() {
            return (!message.bytes.is_empty() || message.oversize).then(|| {
                message.head = scan.finish();
                message
            });
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (buf.len(), false),
        };
        scan.feed(&buf[..take]);
        let room = LINE_MAX.saturating_sub(message.bytes.len());
        if take > room {
            message.oversize = true;
        }
        message.bytes.extend_from_slice(&buf[..take.min(room)]);
        input.consume(take);
        if done {
            message.head = scan.finish();
            return Some(message);
        }
    }
}

/// What a scan of a message found at its top level, without parsing it
/// whole (it may be broken, too deep or too long to parse).
#[derive(Debug, Default, PartialEq)]
struct Head {
    /// The `id` member's value (a number, a string or null), as JSON.
    id: Option<Value>,
    /// The `method` member's value, if a string.
    method: Option<String>,
}

/// A byte-at-a-time scanner of JSON text that keeps the top-level `id` and
/// `method` members. Nesting is a counter, so no depth is too deep; bytes
/// kept per value are bounded.
#[derive(Default)]
struct Scanner {
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// The top-level string or scalar being read, and whether it is a key.
    token: Vec<u8>,
    reading: Option<Reading>,
    /// The last top-level key, while its value is read.
    key: Option<Vec<u8>>,
    head: Head,
}

#[derive(Clone, Copy, PartialEq)]
enum Reading {
    Key,
    Value,
}

/// Longest key or value kept: ids and method names are short.
const TOKEN_MAX: usize = 256;

impl Scanner {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    fn byte(&mut self, b: u8) {
        if self.in_string {
            if self.depth == 1 && self.token.len() < TOKEN_MAX {
                self.token.push(b);
            }
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
                if self.depth == 1 && self.reading == Some(Reading::Value) {
                    self.value_done();
                }
            }
            return;
        }
        match b {
            b'"' => {
                self.in_string = true;
                if self.depth == 1 {
                    self.token.clear();
                    self.token.push(b);
                    if self.reading.is_none() {
                        self.reading = Some(Reading::Key);
                    }
                }
            }
            b':' if self.depth == 1 && self.reading == Some(Reading::Key) => {
                self.key =
                    serde_json::from_slice::<String>(&self.token).ok().map(String::into_bytes);
                self.token.clear();
                self.reading = Some(Reading::Value);
            }
            b'{' | b'[' => {
                if self.depth == 1 && self.reading == Some(Reading::Value) {
                    self.key = None; // an object or array value: not an id
                    self.reading = None;
                }
                self.depth += 1;
            }
            b'}' | b']' => {
                if self.depth == 1 && self.reading == Some(Reading::Value) {
                    self.value_done();
                }
                self.depth = self.depth.saturating_sub(1);
            }
            b',' if self.depth == 1 => {
                if self.reading == Some(Reading::Value) {
                    self.value_done();
                }
                self.reading = None;
            }
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ if self.depth == 1
                && self.reading == Some(Reading::Value)
                && self.token.len() < TOKEN_MAX =>
            {
                self.token.push(b);
            }
            _ => {}
        }
    }

    /// A top-level value ended: keep it if its key is one we want.
    fn value_done(&mut self) {
        let value = serde_json::from_slice::<Value>(&self.token).ok();
        match (self.key.take().as_deref(), value) {
            (Some(b"id"), Some(v)) if v.is_number() || v.is_string() || v.is_null() => {
                self.head.id = Some(v);
            }
            (Some(b"method"), Some(Value::String(m))) => self.head.method = Some(m),
            _ => {}
        }
        self.token.clear();
        self.reading = None;
    }

    fn finish(self) -> Head {
        self.head
    }
}

/// `None` when `message` may go to rmcp; otherwise the answer to send back,
/// if it has an id to answer.
fn refusal(message: &Message) -> Option<Option<String>> {
    let line = &message.bytes;
    let head = &message.head;
    let (why, code) = if message.oversize {
        (format!("the message is over {LINE_MAX} bytes"), -32600)
    } else {
        match std::str::from_utf8(line) {
            Err(_) => {
                ("the message is not valid UTF-8 (JSON text must be UTF-8)".to_owned(), -32700)
            }
            Ok(text) if text.trim().is_empty() => return None,
            Ok(text) => match serde_json::from_str::<Value>(text) {
                Ok(parsed) => return bad_params(&parsed).map(Some),
                Err(e) => (format!("the message is not valid JSON ({e})"), -32700),
            },
        }
    };
    tracing::warn!("refused a message: {why}");
    let id = head.id.clone().unwrap_or(Value::Null);
    if id.is_null() && head.method.is_some() {
        return Some(None); // a notification: nothing to answer
    }
    let answer = if head.method.as_deref() == Some("tools/call") {
        let hint = match code {
            -32600 => "send less at once (write a large file in parts with edit_file)",
            _ => "send the arguments as UTF-8 JSON text",
        };
        serde_json::json!({ "jsonrpc": "2.0", "id": id, "result": {
            "content": [{ "type": "text", "text": format!("{why}; the call was not run: {hint}") }],
            "isError": true,
        }})
    } else {
        serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": why } })
    };
    Some(Some(format!("{answer}\n")))
}

/// The answer to a `tools/call` whose parameters are not of the form MCP
/// gives them (rmcp would answer "method not found"): -32602, invalid params.
fn bad_params(message: &Value) -> Option<String> {
    if message.get("method").and_then(Value::as_str) != Some("tools/call") {
        return None;
    }
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let params = message.get("params");
    let why = match params {
        Some(Value::Object(p)) => match (p.get("name"), p.get("arguments")) {
            (Some(Value::String(_)), None | Some(Value::Object(_) | Value::Null)) => return None,
            (Some(Value::String(_)), Some(other)) => format!(
                "`arguments` must be an object of the tool's parameters, not {}",
                json_kind(other)
            ),
            _ => "`name` must be the tool's name, a string".to_owned(),
        },
        _ => "`params` must be an object with the tool's `name` and `arguments`".to_owned(),
    };
    tracing::warn!("refused a tools/call: {why}");
    let answer = serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32602, "message": why } });
    Some(format!("{answer}\n"))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
