//! A unit moved to another file on one side and edited on the other: the
//! edit follows the move. Pure: texts in, texts out.
//!
//! A unit counts as moved when the mover's file no longer has it and one
//! other file the mover changed holds its base text exactly once (the
//! move as an editor or a refactoring tool makes it: cut, paste). The
//! editor's version of the old file gets the unit's base text back, so
//! that the old file merges as the mover left it, and the new file gets
//! the editor's text of the unit.

use super::Merge;
use crate::graph::{Language, Unit, parse_file};

/// Where the moved units' edits go: the editor's old file with each moved
/// unit back at its base text, and the new text of each file a unit moved
/// to.
#[derive(Debug, PartialEq, Eq)]
pub struct Followed {
    pub editor_text: String,
    pub destinations: Vec<(String, String)>,
    /// The moved units' ids in the old file.
    pub units: Vec<String>,
}

fn units_of(path: &str, text: &str, language: Language) -> Option<Vec<Unit>> {
    let parsed = parse_file(path, text.as_bytes(), language);
    (parsed.skipped.is_none() && parsed.diagnostics.is_empty())
        .then(|| parsed.units.into_iter().skip(1).collect())
}

fn span<'t>(text: &'t str, u: &Unit) -> &'t str {
    &text[u.start_byte as usize..u.end_byte as usize]
}

/// The moves of `path`'s units: `texts` are the file at the base, on the
/// moving side and on the editing side; `elsewhere` the mover's other
/// changed files of the same language (path, text) that the editor did not
/// change. `None` when no unit the editor changed was moved.
pub fn follow_moves(
    path: &str,
    language: Language,
    texts: Merge<&str>,
    elsewhere: &[(String, String)],
) -> Option<Followed> {
    let base = units_of(path, texts.base, language)?;
    let mover = units_of(path, texts.ours, language)?;
    let editor = units_of(path, texts.theirs, language)?;
    let mut editor_text = texts.theirs.to_owned();
    let mut destinations: Vec<(String, String)> = Vec::new();
    let mut units = Vec::new();
    // Last first, so that earlier spans of the editor's text stay valid.
    let mut edited: Vec<(&Unit, &Unit)> = base
        .iter()
        .filter(|b| b.parent.as_deref() == Some(path) && !mover.iter().any(|m| m.id == b.id))
        .filter_map(|b| editor.iter().find(|e| e.id == b.id).map(|e| (b, e)))
        .filter(|(b, e)| span(texts.base, b) != span(texts.theirs, e))
        .collect();
    edited.sort_by_key(|(_, e)| std::cmp::Reverse(e.start_byte));
    for (b, e) in edited {
        let was = span(texts.base, b);
        let now = span(texts.theirs, e);
        let current = |p: &str| {
            destinations
                .iter()
                .find(|(d, _)| d == p)
                .map(|(_, t)| t.clone())
                .or_else(|| elsewhere.iter().find(|(d, _)| d == p).map(|(_, t)| t.clone()))
        };
        let mut holders = elsewhere.iter().filter(|(_, t)| t.matches(was).count() == 1);
        let (Some((to, _)), None) = (holders.next(), holders.next()) else { continue };
        let moved = current(to)?.replacen(was, now, 1);
        match destinations.iter_mut().find(|(d, _)| d == to) {
            Some(slot) => slot.1 = moved,
            None => destinations.push((to.clone(), moved)),
        }
        editor_text.replace_range(e.start_byte as usize..e.end_byte as usize, was);
        units.push(b.id.clone());
    }
    (!units.is_empty()).then_some(Followed { editor_text, destinations, units })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_follows_a_function_moved_to_another_file() {
        let a = "pub fn keep() -> u32 {\n    1\n}\n\npub fn mover() -> u32 {\n    2\n}\n";
        let moved_a = "pub fn keep() -> u32 {\n    1\n}\n";
        let b = "pub fn other() {}\n\npub fn mover() -> u32 {\n    2\n}\n";
        let edited_a = a.replace("    2\n", "    20\n");
        let texts = Merge { base: a, ours: moved_a, theirs: edited_a.as_str() };
        let elsewhere = vec![("b.rs".to_owned(), b.to_owned())];
        let f = follow_moves("a.rs", Language::Rust, texts.clone(), &elsewhere).expect("a move");
        assert_eq!(f.editor_text, a);
        assert_eq!(f.destinations, vec![("b.rs".to_owned(), b.replace("    2\n", "    20\n"))]);
        assert_eq!(f.units, vec!["a.rs::mover".to_owned()]);
        // Deleted, not moved: nothing to follow.
        assert!(follow_moves("a.rs", Language::Rust, texts, &[]).is_none());
    }
}
