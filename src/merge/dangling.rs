//! Calls a merge leaves dangling: one side removed (or renamed) a function
//! or method, the other side wrote or changed code that calls it. Lines
//! and units merge such a pair cleanly; the result does not build. Pure:
//! the caller says which names are still defined elsewhere.

use std::collections::{BTreeMap, BTreeSet};

use crate::graph::{Language, ParsedFile, RefKind, UnitKind, parse_file};

/// A code file one side changed: its text at the base and on that side
/// (`None`: absent).
#[derive(Clone, Copy, Debug)]
pub struct Changed<'a> {
    pub path: &'a str,
    pub base: Option<&'a str>,
    pub side: Option<&'a str>,
}

/// Which side of a merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Main,
    Session,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Main => "main",
            Side::Session => "session",
        }
    }
}

/// A call the merged tree keeps to a unit one side removed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DanglingCall {
    /// The calling unit's id, and its file.
    pub caller: String,
    pub path: String,
    /// Line of the call in the caller's side's text (1-based).
    pub line: u32,
    /// The removed unit's id.
    pub callee: String,
    /// The side that removed it; the other side wrote the call.
    pub removed_by: Side,
}

fn parse(path: &str, text: Option<&str>) -> Option<ParsedFile> {
    let language = Language::of_path(path.as_bytes())?;
    let parsed = parse_file(path, text?.as_bytes(), language);
    parsed.skipped.is_none().then_some(parsed)
}

fn callable(kind: UnitKind) -> bool {
    matches!(kind, UnitKind::Function | UnitKind::Method)
}

/// Functions and methods in `base` that `side` no longer has, by name.
pub fn removed(files: &[Changed]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let Some(base) = parse(f.path, f.base) else { continue };
        let kept: BTreeSet<String> = parse(f.path, f.side)
            .map(|p| p.units.into_iter().map(|u| u.id).collect())
            .unwrap_or_default();
        for u in base.units.into_iter().filter(|u| callable(u.kind) && !kept.contains(&u.id)) {
            out.entry(u.name).or_default().insert(u.id);
        }
    }
    out
}

/// Calls in `files` (one side's changes) from units that side added or
/// changed, to names in `gone`: (caller id, path, line, name).
fn new_calls<'a>(
    files: &'a [Changed],
    gone: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<(String, &'a str, u32, String)> {
    let mut out = Vec::new();
    for f in files {
        let Some(side) = parse(f.path, f.side) else { continue };
        let before: BTreeMap<String, &str> = match (parse(f.path, f.base), f.base) {
            (Some(b), Some(text)) => b
                .units
                .iter()
                .map(|u| (u.id.clone(), &text[u.start_byte as usize..u.end_byte as usize]))
                .collect(),
            _ => BTreeMap::new(),
        };
        let text = f.side.unwrap_or_default();
        for r in &side.refs {
            let call = matches!(r.kind, RefKind::Call | RefKind::MethodCall);
            if !call || !gone.contains_key(&r.name) {
                continue;
            }
            let Some(u) = side.units.get(r.from) else { continue };
            let now = &text[u.start_byte as usize..u.end_byte as usize];
            // A caller the side left as it was is the removing side's to
            // mend, and the merge takes the removing side's version of it.
            if before.get(&u.id) == Some(&now) {
                continue;
            }
            out.push((u.id.clone(), f.path, r.line, r.name.clone()));
        }
    }
    out
}

/// Calls the merge of `changes` (each side's changed code files) would
/// leave to functions or methods the other side removed. `defined(name,
/// removed_ids)` says whether a unit of that name, other than those
/// removed, is still defined somewhere in either side's tree (a move, an
/// overload, another type's method): then the call is not reported.
pub fn dangling_calls(
    main: &[Changed],
    session: &[Changed],
    defined: impl Fn(&str, &BTreeSet<String>) -> bool,
) -> Vec<DanglingCall> {
    let mut out = Vec::new();
    for (removed_by, remover, writer) in
        [(Side::Main, main, session), (Side::Session, session, main)]
    {
        let gone = removed(remover);
        if gone.is_empty() {
            continue;
        }
        // Units the writer itself defines anew under a removed name.
        let written: BTreeSet<String> = writer
            .iter()
            .filter_map(|f| parse(f.path, f.side))
            .flat_map(|p| p.units.into_iter().map(|u| u.name))
            .collect();
        for (caller, path, line, name) in new_calls(writer, &gone) {
            let ids = &gone[&name];
            if written.contains(&name) || defined(&name, ids) {
                continue;
            }
            for callee in ids {
                out.push(DanglingCall {
                    caller: caller.clone(),
                    path: path.to_owned(),
                    line,
                    callee: callee.clone(),
                    removed_by,
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.path, a.line, &a.callee).cmp(&(&b.path, b.line, &b.callee)));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB: &str = "pub fn keep() -> u32 {\n    1\n}\n\npub fn gone() -> u32 {\n    2\n}\n";

    fn changed<'a>(path: &'a str, base: &'a str, side: &'a str) -> Changed<'a> {
        Changed { path, base: Some(base), side: Some(side) }
    }

    #[test]
    fn a_call_written_on_one_side_to_a_function_the_other_removed_is_named() {
        let main_lib = LIB.replace("\npub fn gone() -> u32 {\n    2\n}\n", "");
        let use_base = "pub fn user() -> u32 {\n    keep()\n}\n";
        let use_session = "pub fn user() -> u32 {\n    keep() + gone()\n}\n";
        let main = [changed("src/lib.rs", LIB, &main_lib)];
        let session = [changed("src/use.rs", use_base, use_session)];
        let found = dangling_calls(&main, &session, |_, _| false);
        assert_eq!(
            found,
            vec![DanglingCall {
                caller: "src/use.rs::user".into(),
                path: "src/use.rs".into(),
                line: 2,
                callee: "src/lib.rs::gone".into(),
                removed_by: Side::Main,
            }]
        );
        // Defined elsewhere (moved, or another of that name): not reported.
        assert!(dangling_calls(&main, &session, |_, _| true).is_empty());
        // A caller the writing side did not touch is not the merge's doing.
        let touched = format!("{use_session}// x\n");
        let session = [changed("src/use.rs", use_session, &touched)];
        assert!(dangling_calls(&main, &session, |_, _| false).is_empty());
    }
}
