//! A store on a real SurrealDB server (`cortex-surreal`, the `surreal`
//! binary's entry point, on the loopback interface with credentials made
//! up per test and passed by environment only): mounted with git working
//! in it, sessions merged, and two daemons, as two machines would run
//! them, serving mounts of the one store.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::command;

/// A server of this test's own; killed on drop.
struct Server {
    child: Child,
    url: String,
    user: String,
    pass: String,
    port: u16,
    storage: String,
    /// The certificate and key it serves wss:// with, if any.
    tls: Option<(PathBuf, PathBuf)>,
    _data: tempfile::TempDir,
}

impl Server {
    fn start(storage: &str) -> Server {
        Server::start_with(storage, None)
    }

    /// [`Server::start`], serving wss:// with `tls` (certificate, key).
    fn start_with(storage: &str, tls: Option<(PathBuf, PathBuf)>) -> Server {
        let data = tempfile::tempdir().unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let nonce = format!("{}{}", std::process::id(), port);
        let (user, pass) =
            (format!("root{nonce}"), format!("pw-{nonce}-{}", u64::from(port) * 7919));
        let storage = match storage {
            "surrealkv" => format!("surrealkv://{}", data.path().join("db").display()),
            other => other.to_owned(),
        };
        let child = spawn(&storage, port, &user, &pass, tls.as_ref());
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        let url = format!("{scheme}://127.0.0.1:{port}");
        Server { child, url, user, pass, port, storage, tls, _data: data }
    }

    /// Kills the server with SIGKILL: nothing it had not written survives.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Starts it again on the same port, data and credentials.
    fn restart(&mut self) {
        self.child = spawn(&self.storage, self.port, &self.user, &self.pass, self.tls.as_ref());
    }

    /// `cortex --store URL/DB ARGS`, as the daemon of `runtime` (one
    /// machine's runtime directory) sees it.
    fn cortex(&self, db: &str, runtime: &Path, cwd: &Path, args: &[&str]) -> Output {
        command(cwd, args).envs(self.env(db, runtime)).output().unwrap()
    }

    /// What names store `db` of this server to a cortex of the machine
    /// whose runtime directory is `runtime`: environment only.
    fn env(&self, db: &str, runtime: &Path) -> Vec<(String, String)> {
        let mut env = vec![
            ("CORTEX_STORE".to_owned(), format!("{}/{db}", self.url)),
            ("CORTEX_DB_USER".to_owned(), self.user.clone()),
            ("CORTEX_DB_PASS".to_owned(), self.pass.clone()),
            ("CORTEX_RUNTIME_DIR".to_owned(), runtime.display().to_string()),
            // A server gone is an error after 3 s, not 30 (the daemon
            // started by a command inherits it).
            ("CORTEX_DB_TIMEOUT".to_owned(), "3".to_owned()),
        ];
        if let Some((certificate, _)) = &self.tls {
            // Signed by the test's own authority, trusted through this.
            let ca = certificate.with_file_name("ca.pem");
            env.push(("CORTEX_DB_CA".to_owned(), ca.display().to_string()));
        }
        env
    }

    fn ok(&self, db: &str, runtime: &Path, cwd: &Path, args: &[&str]) -> String {
        let out = self.cortex(db, runtime, cwd, args);
        assert!(
            out.status.success(),
            "cortex {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cortex-surreal start STORAGE` on 127.0.0.1:PORT (wss:// with
/// `tls`, a certificate and its key); waits until it listens.
fn spawn(
    storage: &str,
    port: u16,
    user: &str,
    pass: &str,
    tls: Option<&(PathBuf, PathBuf)>,
) -> Child {
    let binary = Path::new(env!("CARGO_BIN_EXE_cortex")).with_file_name("cortex-surreal");
    let mut command = Command::new(&binary);
    if let Some((certificate, key)) = tls {
        command.env("SURREAL_WEB_CRT", certificate).env("SURREAL_WEB_KEY", key);
    }
    let child = command
        .args(["start", storage])
        .env("SURREAL_USER", user)
        .env("SURREAL_PASS", pass)
        .env("SURREAL_BIND", format!("127.0.0.1:{port}"))
        .env("SURREAL_NO_BANNER", "true")
        .env("SURREAL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e} (cargo build --workspace)", binary.display()));
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("bash").args(["-euc", script]).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Mountpoints and runtime directories, unmounted on drop.
struct Machines {
    tmp: tempfile::TempDir,
    mounts: Vec<(PathBuf, PathBuf)>,
}

impl Machines {
    fn new() -> Machines {
        Machines { tmp: tempfile::tempdir().unwrap(), mounts: vec![] }
    }

    fn dir(&self, name: &str) -> PathBuf {
        let dir = self.tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn mount(&mut self, server: &Server, db: &str, machine: &str, extra: &[&str]) -> PathBuf {
        let runtime = self.dir(&format!("run-{machine}"));
        let mnt = self.dir(&format!("mnt-{machine}-{}", self.mounts.len()));
        let mut args = vec!["mount", mnt.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = server.ok(db, &runtime, self.tmp.path(), &args);
        assert!(out.contains("mounted"), "{out}");
        self.mounts.push((mnt.clone(), runtime));
        mnt
    }
}

impl Drop for Machines {
    fn drop(&mut self) {
        for (mnt, _) in self.mounts.iter().rev() {
            let _ = Command::new("fusermount3").arg("-uz").arg(mnt).stderr(Stdio::null()).status();
        }
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(30), "{what}: not within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

#[test]
fn a_store_on_a_server_is_mounted_used_by_git_and_merged() {
    let server = Server::start("memory");
    let mut m = Machines::new();
    let tree = m.dir("tree");
    std::fs::write(tree.join("lib.rs"), "pub fn one() -> u32 {\n    1\n}\n").unwrap();
    let runtime = m.dir("run-a");
    server.ok("team", &runtime, &tree, &["init", tree.to_str().unwrap()]);
    assert_eq!(
        server.ok("team", &runtime, &tree, &["cat", "lib.rs"]),
        "pub fn one() -> u32 {\n    1\n}\n"
    );

    let mnt = m.mount(&server, "team", "a", &[]);
    let log = sh(
        &mnt,
        "git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm one \
         && echo 'pub fn two() {}' >> lib.rs && git status --porcelain && git log --oneline | wc -l",
    );
    assert_eq!(log, " M lib.rs\n1\n");
    // A session on the same server, mounted by the same daemon, merged.
    let s = m.mount(&server, "team", "a", &["--session", "agent", "--create"]);
    std::fs::write(s.join("new.rs"), "pub fn new() {}\n").unwrap();
    server.ok("team", &runtime, m.tmp.path(), &["umount", s.to_str().unwrap()]);
    let merged = server.ok("team", &runtime, m.tmp.path(), &["merge", "agent"]);
    assert!(merged.contains("taken   new.rs"), "{merged}");
    wait_until("the merge shows in main's mount", || mnt.join("new.rs").exists());
    let units = server.ok("team", &runtime, m.tmp.path(), &["units", "new.rs"]);
    assert!(units.contains("new"), "{units}");
    // Another database of the same server is another store.
    let other = server.cortex("other", &m.dir("run-b"), m.tmp.path(), &["cat", "lib.rs"]);
    assert!(!other.status.success());
}

#[test]
fn two_daemons_on_one_store_see_each_others_writes() {
    let server = Server::start("surrealkv");
    let mut m = Machines::new();
    let tree = m.dir("tree");
    std::fs::write(tree.join("a.txt"), "one\n").unwrap();
    server.ok("shared", &m.dir("run-a"), &tree, &["init", tree.to_str().unwrap()]);
    let a = m.mount(&server, "shared", "a", &[]);
    let b = m.mount(&server, "shared", "b", &[]);
    let (run_a, run_b) = (m.dir("run-a"), m.dir("run-b"));
    // Two daemons: each runtime directory has its own.
    let pid = |run: &Path| {
        let status = server.ok("shared", run, m.tmp.path(), &["status", "--json"]);
        serde_json::from_str::<serde_json::Value>(&status).unwrap()["daemon_pid"].clone()
    };
    assert_ne!(pid(&run_a), pid(&run_b));

    std::fs::write(a.join("from-a.txt"), "written on a\n").unwrap();
    sh(&a, "sync from-a.txt");
    wait_until("a's write reaches b's mount", || {
        std::fs::read_to_string(b.join("from-a.txt")).is_ok_and(|t| t == "written on a\n")
    });
    std::fs::write(b.join("a.txt"), "changed on b\n").unwrap();
    sh(&b, "sync a.txt");
    wait_until("b's change reaches a's mount", || {
        std::fs::read_to_string(a.join("a.txt")).is_ok_and(|t| t == "changed on b\n")
    });
    // Sessions made through either daemon are everyone's.
    server.ok("shared", &run_a, m.tmp.path(), &["session", "new", "from-a"]);
    server.ok("shared", &run_b, m.tmp.path(), &["session", "new", "from-b"]);
    let list = server.ok("shared", &run_a, m.tmp.path(), &["session", "list"]);
    assert!(list.contains("from-a") && list.contains("from-b"), "{list}");
    // Claims made through one daemon are seen through the other.
    server.ok("shared", &run_a, m.tmp.path(), &["claim", "from-a", "a.txt"]);
    server.ok("shared", &run_b, m.tmp.path(), &["claim", "from-b", "from-a.txt"]);
    for run in [&run_a, &run_b] {
        let who = server.ok("shared", run, m.tmp.path(), &["who"]);
        assert!(who.contains("from-a") && who.contains("from-b"), "{who}");
        assert!(who.contains("a.txt") && who.contains("from-a.txt"), "{who}");
    }
}

#[test]
fn wrong_credentials_and_a_dead_server_are_one_clear_line() {
    let server = Server::start("memory");
    let m = Machines::new();
    let run = m.dir("run");
    let store = format!("{}/db", server.url);
    let out = command(m.tmp.path(), &["--store", &store, "ls"])
        .env("CORTEX_DB_USER", &server.user)
        .env("CORTEX_DB_PASS", "not-the-password")
        .env("CORTEX_RUNTIME_DIR", &run)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.trim_end().lines().count() == 1, "{err}");
    assert!(err.contains("sign in") && !err.contains("not-the-password"), "{err}");
    drop(server);
    let out = command(m.tmp.path(), &["--store", &store, "ls"])
        .env("CORTEX_RUNTIME_DIR", &run)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.trim_end().lines().count() == 1, "{err}");
    assert!(err.contains("127.0.0.1"), "{err}");
}

#[test]
fn a_server_killed_under_a_mount_loses_nothing_committed_and_is_found_again() {
    let mut server = Server::start("surrealkv");
    let mut m = Machines::new();
    let tree = m.dir("tree");
    std::fs::write(tree.join("a.txt"), "one\n").unwrap();
    let run = m.dir("run-a");
    server.ok("crash", &run, &tree, &["init", tree.to_str().unwrap()]);
    let mnt = m.mount(&server, "crash", "a", &[]);
    std::fs::write(mnt.join("kept.txt"), "fsynced before the kill\n").unwrap();
    sh(&mnt, "sync kept.txt");

    server.kill();
    // A read the mount cannot answer from memory is EIO, not a hang (the
    // query gives up after CORTEX_DB_TIMEOUT); a command is one clear line.
    match std::fs::read_to_string(mnt.join("a.txt")) {
        Ok(text) => assert_eq!(text, "one\n"),
        Err(e) => assert_eq!(e.raw_os_error(), Some(5), "{e}"),
    }
    let out = server.cortex("crash", &run, m.tmp.path(), &["log"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.trim_end().lines().count() == 1, "{err}");
    assert_eq!(err.matches("did not answer").count(), 1, "said once: {err}");
    // A write meanwhile: refused at fsync, or kept by the mount for later.
    let during = std::fs::write(mnt.join("during.txt"), "written while down\n")
        .and_then(|()| std::fs::File::open(mnt.join("during.txt"))?.sync_all());

    server.restart();
    // The daemon finds the server again: a new write lands.
    wait_until("a write after the restart lands", || {
        std::fs::write(mnt.join("after.txt"), "after\n").is_ok()
            && std::fs::File::open(mnt.join("after.txt")).and_then(|f| f.sync_all()).is_ok()
            && server.cortex("crash", &run, m.tmp.path(), &["cat", "after.txt"]).status.success()
    });
    assert_eq!(
        server.ok("crash", &run, m.tmp.path(), &["cat", "kept.txt"]),
        "fsynced before the kill\n"
    );
    assert_eq!(std::fs::read_to_string(mnt.join("a.txt")).unwrap(), "one\n");
    if during.is_ok() {
        // fsync said yes: it must be in the store.
        assert_eq!(
            server.ok("crash", &run, m.tmp.path(), &["cat", "during.txt"]),
            "written while down\n"
        );
    }
}

/// A certificate authority of the test's own and a certificate for
/// 127.0.0.1 it signed, made by openssl in `dir`: (certificate, key); the
/// authority is `dir/ca.pem`.
fn certificates(dir: &Path) -> (PathBuf, PathBuf) {
    sh(
        dir,
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
           -keyout ca.key -out ca.pem -subj '/CN=cortex test authority' 2>/dev/null
         openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
           -keyout key.pem -out server.csr -subj '/CN=127.0.0.1' 2>/dev/null
         printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext
         openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
           -extfile ext -out server.pem 2>/dev/null",
    );
    (dir.join("server.pem"), dir.join("key.pem"))
}

#[test]
fn a_wss_server_is_trusted_through_cortex_db_ca_and_otherwise_refused_in_one_line() {
    let mut m = Machines::new();
    let server = Server::start_with("memory", Some(certificates(&m.dir("tls"))));
    let tree = m.dir("tree");
    std::fs::write(tree.join("a.txt"), "over tls\n").unwrap();
    let run = m.dir("run-a");
    // Not trusted: the public roots do not know the test's authority.
    let untrusted: Vec<_> =
        server.env("tls", &run).into_iter().filter(|(k, _)| k != "CORTEX_DB_CA").collect();
    let out = command(&tree, &["init", "."]).envs(untrusted).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.trim_end().lines().count() == 1, "{err}");
    assert!(err.contains("not trusted") && err.contains("CORTEX_DB_CA"), "{err}");
    assert!(!err.contains(&server.pass), "{err}");
    // An authority file with no certificate in it is refused as such.
    let not_ca: Vec<_> = server
        .env("tls", &run)
        .into_iter()
        .map(|(k, v)| {
            if k == "CORTEX_DB_CA" {
                (k, m.dir("tls").join("ext").display().to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    let out = command(&tree, &["ls"]).envs(not_ca).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("no certificate"), "{err}");
    // Trusted through CORTEX_DB_CA: imported, and mounted by a daemon that
    // inherits it.
    server.ok("tls", &run, &tree, &["init", "."]);
    let mnt = m.mount(&server, "tls", "a", &[]);
    assert_eq!(std::fs::read_to_string(mnt.join("a.txt")).unwrap(), "over tls\n");
    std::fs::write(mnt.join("b.txt"), "back over tls\n").unwrap();
    sh(&mnt, "sync b.txt");
    assert_eq!(server.ok("tls", &run, m.tmp.path(), &["cat", "b.txt"]), "back over tls\n");
}

#[test]
fn every_mcp_tool_on_a_store_on_a_server() {
    let server = Server::start("memory");
    let mut m = Machines::new();
    let tree = super::mcp::semver_copy(m.tmp.path());
    let run = m.dir("run-a");
    server.ok("mcp", &run, &tree, &["init", "."]);
    let mnt = m.mount(&server, "mcp", "a", &[]);
    let env = server.env("mcp", &run);
    let out = super::mcp::client_with(&tree, None, &env, &["tools", mnt.to_str().unwrap()]);
    assert!(out.contains("tools: ok"), "{out}");
    // What the tools wrote is on the server, not only in the daemon's view.
    server.ok("mcp", &run, m.tmp.path(), &["umount", mnt.to_str().unwrap()]);
    assert_eq!(
        server.ok("mcp", &run, m.tmp.path(), &["cat", "src/extra.rs"]),
        "pub fn from_the_mount() -> u8 {\n    9\n}\n"
    );
}

#[test]
fn kill_9_of_the_daemon_of_a_server_store_loses_nothing_fsynced() {
    let server = Server::start("surrealkv");
    let m = Machines::new();
    let tree = m.dir("tree");
    std::fs::write(tree.join("README"), "base\n").unwrap();
    let run = m.dir("run-a");
    server.ok("kill", &run, &tree, &["init", "."]);
    let mnt = m.dir("mnt");
    let at = mnt.to_str().unwrap();
    let mut fsynced: Vec<(String, Vec<u8>)> = Vec::new();
    for (round, delay) in [100u64, 400, 800].into_iter().enumerate() {
        server.ok("kill", &run, m.tmp.path(), &["mount", at]);
        let status = server.ok("kill", &run, m.tmp.path(), &["status", "--json"]);
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        let pid = status["daemon_pid"].as_u64().expect("the daemon's pid") as i32;
        let writer = super::crash::fsync_writer(mnt.clone(), round);
        std::thread::sleep(Duration::from_millis(delay));
        // SAFETY: sending a signal to a process this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        let written = writer.join().unwrap();
        assert!(!written.is_empty(), "round {round}: nothing was written before the kill");
        fsynced.extend(written);
        // The mount is stale now; umount cleans it up.
        server.ok("kill", &run, m.tmp.path(), &["umount", at]);
        let out = m.tmp.path().join(format!("check{round}"));
        server.ok("kill", &run, m.tmp.path(), &["export", out.to_str().unwrap()]);
        for (name, body) in &fsynced {
            let got = std::fs::read(out.join(name))
                .unwrap_or_else(|e| panic!("round {round}: {name}: {e}"));
            assert_eq!(&got, body, "round {round}: {name}");
        }
        eprintln!("round {round}: {} files fsynced so far, all on the server", fsynced.len());
    }
}
