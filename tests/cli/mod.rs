//! The `cortex` binary, run as a user runs it.

mod commands;
mod crash;
mod damaged;
mod graph;
mod limits;
mod mcp;
mod merge_scenarios;
mod mount;
mod search;
mod server;
mod sessions;
mod watch;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `cortex ARGS` in `cwd` with a clean environment for the store.
pub fn cortex(cwd: &Path, args: &[&str]) -> Output {
    command(cwd, args).output().expect("run cortex")
}

pub fn command(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cortex"));
    cmd.args(args).current_dir(cwd).env_remove("CORTEX_STORE").env_remove("CORTEX_LOG");
    cmd
}

/// Runs and expects success; returns stdout.
pub fn ok(cwd: &Path, args: &[&str]) -> String {
    let out = cortex(cwd, args);
    assert!(
        out.status.success(),
        "cortex {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs and expects failure with exactly one line on stderr; returns it.
pub fn fails(cwd: &Path, args: &[&str]) -> String {
    let out = cortex(cwd, args);
    assert!(
        !out.status.success(),
        "cortex {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("cortex: "), "{err:?}");
    err
}

/// A real crate's source from the cargo registry (a dependency of this
/// build, so it is there whenever the tests are): `anyhow-` for the newest
/// version there, `anyhow-1.0.104` for exactly that one.
pub fn registry_crate(prefix: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let src = home.join("registry/src");
    let mut found = Vec::new();
    for index in std::fs::read_dir(&src).unwrap_or_else(|e| panic!("read {}: {e}", src.display())) {
        for krate in std::fs::read_dir(index.unwrap().path()).unwrap() {
            let path = krate.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // `name-` takes the newest version there; `name-1.2.3` exactly that.
            if name == prefix
                || name
                    .strip_prefix(prefix)
                    .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found.pop().unwrap_or_else(|| panic!("no {prefix}* crate in {}", src.display()))
}

/// Copies a tree with `cp -a` (modes, times, symlinks kept).
pub fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success());
}
