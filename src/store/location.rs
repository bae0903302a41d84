//! Where a store is: an embedded SurrealKV directory, memory, or a server.
//!
//! An embedded store lives in a `.cortex/` directory beside the tree it
//! holds, the way `.git/` does, and is found by walking up from the current
//! directory. `--store` or `CORTEX_STORE` name one explicitly: a `.cortex`
//! directory (or the directory that contains one), `mem://` for a throwaway
//! in-memory store, or a `ws://` / `wss://` URL of a SurrealDB server.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The database a store lives in unless its URL names another.
pub const DEFAULT_DATABASE: &str = "cortex";

/// A server URL's endpoint (what the SDK connects to) and its path.
pub(crate) fn split_remote(url: &str) -> (&str, &str) {
    let after = url.find("://").map_or(0, |i| i + 3);
    match url[after..].find('/') {
        Some(i) => url.split_at(after + i),
        None => (url, ""),
    }
}

/// Makes `dir` (and what is missing above it) readable by this user only,
/// refusing one another user owns.
fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("create", dir, e))?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| Error::io("read", dir, e))?;
    // SAFETY: getuid cannot fail and touches no memory.
    if !meta.is_dir() || meta.uid() != unsafe { libc::getuid() } {
        return Err(Error::InvalidInput(format!(
            "the runtime directory {} is not a directory of this user's",
            dir.display()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io("make private", dir, e))?;
    }
    Ok(())
}

/// A database name from a URL: letters, digits, `_` and `-`, at most 64.
fn check_database(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "the store URL's path names its database: {name:?} is not one (letters, digits, _ and -, at most 64)"
        )))
    }
}

/// The name of the store directory beside a tree.
pub const STORE_DIR: &str = ".cortex";

/// A store's address, validated but not yet opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// Embedded SurrealKV; the path is the `.cortex` directory.
    Embedded(PathBuf),
    /// The in-memory engine: gone when the process exits.
    Memory,
    /// A SurrealDB server; credentials come from the environment at open.
    Remote(String),
}

impl StoreLocation {
    /// Parses an explicit `--store` value.
    pub fn parse(spec: &str) -> Result<StoreLocation> {
        if spec == "mem://" || spec == "memory" {
            return Ok(StoreLocation::Memory);
        }
        if spec.starts_with("ws://") || spec.starts_with("wss://") {
            let location = StoreLocation::Remote(spec.to_owned());
            check_database(location.database())?;
            return Ok(location);
        }
        if let Some((scheme, _)) = spec.split_once("://") {
            return Err(Error::InvalidInput(format!(
                "unsupported store scheme {scheme:?}: use a path, mem://, ws:// or wss://"
            )));
        }
        let path = absolute(Path::new(spec))?;
        // Accept both the `.cortex` directory and the tree that holds one.
        let nested = path.join(STORE_DIR);
        if path.file_name() != Some(STORE_DIR.as_ref()) && nested.is_dir() {
            return Ok(StoreLocation::Embedded(nested));
        }
        Ok(StoreLocation::Embedded(path))
    }

    /// The database the store lives in: a server URL's path names it
    /// (`ws://host:8000/team` is database `team`), so that one server holds
    /// many stores; otherwise `cortex`.
    pub fn database(&self) -> &str {
        match self {
            StoreLocation::Remote(url) => {
                let path = split_remote(url).1.trim_matches('/');
                if path.is_empty() { DEFAULT_DATABASE } else { path }
            }
            _ => DEFAULT_DATABASE,
        }
    }

    /// Where this machine's daemon of the store keeps its control socket,
    /// log and lock: an embedded store's own directory; for a server's
    /// store, a directory of this machine's, since each machine runs its
    /// own daemon (`CORTEX_RUNTIME_DIR`, else `/tmp/cortex-UID/` and a hash
    /// of the URL without its credentials; made mode 0700). None for a
    /// store in memory, which has no daemon.
    pub fn runtime_dir(&self) -> Result<Option<PathBuf>> {
        let url = match self {
            StoreLocation::Embedded(dir) => return Ok(Some(dir.clone())),
            StoreLocation::Memory => return Ok(None),
            StoreLocation::Remote(url) => url,
        };
        let dir = match std::env::var_os("CORTEX_RUNTIME_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => {
                // SAFETY: getuid cannot fail and touches no memory.
                let uid = unsafe { libc::getuid() };
                let hash = blake3::hash(redact_url(url).as_bytes()).to_hex();
                let base = std::env::temp_dir().join(format!("cortex-{uid}"));
                private_dir(&base)?; // not one another user made first
                base.join(&hash[..16])
            }
        };
        private_dir(&dir)?;
        Ok(Some(dir))
    }

    /// Finds the store for `start`: the nearest `.cortex/` at or above it.
    pub fn discover(start: &Path) -> Result<StoreLocation> {
        let start = absolute(start)?;
        for dir in start.ancestors() {
            let candidate = dir.join(STORE_DIR);
            if candidate.is_dir() {
                return Ok(StoreLocation::Embedded(candidate));
            }
        }
        Err(Error::NoStore(format!(
            "no cortex store in {} or any parent directory; run `cortex init` there or pass --store",
            start.display()
        )))
    }

    /// The `.cortex` directory of an embedded store.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            StoreLocation::Embedded(dir) => Some(dir),
            _ => None,
        }
    }

    /// A short description of the engine, for `cortex status`.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreLocation::Embedded(_) => "surrealkv",
            StoreLocation::Memory => "memory",
            StoreLocation::Remote(_) => "remote",
        }
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Embedded(dir) => write!(f, "{}", dir.display()),
            StoreLocation::Memory => f.write_str("mem://"),
            // A URL may carry user:pass@; never print that part.
            StoreLocation::Remote(url) => f.write_str(&redact_url(url)),
        }
    }
}

/// Removes any `user:password@` from a URL.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if path.is_empty() && !rest.contains('/') {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => url.to_owned(),
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io("resolve", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_path_names_the_database() {
        let at = |s: &str| StoreLocation::parse(s).unwrap().database().to_owned();
        assert_eq!(at("ws://h:1"), "cortex");
        assert_eq!(at("ws://h:1/"), "cortex");
        assert_eq!(at("wss://u:p@h:1/team_a"), "team_a");
        assert_eq!(split_remote("ws://h:1/team"), ("ws://h:1", "/team"));
        assert!(StoreLocation::parse("ws://h:1/a/b").is_err());
        assert!(StoreLocation::parse("ws://h:1/a;b").is_err());
    }

    #[test]
    fn parses_specs() {
        assert_eq!(StoreLocation::parse("mem://").unwrap(), StoreLocation::Memory);
        assert_eq!(
            StoreLocation::parse("ws://db:8000").unwrap(),
            StoreLocation::Remote("ws://db:8000".into())
        );
        assert!(StoreLocation::parse("ftp://x").is_err());
        let StoreLocation::Embedded(p) = StoreLocation::parse("/x/.cortex").unwrap() else {
            panic!()
        };
        assert_eq!(p, Path::new("/x/.cortex"));
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(redact_url("wss://u:secret@h:1/x"), "wss://h:1/x");
        assert_eq!(redact_url("ws://h:1"), "ws://h:1");
        assert!(!StoreLocation::Remote("ws://a:b@h".into()).to_string().contains('b'));
    }

    #[test]
    fn discovers_upwards() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join(".cortex")).unwrap();
        std::fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        let found = StoreLocation::discover(&tmp.path().join("a/b")).unwrap();
        assert_eq!(found, StoreLocation::Embedded(tmp.path().join(".cortex")));
    }
}
