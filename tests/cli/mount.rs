//! Real mounts: `cortex mount` through the daemon, used by real tools.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{cortex, fails, ok, registry_crate};

/// A store with a small tree, and a mountpoint beside it. Unmounts on drop.
pub struct Mounted {
    pub tmp: tempfile::TempDir,
    pub tree: PathBuf,
    pub mnt: PathBuf,
}

impl Mounted {
    pub fn new(files: &[(&str, &str)]) -> Mounted {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        let mnt = tmp.path().join("mnt");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::create_dir_all(&mnt).unwrap();
        for (path, body) in files {
            crate::common::write(&tree, path, body.as_bytes());
        }
        ok(&tree, &["init"]);
        let out = ok(&tree, &["mount", mnt.to_str().unwrap()]);
        assert!(out.contains("mounted main at"), "{out}");
        Mounted { tmp, tree, mnt }
    }

    pub fn umount(&self) {
        ok(&self.tree, &["umount", self.mnt.to_str().unwrap()]);
    }

    /// Runs a shell command inside the mount; returns stdout.
    pub fn sh(&self, script: &str) -> String {
        run_sh(&self.mnt, script)
    }
}

impl Drop for Mounted {
    /// Unmounts main's mount and any other (a session's) a test left under
    /// its directory: a mount left behind keeps its daemon running.
    fn drop(&mut self) {
        let mut points = vec![self.mnt.clone()];
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        for line in mounts.lines() {
            let Some(point) = line.split(' ').nth(1).map(PathBuf::from) else { continue };
            if point.starts_with(self.tmp.path()) && point != self.mnt {
                points.push(point);
            }
        }
        // Sessions first: main's mount going last lets the daemon exit.
        for point in points.iter().rev() {
            let _ = cortex(&self.tree, &["umount", point.to_str().unwrap()]);
            let _ = Command::new("fusermount3")
                .arg("-uz")
                .arg(point)
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

pub fn run_sh(dir: &Path, script: &str) -> String {
    let out = Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn mount_read_write_and_see_it_in_the_store() {
    let m = Mounted::new(&[("src/lib.rs", "pub fn one() -> u32 { 1 }\n"), ("README", "hello\n")]);
    assert_eq!(
        std::fs::read_to_string(m.mnt.join("src/lib.rs")).unwrap(),
        "pub fn one() -> u32 { 1 }\n"
    );
    let status = ok(&m.tree, &["status"]);
    assert!(status.contains(&format!("mounts:      {} (main)", m.mnt.display())), "{status}");
    // The daemon answers with its memory and main's content cache, which
    // served the read above from the store.
    assert!(status.contains("memory:      daemon "), "{status}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&m.tree, &["status", "--json"])).unwrap();
    assert!(json["memory"]["rss"].as_u64().unwrap() > 0, "{json}");
    let caches = json["memory"]["content_caches"].as_array().unwrap();
    let main = caches.iter().find(|c| c[0] == "main").unwrap_or_else(|| panic!("{json}"));
    assert!(main[1]["misses"].as_u64().unwrap() >= 1, "{json}");
    assert_eq!(main[1]["budget"].as_u64().unwrap(), 256 << 20, "{json}");

    m.sh("echo 'pub fn two() -> u32 { 2 }' >> src/lib.rs && mkdir -p new/deep && printf data > new/deep/f && sync");
    m.sh("ln -s ../README new/link && mv README README.md && chmod 755 new/deep/f");
    m.umount();

    assert_eq!(ok(&m.tree, &["cat", "README.md"]), "hello\n");
    assert_eq!(
        ok(&m.tree, &["cat", "src/lib.rs"]),
        "pub fn one() -> u32 { 1 }\npub fn two() -> u32 { 2 }\n"
    );
    assert_eq!(ok(&m.tree, &["cat", "new/deep/f"]), "data");
    assert!(ok(&m.tree, &["ls", "new"]).contains("link -> ../README"));
    assert!(ok(&m.tree, &["ls", "new/deep"]).contains("-rwxr-xr-x"));
    assert!(ok(&m.tree, &["log"]).lines().next().unwrap().contains("mount"));
    assert!(ok(&m.tree, &["status"]).contains("mounts:      none"));
}

#[test]
fn mount_errors_are_clear() {
    let m = Mounted::new(&[("a", "a\n")]);
    let err = fails(&m.tree, &["mount", m.mnt.to_str().unwrap()]);
    assert!(err.contains("already a mountpoint"), "{err}");
    let full = m.tmp.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("x"), b"x").unwrap();
    let err = fails(&m.tree, &["mount", full.to_str().unwrap()]);
    assert!(err.contains("not empty"), "{err}");
    let err = fails(&m.tree, &["mount", m.tmp.path().join("missing").to_str().unwrap()]);
    assert!(err.contains("missing"), "{err}");
    let err = fails(&m.tree, &["umount", full.to_str().unwrap()]);
    assert!(err.contains("not mounted") || err.contains("not a cortex mount"), "{err}");
}

#[test]
fn missing_fuse_pieces_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (tree, mnt) = (tmp.path().join("tree"), tmp.path().join("mnt"));
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::write(tree.join("a"), "a\n").unwrap();
    ok(&tree, &["init"]);
    let mnt_arg = mnt.to_str().unwrap();

    // No fusermount3 on PATH.
    let empty = tmp.path().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let out = super::command(&tree, &["mount", mnt_arg]).env("PATH", &empty).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("fusermount3 is not installed"), "{err}");

    // No /dev/fuse: a private mount namespace with an empty /dev.
    let script = format!(
        "mount -t tmpfs none /dev && exec {} mount {mnt_arg}",
        env!("CARGO_BIN_EXE_cortex")
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .current_dir(&tree)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("/dev/fuse is missing"), "{err}");

    // Neither left anything behind: the store is free and mounts normally.
    assert!(ok(&tree, &["status"]).contains("mounts:      none"));
    ok(&tree, &["mount", mnt_arg]);
    assert_eq!(std::fs::read_to_string(mnt.join("a")).unwrap(), "a\n");
    ok(&tree, &["umount", mnt_arg]);
}

#[test]
fn git_works_in_a_mount() {
    let m = Mounted::new(&[
        ("src/main.rs", "fn main() {}\n"),
        ("Cargo.toml", "[package]\nname = \"x\"\n"),
    ]);
    m.sh("git init -q && git add -A && git commit -qm first");
    assert_eq!(m.sh("git status --porcelain"), "");
    m.sh("echo '// edit' >> src/main.rs");
    assert_eq!(m.sh("git status --porcelain"), " M src/main.rs\n");
    m.sh("git commit -qam second && git log --oneline | wc -l | grep -q 2");
    assert_eq!(m.sh("git status --porcelain"), "");
}

#[test]
fn cargo_builds_and_tests_a_crate_in_a_mount() {
    let m = Mounted::new(&[
        ("Cargo.toml", "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
        (
            "src/lib.rs",
            "pub fn add(a: u32, b: u32) -> u32 { a + b }\n#[cfg(test)]\nmod t { #[test] fn adds() { assert_eq!(super::add(2, 2), 4); } }\n",
        ),
        ("src/main.rs", "fn main() { println!(\"{}\", tiny::add(40, 2)); }\n"),
    ]);
    m.sh("cargo build --offline -q");
    assert_eq!(m.sh("./target/debug/tiny"), "42\n");
    let out = m.sh("cargo test --offline -q 2>&1");
    assert!(out.contains("1 passed"), "{out}");
}

#[test]
fn tar_sed_editor_saves_rg_and_python() {
    let m = Mounted::new(&[("notes.txt", "alpha\nbeta\n")]);
    // tar -x of a real .crate, compared with the same archive extracted natively.
    let krate = registry_crate("regex-syntax-");
    let name = krate.file_name().unwrap().to_string_lossy().into_owned();
    let cache = krate.parent().unwrap().parent().unwrap().parent().unwrap().join("cache");
    let archive = std::fs::read_dir(&cache)
        .unwrap()
        .map(|d| d.unwrap().path().join(format!("{name}.crate")))
        .find(|p| p.exists())
        .expect("the .crate archive in the cargo cache");
    let native = m.tmp.path().join("native");
    std::fs::create_dir(&native).unwrap();
    let a = archive.display();
    run_sh(&native, &format!("tar -xzf {a}"));
    m.sh(&format!("mkdir x && tar -xzf {a} -C x"));
    run_sh(m.tmp.path(), &format!("diff -r native/{name} mnt/x/{name}"));

    // rg finds the same matches as on the native copy.
    let here = run_sh(&native, "rg -n --sort path 'fn parse' | sed 's#^#/#'");
    let there = m.sh("cd x && rg -n --sort path 'fn parse' | sed 's#^#/#'");
    assert!(!here.is_empty());
    assert_eq!(here, there);

    // sed -i (writes a temp file and renames it over).
    m.sh("sed -i 's/beta/gamma/' notes.txt");
    assert_eq!(std::fs::read_to_string(m.mnt.join("notes.txt")).unwrap(), "alpha\ngamma\n");

    // An editor-style save and a Python writer.
    let py = r#"
import os
p = "notes.txt"
with open(p + ".swp", "w") as f:
    f.write("saved by an editor\n")
    f.flush()
    os.fsync(f.fileno())
os.rename(p + ".swp", p)
with open("py.bin", "wb") as f:
    f.write(bytes(range(256)) * 100)
os.fsync(os.open(".", os.O_RDONLY))
"#;
    m.sh(&format!("python3 -c '{}'", py.replace('\'', "\"")));
    assert_eq!(std::fs::read_to_string(m.mnt.join("notes.txt")).unwrap(), "saved by an editor\n");
    assert_eq!(std::fs::read(m.mnt.join("py.bin")).unwrap().len(), 25600);
    m.umount();
    assert_eq!(ok(&m.tree, &["cat", "notes.txt"]), "saved by an editor\n");
}

#[test]
fn commands_go_through_the_daemon_and_imports_show_in_the_mount() {
    let m = Mounted::new(&[("a.txt", "one\n"), ("sub/b.txt", "b\n")]);
    // Let the kernel cache names, attributes, pages and the listing.
    assert_eq!(std::fs::read_to_string(m.mnt.join("a.txt")).unwrap(), "one\n");
    assert_eq!(listing(&m.mnt), ["a.txt", "sub"]);
    assert!(m.mnt.join("sub/b.txt").exists());

    assert_eq!(ok(&m.tree, &["cat", "a.txt"]), "one\n");
    assert!(ok(&m.tree, &["ls"]).contains("sub/"));
    m.sh("echo two > a.txt");
    assert_eq!(ok(&m.tree, &["cat", "a.txt"]), "two\n", "the daemon flushes before it reads");
    assert!(ok(&m.tree, &["log"]).lines().next().unwrap().contains("mount"));
    let exp = m.tmp.path().join("exp");
    ok(&m.tree, &["export", exp.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(exp.join("a.txt")).unwrap(), "two\n");

    // Someone edits the real checkout and imports it: the mount follows,
    // also where its kernel had found a name missing.
    assert!(!m.mnt.join("c.txt").exists());
    std::fs::write(m.tree.join("a.txt"), "three\n").unwrap();
    std::fs::remove_dir_all(m.tree.join("sub")).unwrap();
    std::fs::write(m.tree.join("c.txt"), "new\n").unwrap();
    let out = ok(&m.tree, &["import", "."]);
    assert!(out.contains("snapshot #"), "{out}");
    assert_eq!(std::fs::read_to_string(m.mnt.join("a.txt")).unwrap(), "three\n");
    assert!(!m.mnt.join("sub").exists());
    assert_eq!(std::fs::read_to_string(m.mnt.join("c.txt")).unwrap(), "new\n");
    assert_eq!(listing(&m.mnt), ["a.txt", "c.txt"]);
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn two_mounts_of_main_see_each_others_writes_at_once() {
    use std::os::unix::fs::MetadataExt;
    let m = Mounted::new(&[("a.txt", "one\n"), ("d/b.txt", "b\n")]);
    let other = m.tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    ok(&m.tree, &["mount", other.to_str().unwrap()]);
    let status = ok(&m.tree, &["status"]);
    assert!(status.contains(m.mnt.to_str().unwrap()) && status.contains(other.to_str().unwrap()));
    // The second mount's kernel caches everything first (names, attributes,
    // pages, listings; for an hour, were it not told).
    assert_eq!(std::fs::read_to_string(other.join("a.txt")).unwrap(), "one\n");
    assert_eq!(listing(&other), ["a.txt", "d"]);
    assert_eq!(listing(&other.join("d")), ["b.txt"]);
    let nlink = std::fs::metadata(other.join("d/b.txt")).unwrap().nlink();
    assert_eq!(nlink, 1);
    // Names it found missing, which its kernel keeps as missing.
    for missing in ["hard", "e", "d/new", "d/hard"] {
        assert!(!other.join(missing).exists(), "{missing}");
    }

    m.sh(
        "echo changed > a.txt && touch d/new && ln d/b.txt d/hard && rm d/hard && ln d/b.txt hard",
    );
    m.sh("mkdir e && mv d/new e/moved && chmod 600 a.txt");
    // The invalidations are passed on by a thread: give it a moment, no more.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read_to_string(other.join("a.txt")).unwrap() != "changed\n" {
        assert!(std::time::Instant::now() < deadline, "the other mount never saw the write");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(listing(&other), ["a.txt", "d", "e", "hard"]);
    assert_eq!(listing(&other.join("d")), ["b.txt"]);
    assert_eq!(listing(&other.join("e")), ["moved"]);
    assert!(other.join("hard").exists() && other.join("e/moved").exists());
    assert!(!other.join("d/new").exists() && !other.join("d/hard").exists());
    assert_eq!(std::fs::metadata(other.join("d/b.txt")).unwrap().nlink(), 2);
    assert_eq!(std::fs::metadata(other.join("a.txt")).unwrap().mode() & 0o777, 0o600);

    // And the other way round: the listing, the content and the link
    // count (each invalidation is its own message; under load they land a
    // few milliseconds apart).
    run_sh(&other, "rm -r e hard && echo back > d/b.txt");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let seen = || {
        let b = m.mnt.join("d/b.txt");
        (
            listing(&m.mnt),
            std::fs::read_to_string(&b).unwrap(),
            std::fs::metadata(&b).unwrap().nlink(),
        )
    };
    let want = (vec!["a.txt".to_owned(), "d".to_owned()], "back\n".to_owned(), 1);
    while seen() != want {
        assert!(std::time::Instant::now() < deadline, "the first mount never saw: {:?}", seen());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    ok(&m.tree, &["umount", other.to_str().unwrap()]);
}

fn renameat2(dir: &Path, from: &str, to: &str, flags: u32) -> Result<(), i32> {
    use std::ffi::CString;
    let a = CString::new(dir.join(from).to_str().unwrap()).unwrap();
    let b = CString::new(dir.join(to).to_str().unwrap()).unwrap();
    // SAFETY: two valid NUL-terminated paths; no memory is shared.
    let rc =
        unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), flags) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error().raw_os_error().unwrap()) }
}

#[test]
fn semantics_through_the_kernel() {
    let m = Mounted::new(&[("a", "A"), ("b", "B")]);
    let mnt = &m.mnt;
    // renameat2 flags.
    assert_eq!(renameat2(mnt, "a", "b", libc::RENAME_NOREPLACE), Err(libc::EEXIST));
    renameat2(mnt, "a", "b", libc::RENAME_EXCHANGE).unwrap();
    assert_eq!(std::fs::read_to_string(mnt.join("a")).unwrap(), "B");
    assert_eq!(std::fs::read_to_string(mnt.join("b")).unwrap(), "A");
    assert_eq!(renameat2(mnt, "a", "zz", libc::RENAME_EXCHANGE), Err(libc::ENOENT));
    assert_eq!(renameat2(mnt, "a", "c", libc::RENAME_WHITEOUT), Err(libc::EINVAL));
    // FIFOs work (and are kept across a remount, below).
    let fifo = std::ffi::CString::new(mnt.join("fifo").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);
    m.sh("(echo through-the-pipe > fifo &) ; read line < fifo; test \"$line\" = through-the-pipe");
    // Advisory locks work (the kernel keeps them), and df answers.
    m.sh("python3 -c 'import fcntl; f = open(\"a\", \"r+\"); fcntl.flock(f, fcntl.LOCK_EX); fcntl.lockf(f, fcntl.LOCK_EX)'");
    m.sh("df . >/dev/null && stat -f . >/dev/null");
    // Hard links share an inode while mounted.
    m.sh("ln a hard && test $(stat -c %h a) = 2 && test $(stat -c %i a) = $(stat -c %i hard)");
    // Other users are kept out unless --allow-other.
    let other =
        Command::new("runuser").args(["-u", "nobody", "--", "ls"]).arg(mnt).output().unwrap();
    assert!(!other.status.success(), "nobody could list the mount");
    // Extended attributes.
    m.sh("python3 -c 'import os; os.setxattr(\"a\", \"user.k\", b\"v\"); assert os.getxattr(\"a\", \"user.k\") == b\"v\"'");
    m.umount();

    // A read-only mount refuses writes.
    ok(&m.tree, &["mount", "--read-only", m.mnt.to_str().unwrap()]);
    let err = std::fs::write(m.mnt.join("new"), b"x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    assert_eq!(std::fs::read_to_string(m.mnt.join("a")).unwrap(), "B");
    // The xattr and the link survived the remount (the link as a copy).
    let xattr = m.sh("python3 -c 'import os; print(os.getxattr(\"a\", \"user.k\").decode())'");
    assert_eq!(xattr, "v\n");
    assert_eq!(std::fs::read_to_string(m.mnt.join("hard")).unwrap(), "B");
    assert_eq!(m.sh("stat -c %h hard"), "1\n");
    assert_eq!(m.sh("stat -c '%F %a' fifo"), "fifo 640\n");
}

/// Two `cortex mount`s of one store started at the same moment, with no
/// daemon running: both succeed, served by one daemon (the second joins the
/// daemon the first started instead of starting a rival).
#[test]
fn two_mounts_started_at_once_join_one_daemon() {
    let m = Mounted::new(&[("a.txt", "a\n")]);
    m.umount();
    let points: Vec<PathBuf> = (0..3).map(|i| m.tmp.path().join(format!("at-once-{i}"))).collect();
    for round in 0..3 {
        for p in &points {
            std::fs::create_dir_all(p).unwrap();
        }
        let spawned: Vec<_> = points
            .iter()
            .map(|p| {
                super::command(&m.tree, &["mount", p.to_str().unwrap()])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in spawned {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: a concurrent mount failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let status = ok(&m.tree, &["status", "--json"]);
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        assert_eq!(status["mounts"].as_array().unwrap().len(), points.len(), "{status}");
        for p in &points {
            assert_eq!(std::fs::read_to_string(p.join("a.txt")).unwrap(), "a\n");
        }
        for p in &points {
            ok(&m.tree, &["umount", p.to_str().unwrap()]);
        }
    }
}
