//! Merging: three versions of a file into one (`lines` for any text,
//! `code` by unit for Rust and JavaScript). Pure: no store, no I/O.
//!
//! One vocabulary throughout, after jj's `Merge<T>`: three versions of a
//! thing are a [`Merge`], which settles itself when at most one side
//! changed ([`Merge::resolve_trivial`]); what does not settle is a
//! [`ConflictRecord`], whether lines, a unit or a whole file met it.

mod blocks;
pub mod code;
pub mod dangling;
pub mod lines;
pub mod moves;

use crate::graph::Language;

/// Merges one file's three texts: by unit where its language is known,
/// else by lines; conflicts the session settled since `settled` recorded
/// them are taken the session's way. With the rule that merged it.
pub fn merge_file(
    path: &str,
    base: &str,
    ours: &str,
    theirs: &str,
    settled: &code::Settled,
) -> (code::Merged, Rule) {
    match Language::of_path(path.as_bytes()) {
        Some(language) => code::merge_explained(path, language, base, ours, theirs, settled),
        None => code::by_lines_explained(path, base, ours, theirs, settled),
    }
}

/// How a file changed on both sides was merged, so that a person can
/// review the merges that took more than lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// The line merge (as `git merge-file` does it) was clean.
    Lines,
    /// By unit: edits to different units, or a unit's by its own units.
    Units,
    /// By unit, keeping what both sides added at one place (units, imports).
    Insertions,
    /// By unit, an edit carried across units one side moved (or, for a
    /// whole file, across a rename).
    Moved,
    /// A conflict the session settled since the last merge: its side.
    Settled,
}

impl Rule {
    /// The more telling of two rules met in one file (moved over
    /// insertions over units).
    pub fn max_of(self, other: Rule) -> Rule {
        let rank = |r: Rule| match r {
            Rule::Lines | Rule::Settled => 0,
            Rule::Units => 1,
            Rule::Insertions => 2,
            Rule::Moved => 3,
        };
        if rank(other) > rank(self) { other } else { self }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Lines => "lines",
            Rule::Units => "units",
            Rule::Insertions => "insertions",
            Rule::Moved => "moved",
            Rule::Settled => "settled",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Three versions of one thing: what both sides started from (`base`),
/// main's (`ours`) and the session's (`theirs`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Merge<T> {
    pub base: T,
    pub ours: T,
    pub theirs: T,
}

impl<T: PartialEq> Merge<T> {
    /// The answer when it needs no merging: both sides alike, or only one
    /// changed from the base (that one); `None` when both changed, apart.
    pub fn resolve_trivial(&self) -> Option<&T> {
        if self.ours == self.theirs || self.theirs == self.base {
            Some(&self.ours)
        } else if self.ours == self.base {
            Some(&self.theirs)
        } else {
            None
        }
    }
}

impl<T> Merge<T> {
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Merge<U> {
        Merge { base: f(self.base), ours: f(self.ours), theirs: f(self.theirs) }
    }
}

/// What kind of conflict a session's merge met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// A call the merge would keep to a unit one side removed (only with
    /// `--strict`; otherwise a warning).
    #[serde(rename = "dangling-call")]
    DanglingCall,
}

impl ConflictKind {
    pub const ALL: [ConflictKind; 5] = [
        ConflictKind::Content,
        ConflictKind::DeleteModify,
        ConflictKind::AddAdd,
        ConflictKind::Binary,
        ConflictKind::DanglingCall,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConflictKind::Content => "content",
            ConflictKind::DeleteModify => "delete/modify",
            ConflictKind::AddAdd => "add/add",
            ConflictKind::Binary => "binary",
            ConflictKind::DanglingCall => "dangling-call",
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

/// A conflict: of lines, a unit or a whole file, as a merge meets it and
/// as a session keeps it (see `session::merge`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ConflictRecord {
    pub path: String,
    /// The unit's id, or the file's path for text between units or a file
    /// that conflicts as a whole.
    pub unit: String,
    pub kind: ConflictKind,
    /// The three texts of the conflicting region (none where a side has
    /// no such file, or it is not text).
    #[serde(flatten)]
    pub sides: Merge<Option<String>>,
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
    fn a_merge_settles_itself_when_at_most_one_side_changed() {
        let m = |b, o, t| Merge { base: b, ours: o, theirs: t }.resolve_trivial().copied();
        assert_eq!(m(1, 1, 1), Some(1));
        assert_eq!(m(1, 2, 1), Some(2));
        assert_eq!(m(1, 1, 3), Some(3));
        assert_eq!(m(1, 4, 4), Some(4));
        assert_eq!(m(1, 2, 3), None);
    }

    #[test]
    fn a_conflict_record_shows_its_sides_beside_its_names() {
        let c = ConflictRecord {
            path: "a.rs".into(),
            unit: "a.rs::f".into(),
            kind: ConflictKind::Content,
            sides: Merge { base: Some("b".into()), ours: Some("o".into()), theirs: None },
            main_hash: None,
            session_hash: None,
        };
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["base"], "b");
        assert_eq!(json["ours"], "o");
        assert!(json["theirs"].is_null());
        assert_eq!(serde_json::from_value::<ConflictRecord>(json).unwrap(), c);
    }

    #[test]
    fn conflict_kinds_serialise_and_parse_as_shown() {
        for kind in ConflictKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(ConflictKind::parse(&kind.to_string()), Some(kind));
        }
    }
}
