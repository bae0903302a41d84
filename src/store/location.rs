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
            return Ok(StoreLocation::Remote(spec.to_owned()));
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
