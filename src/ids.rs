//! Identifier newtypes: a content hash, a snapshot number and a session name.
//!
//! They exist so that a wrong id does not compile. Each is validated where it
//! enters the program (parsing, decoding) and trusted everywhere else.

use std::fmt;

use crate::error::{Error, Result};

/// The blake3 hash of some content: a file's bytes, a chunk, or an encoded
/// tree. Content is stored once under this hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> ContentHash {
        ContentHash(*blake3::hash(bytes).as_bytes())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> ContentHash {
        ContentHash(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, as used for record ids in the store.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    /// The first 12 hex digits, for logs.
    pub fn short(&self) -> String {
        let mut hex = self.to_hex();
        hex.truncate(12);
        hex
    }

    /// Parses 64 hex digits.
    pub fn from_hex(hex: &str) -> Result<ContentHash> {
        blake3::Hash::from_hex(hex)
            .map(|h| ContentHash(*h.as_bytes()))
            .map_err(|_| Error::Corrupt(format!("invalid content hash {hex:?}")))
    }
}

impl From<blake3::Hash> for ContentHash {
    fn from(hash: blake3::Hash) -> ContentHash {
        ContentHash(*hash.as_bytes())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.to_hex()[..12])
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A snapshot of main: numbered 1, 2, 3… in the order main moved.
/// Snapshot 0 is the empty tree every store starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnapshotId(pub u64);

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// An inode number of a mounted view. Stable for a path while the view is
/// mounted; 1 is the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InodeNo(pub u64);

impl InodeNo {
    pub const ROOT: InodeNo = InodeNo(1);
}

/// A session's name. Names become SurrealDB namespace identifiers, so they
/// are restricted to `[a-z0-9][a-z0-9_-]{0,62}`; `main` is reserved. The
/// only way to make one is `parse` (deserialising parses too), so a
/// `SessionName` is always a checked name.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "String", into = "String")]
pub struct SessionName(String);

impl TryFrom<String> for SessionName {
    type Error = Error;
    fn try_from(name: String) -> Result<SessionName> {
        SessionName::parse(&name)
    }
}

impl From<SessionName> for String {
    fn from(name: SessionName) -> String {
        name.0
    }
}

impl std::ops::Deref for SessionName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SessionName {
    type Err = Error;
    fn from_str(name: &str) -> Result<SessionName> {
        SessionName::parse(name)
    }
}

impl SessionName {
    pub fn parse(name: &str) -> Result<SessionName> {
        let bytes = name.as_bytes();
        let valid_first = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let valid_rest = |b: u8| valid_first(b) || b == b'_' || b == b'-';
        let ok = !bytes.is_empty()
            && bytes.len() <= 63
            && valid_first(bytes[0])
            && bytes[1..].iter().all(|&b| valid_rest(b));
        if !ok {
            return Err(Error::InvalidInput(format!(
                "bad session name {name:?}: use 1 to 63 of a-z, 0-9, '_' and '-', starting with a letter or digit"
            )));
        }
        if name == "main" {
            return Err(Error::InvalidInput(
                "\"main\" is not a session; it is what sessions fork from".into(),
            ));
        }
        Ok(SessionName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names() {
        for good in ["a", "fix-parser", "0", "a_b-c9", &"x".repeat(63)] {
            assert!(SessionName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "_a", "A", "a b", "a/b", "main", &"x".repeat(64), "é", "a;DROP"] {
            assert!(SessionName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_hex_round_trip() {
        let h = ContentHash::of(b"hello");
        assert_eq!(ContentHash::from_hex(&h.to_hex()).unwrap(), h);
        assert!(ContentHash::from_hex("zz").is_err());
    }
}
