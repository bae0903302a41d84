//! Bearer tokens for agents that reach the store over the network (the MCP
//! HTTP server): made by `cortex token create`, shown once, kept only as a
//! hash, each scoped to one view and to what it may do there.
//!
//! A token reads `cortex_<id>_<secret>`: the id (12 hex digits) names it in
//! `cortex token list` and `cortex token revoke`; the secret (64 hex
//! digits, 256 random bits) is what proves it. The store keeps the BLAKE3
//! hash of the whole token, compared in constant time. (A slow password
//! hash buys nothing for 256 random bits.)

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::SessionName;
use crate::store::{Store, TokenRow};

const PREFIX: &str = "cortex_";
const ID_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;

/// A token's text, kept out of `Debug` output and so out of logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// What a valid token lets its holder do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The token's public id.
    pub id: String,
    /// The session it reaches; `None`: main.
    pub session: Option<SessionName>,
    /// Only tools that change nothing.
    pub read_only: bool,
    /// May merge (its session into main; any session, for a main token).
    pub merge: bool,
}

impl Grant {
    /// The view the token reaches, as people name it.
    pub fn view_name(&self) -> &str {
        self.session.as_ref().map_or("main", SessionName::as_str)
    }
}

/// A token as `cortex token list` shows it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: String,
    /// The session it reaches; `None`: main.
    pub session: Option<String>,
    pub read_only: bool,
    pub merge: bool,
    /// RFC 3339.
    pub created: String,
}

/// `cortex token …`, and the HTTP server's check of a presented token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenCommand {
    Create { session: Option<SessionName>, read_only: bool, merge: bool },
    List,
    Revoke { id: String },
    Check { token: Secret },
}

/// A token command's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TokenOutcome {
    /// The new token: its text is in this answer and nowhere else.
    Created {
        info: TokenInfo,
        token: Secret,
    },
    Listed(Vec<TokenInfo>),
    Revoked {
        id: String,
    },
    /// `None`: no such token (missing, wrong or revoked).
    Checked(Option<Grant>),
}

/// Runs a token command on main's `store`.
pub async fn execute(store: &Store, command: &TokenCommand) -> Result<TokenOutcome> {
    Ok(match command {
        TokenCommand::Create { session, read_only, merge } => {
            if let Some(name) = session {
                store.sessions().session_info(name).await?;
            }
            let (row, token) = mint(session.as_ref(), *read_only, *merge)?;
            store.tokens().create(&row).await?;
            TokenOutcome::Created { info: info_of(row), token }
        }
        TokenCommand::List => {
            TokenOutcome::Listed(store.tokens().list().await?.into_iter().map(info_of).collect())
        }
        TokenCommand::Revoke { id } => {
            if !store.tokens().revoke(id).await? {
                return Err(Error::InvalidInput(format!(
                    "no token with id {id}; `cortex token list` shows them"
                )));
            }
            TokenOutcome::Revoked { id: id.clone() }
        }
        TokenCommand::Check { token } => TokenOutcome::Checked(check(store, &token.0).await?),
    })
}

/// A new token for `session` (main when `None`): its row and its text.
fn mint(session: Option<&SessionName>, read_only: bool, merge: bool) -> Result<(TokenRow, Secret)> {
    let mut bytes = [0u8; ID_BYTES + SECRET_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Internal(format!("no randomness for a token: {e}")))?;
    let id = hex(&bytes[..ID_BYTES]);
    let token = format!("{PREFIX}{id}_{}", hex(&bytes[ID_BYTES..]));
    let row = TokenRow {
        id,
        hash: blake3::hash(token.as_bytes()).to_hex().to_string(),
        session: session.map(|s| s.to_string()),
        read_only,
        merge,
        created: chrono::Utc::now(),
    };
    Ok((row, Secret(token)))
}

/// The grant of a presented token; `None` when it is malformed, unknown
/// (or revoked) or its secret does not match.
async fn check(store: &Store, token: &str) -> Result<Option<Grant>> {
    let Some(id) = id_of(token) else { return Ok(None) };
    let Some(row) = store.tokens().get(id).await? else { return Ok(None) };
    let Ok(kept) = blake3::Hash::from_hex(&row.hash) else {
        return Err(Error::Corrupt(format!("token {id} has a malformed hash")));
    };
    // blake3::Hash compares in constant time.
    if blake3::hash(token.as_bytes()) != kept {
        return Ok(None);
    }
    let session = row
        .session
        .as_deref()
        .map(SessionName::parse)
        .transpose()
        .map_err(|e| Error::Corrupt(format!("token {id} names {e}")))?;
    Ok(Some(Grant { id: row.id, session, read_only: row.read_only, merge: row.merge }))
}

/// The public id of a well-formed token.
fn id_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hexes = |s: &str, n: usize| s.len() == 2 * n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexes(id, ID_BYTES) && hexes(secret, SECRET_BYTES)).then_some(id)
}

fn info_of(row: TokenRow) -> TokenInfo {
    TokenInfo {
        id: row.id,
        session: row.session,
        read_only: row.read_only,
        merge: row.merge,
        created: row.created.to_rfc3339(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_has_its_id_and_a_hash_of_itself() {
        let (row, token) = mint(None, true, false).unwrap();
        assert_eq!(id_of(&token.0), Some(row.id.as_str()));
        assert_eq!(row.hash, blake3::hash(token.0.as_bytes()).to_hex().to_string());
        assert!(!row.hash.contains(&token.0[PREFIX.len() + 13..]));
        assert_eq!(format!("{token:?}"), "Secret(…)");
        let (other, _) = mint(None, true, false).unwrap();
        assert_ne!(row.id, other.id);
    }

    #[test]
    fn malformed_tokens_have_no_id() {
        let (_, token) = mint(None, false, false).unwrap();
        for bad in
            ["", "cortex_", "cortex__", "Bearer x", &token.0[1..], &token.0[..token.0.len() - 1]]
        {
            assert_eq!(id_of(bad), None, "{bad}");
        }
        let upper = token.0.replace("cortex_", "CORTEX_");
        assert_eq!(id_of(&upper), None);
    }
}
