//! What a token may call: the scope check of the HTTP server, made on each
//! `tools/call` before it reaches a tool (a refusal is an HTTP 403 the
//! agent can act on) and again where the call runs.
//!
//! A token reaches one view: main, or its session.
//! - A read-only token calls only tools that change nothing.
//! - Only a merge token calls `merge` (a session token: its own session
//!   into main; a main token: any session).
//! - A session token names no other session (`session` arguments), and
//!   does not fork sessions (that is main's).
//!
//! Listing sessions and claims (`session_list`, `who_is_editing`) shows
//! every session's name to any token: names are not views.

use cortex::token::Grant;
use serde_json::{Map, Value};

use crate::tool::{Effect, catalogue};

/// Ok if `grant` lets its holder call `tool` with `args`; else why not,
/// and what to do about it.
pub fn permits(grant: &Grant, tool: &str, args: &Map<String, Value>) -> Result<(), String> {
    // An unknown tool is refused by the tool layer, with the list to use.
    let Some(spec) = catalogue().iter().find(|s| s.name == tool) else {
        return Ok(());
    };
    if grant.read_only && spec.effect != Effect::ReadOnly {
        return Err(format!(
            "this token is read-only and {tool} changes the tree; ask for a token made without \
             --read-only (`cortex token create`)"
        ));
    }
    if tool == "merge" && !grant.merge {
        return Err(
            "this token may not merge; ask for one made with `cortex token create --merge`"
                .to_owned(),
        );
    }
    let Some(own) = &grant.session else { return Ok(()) };
    if tool == "session_create" {
        return Err(format!(
            "this token reaches only session {own}; forking sessions takes a token for main"
        ));
    }
    match args.get("session") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(named)) if named == own.as_str() => Ok(()),
        Some(named) => Err(format!(
            "this token reaches only session {own}, not {}; leave `session` out or name {own}",
            short(named)
        )),
    }
}

/// A JSON value for a message, cut short.
fn short(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.chars().take(64).collect()
}

/// The tools/call requests of a JSON-RPC body (one message or a batch):
/// their ids, tool names and arguments. Anything else is passed over.
pub fn tool_calls(body: &Value) -> Vec<(Value, String, Map<String, Value>)> {
    let messages = match body {
        Value::Array(batch) => batch.iter().collect(),
        one => vec![one],
    };
    messages
        .into_iter()
        .filter(|m| m.get("method").and_then(Value::as_str) == Some("tools/call"))
        .filter_map(|m| {
            let params = m.get("params")?;
            let name = params.get("name")?.as_str()?.to_owned();
            let args = match params.get("arguments") {
                Some(Value::Object(args)) => args.clone(),
                _ => Map::new(),
            };
            Some((m.get("id").cloned().unwrap_or(Value::Null), name, args))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use cortex::ids::SessionName;
    use serde_json::json;

    use super::*;

    fn grant(session: Option<&str>, read_only: bool, merge: bool) -> Grant {
        Grant {
            id: "0123456789ab".into(),
            session: session.map(|s| SessionName::parse(s).unwrap()),
            read_only,
            merge,
        }
    }

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn each_refusal_names_what_to_do() {
        let none = Map::new();
        let ro = grant(None, true, false);
        assert!(permits(&ro, "read_file", &none).is_ok());
        assert!(permits(&ro, "search", &none).is_ok());
        for writer in ["write_file", "edit_file", "delete_path", "replace_unit", "claim", "merge"] {
            assert!(permits(&ro, writer, &none).unwrap_err().contains("read-only"), "{writer}");
        }
        let rw = grant(None, false, false);
        assert!(permits(&rw, "write_file", &none).is_ok());
        assert!(permits(&rw, "merge", &none).unwrap_err().contains("--merge"));
        assert!(permits(&rw, "merge_preview", &args(json!({"session": "x"}))).is_ok());
        let a = grant(Some("a"), false, true);
        assert!(permits(&a, "merge", &none).is_ok());
        assert!(permits(&a, "merge", &args(json!({"session": "a"}))).is_ok());
        let other = permits(&a, "merge", &args(json!({"session": "b"}))).unwrap_err();
        assert!(other.contains("only session a, not b"), "{other}");
        assert!(permits(&a, "diff", &args(json!({"session": 7}))).is_err());
        assert!(permits(&a, "session_create", &args(json!({"name": "c"}))).is_err());
        assert!(
            permits(&grant(None, false, true), "merge", &args(json!({"session": "b"}))).is_ok()
        );
    }

    #[test]
    fn tool_calls_are_found_in_batches_and_alone() {
        let one = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                         "params": {"name": "merge", "arguments": {"session": "b"}}});
        let calls = tool_calls(&one);
        assert_eq!(calls.len(), 1);
        assert_eq!((calls[0].0.clone(), calls[0].1.as_str()), (json!(3), "merge"));
        let batch = json!([{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, one,
                           {"method": "tools/call", "params": {"name": "x", "arguments": "nope"}}]);
        let calls = tool_calls(&batch);
        assert_eq!(calls.len(), 2);
        assert!(calls[1].2.is_empty());
        assert!(tool_calls(&json!("x")).is_empty());
    }
}
