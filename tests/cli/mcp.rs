//! `cortex mcp` driven by a real MCP client nobody here wrote: the Python
//! `mcp` package (installed by scripts/pyenv.sh, found through
//! CORTEX_PYTHON), running `tests/mcp/client.py` against the server over
//! stdio. The script checks each answer and fails with the first wrong one.

use std::path::Path;
use std::process::Command;

use super::{copy_tree, ok, registry_crate};
use crate::cli::mount::Mounted;

/// Runs a client scenario in `tree`; panics with its output if it fails.
fn client(tree: &Path, scenario: &[&str]) -> String {
    client_of(tree, None, scenario)
}

/// [`client`], over HTTP to the server at `url` when one is given.
fn client_of(tree: &Path, url: Option<&str>, scenario: &[&str]) -> String {
    client_with(tree, url, &[], scenario)
}

/// [`client_of`], with `env` added to the client's environment (and so to
/// the `cortex` it starts): a store on a SurrealDB server, for one.
pub(super) fn client_with(
    tree: &Path,
    url: Option<&str>,
    env: &[(String, String)],
    scenario: &[&str],
) -> String {
    let python = std::env::var("CORTEX_PYTHON").expect(
        "CORTEX_PYTHON names a python with the `mcp` package; scripts/test.sh sets it (scripts/pyenv.sh)",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let want = serde_json::json!({
        "unit": "src/eval.rs::matches_caret",
        "caller": "src/eval.rs::matches_impl",
        "file": "src/eval.rs",
        "query": "caret",
        "hit": "src/eval.rs::matches_caret",
    });
    let mut command = Command::new(python);
    command
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_cortex"))
        .arg(tree)
        .args(scenario)
        .env("CORTEX_MCP_WANT", want.to_string())
        .env_remove("CORTEX_STORE")
        .envs(env.iter().map(|(k, v)| (k, v)));
    match url {
        Some(url) => command.env("CORTEX_MCP_HTTP", url),
        None => command.env_remove("CORTEX_MCP_HTTP"),
    };
    let out = command.output().expect("run the MCP client");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "client.py {scenario:?} failed:\n{text}");
    text
}

/// A real crate (semver 1.0.28) imported, with a binary file and a symlink
/// that points out of the tree.
fn semver_tree(root: &Path) -> std::path::PathBuf {
    let tree = semver_copy(root);
    ok(&tree, &["init", "."]);
    tree
}

/// [`semver_tree`]'s files, not yet imported, at `root/tree`.
pub(super) fn semver_copy(root: &Path) -> std::path::PathBuf {
    let tree = root.join("tree");
    copy_tree(&registry_crate("semver-1.0.28"), &tree);
    std::fs::write(tree.join("data.bin"), [0u8, 159, 146, 150, 0, 1]).unwrap();
    std::os::unix::fs::symlink("/etc", tree.join("link_out")).unwrap();
    tree
}

/// `tree` mounted at `dir/mnt`, unmounted when the guard drops.
fn mounted(dir: &Path, tree: &Path) -> (std::path::PathBuf, Unmount) {
    let mnt = dir.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    ok(tree, &["mount", mnt.to_str().unwrap()]);
    (mnt.clone(), Unmount(tree.to_owned(), mnt))
}

#[test]
fn every_tool_on_a_real_tree_with_writes_seen_through_a_mount() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = semver_tree(tmp.path());
    let (mnt, _unmount) = mounted(tmp.path(), &tree);
    let out = client(&tree, &["tools", mnt.to_str().unwrap()]);
    assert!(out.contains("tools: ok"), "{out}");
    // What the tools wrote is in the store, not only in the daemon's view.
    ok(&tree, &["umount", mnt.to_str().unwrap()]);
    assert_eq!(ok(&tree, &["cat", "src/extra.rs"]), "pub fn from_the_mount() -> u8 {\n    9\n}\n");
}

#[test]
fn hostile_arguments_are_tool_errors_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = semver_tree(tmp.path());
    let before = ok(&tree, &["log", "--json"]);
    let out = client(&tree, &["hostile"]);
    assert!(out.contains("calls refused, tree unchanged"), "{out}");
    wait_for_daemon_exit(&tree);
    assert_eq!(ok(&tree, &["log", "--json"]), before, "main moved under hostile input");
}

#[test]
fn an_agents_notes_and_merge_message_reach_the_next_agent_and_follow_a_rename() {
    let m = Mounted::new(&[(
        "src/shapes.rs",
        "pub fn area(w: u32, h: u32) -> u32 {\n    w * h\n}\n\npub fn perimeter(w: u32, h: u32) -> u32 {\n    2 * (w + h)\n}\n",
    )]);
    let out = client(&m.tree, &["memory", "mem-a", "mem-b"]);
    assert!(out.contains("memory: ok"), "{out}");
    // A rename through main's mount: the notes follow the unit.
    std::fs::create_dir_all(m.mnt.join("src/geometry")).unwrap();
    std::fs::rename(m.mnt.join("src/shapes.rs"), m.mnt.join("src/geometry/shapes.rs")).unwrap();
    let listed = ok(&m.tree, &["note", "list", "--unit", "src/geometry/shapes.rs::area", "--json"]);
    let notes: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let notes = notes.as_array().expect("a list of notes");
    assert!(notes.iter().any(|n| n["text"].as_str().unwrap().contains("saturates")), "{listed}");
    assert!(notes.iter().all(|n| n["orphaned"] == false), "{listed}");
}

#[test]
fn two_agents_on_two_sessions_merge_cleanly_and_conflict_where_expected() {
    let m = Mounted::new(&[
        (
            "src/shapes.rs",
            "pub fn area(w: u32, h: u32) -> u32 {\n    w * h\n}\n\npub fn perimeter(w: u32, h: u32) -> u32 {\n    2 * (w + h)\n}\n",
        ),
        ("src/units.rs", "pub fn to_millis(x: u64) -> u64 {\n    x * 1000\n}\n"),
    ]);
    let out = client(&m.tree, &["agents", "agent-a", "agent-b"]);
    assert!(out.contains("agents: ok"), "{out}");
    // main's mount shows the merge of agent-a at once.
    assert!(
        std::fs::read_to_string(m.mnt.join("src/shapes.rs")).unwrap().contains("saturating_mul(h)")
    );
}

struct Unmount(std::path::PathBuf, std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = super::cortex(&self.0, &["umount", self.1.to_str().unwrap()]);
    }
}

/// The daemon started for an MCP server exits once the server is gone
/// (its socket goes last, after the store is closed).
fn wait_for_daemon_exit(tree: &Path) {
    let socket = tree.join(".cortex/mountd.sock");
    for _ in 0..300 {
        if !socket.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the daemon an MCP server started is still running after it left");
}

/// A `cortex mcp` in a small initialised tree, driven by hand over its
/// pipes, the MCP handshake (initialize, initialized) already sent.
fn raw_server(
    tree: &Path,
) -> (std::process::Child, std::process::ChildStdin, std::io::BufReader<std::process::ChildStdout>)
{
    crate::common::write(tree, "src/lib.rs", b"pub fn one() -> u32 { 1 }\n");
    ok(tree, &["init", "."]);
    raw_server_started(tree)
}

/// `raw_server` in a tree already initialised.
fn raw_server_started(
    tree: &Path,
) -> (std::process::Child, std::process::ChildStdin, std::io::BufReader<std::process::ChildStdout>)
{
    let mut server = super::command(tree, &["mcp"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = server.stdin.take().unwrap();
    let output = std::io::BufReader::new(server.stdout.take().unwrap());
    send_line(&mut input, br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#);
    send_line(&mut input, br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    (server, input, output)
}

/// One message (a line) to a server.
fn send_line(input: &mut std::process::ChildStdin, bytes: &[u8]) {
    use std::io::Write;
    input.write_all(bytes).unwrap();
    input.write_all(b"\n").unwrap();
    input.flush().unwrap();
}

/// Bytes no MCP client library will send: invalid UTF-8 and a lone
/// surrogate inside a tool call's arguments, and a line that is not JSON.
/// Each is answered (a tool error for a call) and the server goes on.
#[test]
fn invalid_utf8_and_broken_json_are_answered_and_the_server_goes_on() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let (mut server, mut input, mut output) = raw_server(tmp.path());
    let mut send = |bytes: &[u8]| send_line(&mut input, bytes);
    send(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"read_file\",\"arguments\":{\"path\":\"src/\xff\xfe.rs\"}}}");
    send(br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"a\ud800.rs","content":"x"}}}"#);
    send(br#"{"jsonrpc":"2.0","id":4,"method":"tools/list""#);
    send(br#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"src/lib.rs"}}}"#);
    let mut answers = std::collections::BTreeMap::new();
    let mut line = String::new();
    while answers.len() < 5 {
        line.clear();
        assert!(
            output.read_line(&mut line).unwrap() > 0,
            "the server stopped; answers so far: {answers:?}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        answers.insert(v["id"].as_u64().expect("every answer carries its request's id"), v);
    }
    for id in [2, 3] {
        assert_eq!(answers[&id]["result"]["isError"], true, "{:?}", answers[&id]);
        let text = answers[&id]["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("the call was not run"), "{text}");
    }
    assert!(answers[&2]["result"]["content"][0]["text"].as_str().unwrap().contains("UTF-8"));
    // Even a line that is not JSON is answered with its id when it has one.
    assert_eq!(answers[&4]["error"]["code"], -32700, "{:?}", answers[&4]);
    assert_eq!(
        answers[&5]["result"]["structuredContent"]["content"],
        "pub fn one() -> u32 { 1 }\n"
    );
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(ok(tmp.path(), &["ls", "--json"]).matches("a\u{fffd}").count(), 0);
}

#[test]
fn a_server_on_a_session_that_does_not_exist_says_so_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    crate::common::write(tmp.path(), "a.txt", b"a\n");
    ok(tmp.path(), &["init", "."]);
    let err = super::fails(tmp.path(), &["mcp", "--session", "nosuch"]);
    assert!(err.contains("no session named nosuch") && err.contains("session new"), "{err}");
    let err = super::fails(tmp.path(), &["mcp", "--session", "Bad Name"]);
    assert!(err.contains("session name"), "{err}");
    wait_for_daemon_exit(tmp.path());
}

/// A server started while the last daemon is on its way out (no longer
/// answering, its store not yet closed: on a big store, for a second or
/// more) waits for it to go and starts the next one, rather than fail on a
/// store in use. The leaving daemon here is a process holding the store's
/// lock under a daemon's name for a second.
#[test]
fn a_server_started_as_the_last_daemon_leaves_gets_a_daemon() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    crate::common::write(tmp.path(), "src/lib.rs", b"pub fn one() -> u32 { 1 }\n");
    ok(tmp.path(), &["init", "."]);
    let lock = tmp.path().join(".cortex/lock");
    let mut leaving = std::process::Command::new("flock")
        .arg("-x")
        .arg(&lock)
        .args(["sleep", "1.5"])
        .spawn()
        .unwrap();
    let held = || {
        !std::process::Command::new("flock")
            .args(["-n", "-x"])
            .arg(&lock)
            .arg("true")
            .status()
            .unwrap()
            .success()
    };
    while !held() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::fs::write(&lock, format!("{}\ncortex-mountd --store .cortex\n", leaving.id())).unwrap();
    let (mut server, mut input, mut output) = raw_server_started(tmp.path());
    send_line(&mut input, br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"src/lib.rs"}}}"#);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(output.read_line(&mut line).unwrap() > 0, "the server stopped");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["id"] == 2 {
            assert_eq!(v["result"]["structuredContent"]["content"], "pub fn one() -> u32 { 1 }\n");
            break;
        }
    }
    assert!(leaving.wait().unwrap().success());
    drop(input);
    assert!(server.wait().unwrap().success());
    wait_for_daemon_exit(tmp.path());
}

/// `cortex mcp` ends when its input does (the client closed it), and lets
/// go of the daemon it started: nothing stays attached to the store.
#[test]
fn the_server_exits_when_its_input_closes() {
    let tmp = tempfile::tempdir().unwrap();
    crate::common::write(tmp.path(), "src/lib.rs", b"pub fn one() -> u32 { 1 }\n");
    ok(tmp.path(), &["init", "."]);
    let mut server = super::command(tmp.path(), &["mcp"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Generous: this is about ending at all, not about how fast.
    let mut status = None;
    for _ in 0..1200 {
        if let Some(s) = server.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let Some(status) = status else {
        server.kill().unwrap();
        panic!("cortex mcp </dev/null did not exit");
    };
    assert!(status.success(), "{status}");
    wait_for_daemon_exit(tmp.path());
}

/// Messages rmcp cannot read are answered with their own id, so the client
/// is not left waiting: one over the size limit (its id at the very end),
/// one nested past the parser's depth, and a tools/call whose arguments
/// are not an object (-32602, invalid params).
#[test]
fn refusals_carry_the_request_id() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let (mut server, mut input, mut output) = raw_server(tmp.path());
    let mut send = |bytes: &[u8]| send_line(&mut input, bytes);
    let big = "x".repeat(17 << 20);
    send(format!(r#"{{"jsonrpc":"2.0","method":"tools/call","params":{{"name":"write_file","arguments":{{"path":"a","content":"{big}"}}}},"id":"big-one"}}"#).as_bytes());
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    send(
        format!(r#"{{"jsonrpc":"2.0","method":"tools/list","params":{{"x":{deep}}},"id":77}}"#)
            .as_bytes(),
    );
    send(br#"{"jsonrpc":"2.0","id":78,"method":"tools/call","params":{"name":"read_file","arguments":"src/lib.rs"}}"#);
    send(br#"{"jsonrpc":"2.0","id":79,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"src/lib.rs"}}}"#);
    let mut answers = std::collections::BTreeMap::new();
    let mut line = String::new();
    while answers.len() < 5 {
        line.clear();
        assert!(output.read_line(&mut line).unwrap() > 0, "the server stopped: {answers:?}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        answers.insert(v["id"].to_string(), v);
    }
    assert!(!answers.contains_key("null"), "an answer without its id: {answers:?}");
    let big = &answers["\"big-one\""];
    assert_eq!(big["result"]["isError"], true, "{big}");
    assert!(big["result"]["content"][0]["text"].as_str().unwrap().contains("over"), "{big}");
    assert!(answers["77"]["error"]["code"].is_i64(), "{:?}", answers["77"]);
    assert_eq!(answers["78"]["error"]["code"], -32602, "{:?}", answers["78"]);
    assert_eq!(
        answers["79"]["result"]["structuredContent"]["content"],
        "pub fn one() -> u32 { 1 }\n"
    );
    drop(input);
    assert!(server.wait().unwrap().success());
}

/// `cortex mcp --http` on a free loopback port of `tree`, stopped (SIGTERM)
/// when dropped.
struct HttpServer {
    child: std::process::Child,
    url: String,
}

impl HttpServer {
    fn start(tree: &Path, extra: &[&str]) -> HttpServer {
        use std::io::BufRead;
        let mut child = super::command(tree, &["mcp", "--http", "127.0.0.1:0"])
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start cortex mcp --http");
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = String::new();
        let url = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!("cortex mcp --http stopped before serving:\n{seen}");
            };
            if let Some(rest) = line.split("serving ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            seen.push_str(&line);
            seen.push('\n');
        };
        // Its later logs are drained, so that a full pipe never stops it.
        std::thread::spawn(move || {
            lines.for_each(|l| eprintln!("[mcp --http] {}", l.unwrap_or_default()))
        });
        HttpServer { child, url }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

#[test]
fn every_tool_over_http_with_a_token_per_client() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = semver_tree(tmp.path());
    let (mnt, _unmount) = mounted(tmp.path(), &tree);
    let server = HttpServer::start(&tree, &[]);
    let out = client_of(&tree, Some(&server.url), &["tools", mnt.to_str().unwrap()]);
    assert!(out.contains("tools: ok"), "{out}");
}

#[test]
fn hostile_arguments_over_http_are_refused_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = semver_tree(tmp.path());
    // Many calls in a second: the rate limit has its own test.
    let server = HttpServer::start(&tree, &["--rate-limit", "10000", "--burst", "10000"]);
    let before = ok(&tree, &["log", "--json"]);
    let out = client_of(&tree, Some(&server.url), &["hostile"]);
    assert!(out.contains("calls refused, tree unchanged"), "{out}");
    assert_eq!(ok(&tree, &["log", "--json"]), before, "main moved under hostile input");
}

#[test]
fn tokens_reach_only_their_scope_and_metrics_count() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = semver_tree(tmp.path());
    let (mnt, _unmount) = mounted(tmp.path(), &tree);
    // FUSE traffic for the daemon's series.
    std::fs::read_to_string(mnt.join("src/lib.rs")).unwrap();
    std::fs::write(mnt.join("NOTES.md"), "through the mount\n").unwrap();
    let server = HttpServer::start(&tree, &[]);
    let out = client_of(&tree, Some(&server.url), &["tokens"]);
    assert!(out.contains("nothing changed; metrics counted"), "{out}");
    // The secrets are nowhere in the store's files.
    let listed = ok(&tree, &["token", "list", "--json"]);
    let ids: Vec<serde_json::Value> = serde_json::from_str(&listed).unwrap();
    assert!(ids.len() >= 4, "{listed}");
    // `cortex stats` shows the same series to a person.
    let stats: serde_json::Value = serde_json::from_str(&ok(&tree, &["stats", "--json"])).unwrap();
    assert_eq!(stats["daemon"], true);
    let fuse = stats["stats"]["fuse"].as_array().unwrap();
    assert!(
        fuse.iter().any(|t| t["name"] == "lookup" && t["count"].as_u64().unwrap() > 0),
        "{stats}"
    );
    assert!(stats["stats"]["resident_bytes"].as_u64().unwrap() > 1 << 20);
    let table = ok(&tree, &["stats"]);
    assert!(table.contains("FUSE operation") && table.contains("resident memory"), "{table}");
}

#[test]
fn a_burst_over_the_rate_limit_gets_429s_and_others_are_served() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = semver_tree(tmp.path());
    let server = HttpServer::start(&tree, &["--rate-limit", "5", "--burst", "5"]);
    let out = client_of(&tree, Some(&server.url), &["ratelimit"]);
    assert!(out.contains("limited, the other token served"), "{out}");
}

#[test]
fn http_stays_on_loopback_and_tokens_need_a_real_session() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = semver_tree(tmp.path());
    let e = super::fails(&tree, &["mcp", "--http", "0.0.0.0:0"]);
    assert!(e.contains("--allow-remote"), "{e}");
    let e = super::fails(&tree, &["mcp", "--http", "127.0.0.1:0", "--session", "x"]);
    assert!(e.contains("--session"), "{e}");
    let e = super::fails(&tree, &["token", "create", "--session", "nosuch"]);
    assert!(e.contains("no session named nosuch"), "{e}");
    let e = super::fails(&tree, &["token", "revoke", "0123456789ab"]);
    assert!(e.contains("no token"), "{e}");
    let token = ok(&tree, &["token", "create", "--read-only"]);
    assert!(
        token.trim().starts_with("cortex_") && token.trim().len() == 7 + 12 + 1 + 64,
        "{token}"
    );
    let listed = ok(&tree, &["token", "list"]);
    assert!(listed.contains("read-only") && !listed.contains(token.trim()), "{listed}");
    let store = walk_bytes(&tree.join(".cortex"));
    let secret = token.trim().rsplit('_').next().unwrap();
    assert!(
        !store.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is in the store"
    );
}

/// Every byte of every file under `dir`.
fn walk_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            all.extend(walk_bytes(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            all.extend(bytes);
        }
    }
    all
}
