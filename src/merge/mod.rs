//! Merging: three versions of a file into one (`lines` for any text,
//! `code` by unit for Rust and JavaScript). Pure: no store, no I/O.

pub mod code;
pub mod lines;

/// What kind of conflict a session's merge met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ConflictKind {
    /// Both sides changed the same text differently.
    #[serde(rename = "content")]
    Content,
    /// One side deleted the file, the other changed it.
    #[serde(rename = "delete/modify")]
    DeleteModify,
    /// Both sides added the file, differently.
    #[serde(rename = "add/add")]
    AddAdd,
    /// Both sides changed a file that is not text.
    #[serde(rename = "binary")]
    Binary,
}

impl ConflictKind {
    pub const ALL: [ConflictKind; 4] = [
        ConflictKind::Content,
        ConflictKind::DeleteModify,
        ConflictKind::AddAdd,
        ConflictKind::Binary,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConflictKind::Content => "content",
            ConflictKind::DeleteModify => "delete/modify",
            ConflictKind::AddAdd => "add/add",
            ConflictKind::Binary => "binary",
        }
    }

    pub fn parse(s: &str) -> Option<ConflictKind> {
        ConflictKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A conflict kept with a session (see `session::merge`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConflictRecord {
    pub path: String,
    /// The unit's id, or the file's path for text between units or a file
    /// that conflicts as a whole.
    pub unit: String,
    pub kind: ConflictKind,
    pub base: Option<String>,
    pub ours: Option<String>,
    pub theirs: Option<String>,
    /// blake3 (hex) of main's and the session's whole unit (or file) when
    /// recorded: a later merge takes the session's side of a conflict the
    /// session has since settled (main unchanged, the session changed).
    #[serde(default)]
    pub main_hash: Option<String>,
    #[serde(default)]
    pub session_hash: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_kinds_serialise_and_parse_as_shown() {
        for kind in ConflictKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(ConflictKind::parse(&kind.to_string()), Some(kind));
        }
    }
}
