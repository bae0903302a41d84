//! Three-way merge of a code file by unit.
//!
//! Each version's text is cut into a skeleton, where every top-level unit
//! is one placeholder line, and the units' own texts. The skeletons are
//! merged by lines (imports, comments and order between units); then each
//! unit is taken from the side that changed it, or, changed on both sides,
//! merged again: by its own units if it has any (an impl's methods, a
//! class's), else by lines. A conflict names the unit. Edits to different
//! units never meet, however close their lines are.
//!
//! Where a plain line merge (as `git merge-file` does it) is clean, its
//! text is the answer, with one exception: a unit of the same id added on
//! both sides (differently, or alike at two places, which the lines keep
//! twice) is a conflict naming it. Otherwise units only settle what lines
//! cannot, so where git merges Cortex agrees with git. Rules the lines do
//! not know: a unit's doc comments, attributes and decorators are part of
//! it; different units added at one place are both kept, main's first;
//! imports added on both sides at one place are the union, each once; so
//! are elements added at one place of a container whose order means
//! nothing (fields, variants, object keys, import lists: the syntax tree
//! says what encloses the place), while statements, arguments and array
//! elements stay conflicts. JavaScript and TypeScript test blocks
//! (`describe`, `it`, `test`) count as units here (`blocks`). A version
//! with syntax errors is merged by the units that did parse, and a merge by
//! unit whose text has a syntax error neither side had is not taken: the
//! lines' conflict stands.

use std::collections::{BTreeSet, HashMap};

use super::blocks;
use super::lines::{self, Chunk};
use super::{ConflictKind, ConflictRecord, Merge, Rule};
use crate::graph::{Language, Unit, UnitKind, parse_file};

/// What merging one file gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Merged {
    Clean(String),
    /// The text with conflict markers, and each conflict.
    Conflicts {
        text: String,
        /// Each a `Content` conflict, named after its unit (or the file's
        /// path for the text between units), with the hashes of main's and
        /// the session's whole text of it: how a later merge tells a
        /// settled conflict (see `Settled`).
        conflicts: Vec<ConflictRecord>,
    },
}

/// A content conflict in `unit` of `path`, whose whole texts are `whole`.
fn conflict(path: &str, unit: &str, sides: Merge<String>, whole: (&str, &str)) -> ConflictRecord {
    ConflictRecord {
        path: path.to_owned(),
        unit: unit.to_owned(),
        kind: ConflictKind::Content,
        sides: sides.map(Some),
        main_hash: Some(text_hash(whole.0)),
        session_hash: Some(text_hash(whole.1)),
    }
}

/// Conflicts recorded by an earlier merge, by unit id (or path): the hashes
/// of main's and the session's text of it then. A unit that conflicts again
/// while main's text is unchanged and the session's has changed was settled
/// in the session: the session's text is taken.
pub type Settled = HashMap<String, (String, String)>;

pub fn text_hash(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

fn is_settled(settled: &Settled, unit: &str, ours: &str, theirs: &str) -> bool {
    settled
        .get(unit)
        .is_some_and(|(main, session)| *main == text_hash(ours) && *session != text_hash(theirs))
}

/// One version of a file: its text and units by id.
struct Version<'a> {
    text: &'a str,
    language: Language,
    units: HashMap<String, Unit>,
    /// Children of each unit (the file's path for top-level units), in
    /// source order.
    children: HashMap<String, Vec<String>>,
    /// The syntax tree, parsed when a rule asks what encloses a place.
    tree: std::cell::OnceCell<Option<tree_sitter::Tree>>,
    /// Its syntax errors, as the parser words them.
    errors: Vec<String>,
}

pub(super) fn syntax_tree(language: Language, text: &str) -> Option<tree_sitter::Tree> {
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&language.grammar()).ok()?;
    parser.parse(text, None)
}

impl<'a> Version<'a> {
    /// `None` for a file the parser skips (binary, huge, not UTF-8). A
    /// version with syntax errors keeps the units that did parse and its
    /// errors, which a merged text must not add to (`adds_errors`).
    fn parse(path: &str, text: &'a str, language: Language) -> Option<Version<'a>> {
        let parsed = parse_file(path, text.as_bytes(), language);
        if parsed.skipped.is_some() {
            return None;
        }
        let errors = parsed.diagnostics.into_iter().map(|d| d.message).collect();
        let tree = std::cell::OnceCell::new();
        let mut found: Vec<Unit> = parsed.units.into_iter().skip(1).collect();
        if blocks::may_hold_blocks(language, text) {
            let parsed = syntax_tree(language, text);
            if let Some(t) = &parsed {
                found = blocks::with_blocks(path, text, t, found);
            }
            let _ = tree.set(parsed);
        }
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        let mut units = HashMap::new();
        for mut u in found {
            u.start_byte = attached_start(text, u.start_byte as usize, language) as u32;
            if let Some(parent) = &u.parent {
                children.entry(parent.clone()).or_default().push(u.id.clone());
            }
            units.insert(u.id.clone(), u);
        }
        Some(Version { text, language, units, children, tree, errors })
    }

    /// True when `merged` has a syntax error neither side has (errors are
    /// compared by what they say, which names the text they stand at).
    fn adds_errors(merged: &Version, ours: &Version, theirs: &Version) -> bool {
        let mut allowed: HashMap<&str, usize> = HashMap::new();
        for e in ours.errors.iter().chain(&theirs.errors) {
            *allowed.entry(e).or_default() += 1;
        }
        merged.errors.iter().any(|e| match allowed.get_mut(e.as_str()) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
    }

    /// True when `at` (a byte offset) lies directly in a container whose
    /// elements' order does not change meaning: an object literal, a
    /// struct's fields or literal, an enum's variants, an import or export
    /// list, a dictionary or set. Not in a body, an argument list or an
    /// array, where order means something.
    fn in_unordered(&self, at: usize) -> bool {
        let tree = self.tree.get_or_init(|| syntax_tree(self.language, self.text));
        let Some(tree) = tree else { return false };
        let unordered: &[&str] = match self.language {
            Language::Rust => &[
                "field_declaration_list",
                "enum_variant_list",
                "use_list",
                "field_initializer_list",
            ],
            Language::JavaScript | Language::TypeScript | Language::Tsx => &[
                "object",
                "object_pattern",
                "named_imports",
                "export_clause",
                "object_type",
                "enum_body",
                "interface_body",
            ],
            Language::Python => &["dictionary", "set"],
        };
        let mut node = tree.root_node().descendant_for_byte_range(at, at);
        while let Some(n) = node {
            let kind = n.kind();
            if unordered.contains(&kind) && n.start_byte() < at {
                return true;
            }
            let ordered = kind.ends_with("block")
                || kind.ends_with("body")
                || kind.ends_with("list")
                || matches!(kind, "arguments" | "array" | "array_expression" | "tuple" | "program")
                || matches!(kind, "source_file" | "module" | "formal_parameters" | "parameters");
            if ordered && n.start_byte() < at {
                return false;
            }
            node = n.parent();
        }
        false
    }

    fn text_of(&self, id: &str) -> &'a str {
        let u = &self.units[id];
        &self.text[u.start_byte as usize..u.end_byte as usize]
    }
}

/// Where a unit starts once the comments, attributes and decorators
/// written right above it (no blank line between) are counted in: a doc
/// comment or a `#[derive]` goes with its unit when the unit moves, is
/// added or is merged, and two units added at one place stay two units.
fn attached_start(text: &str, start: usize, language: Language) -> usize {
    let line_start = |at: usize| text[..at].rfind('\n').map_or(0, |i| i + 1);
    let here = line_start(start);
    let before = text[here..start].trim();
    // `res.send = function …`, `export default class …`: the statement
    // the unit is the value of starts the line.
    let start = if before.is_empty() {
        start
    } else if is_binding_prefix(before) {
        here + (text[here..].len() - text[here..].trim_start().len())
    } else {
        return start; // something else before the unit on its line
    };
    let prefixes: &[&str] = match language {
        Language::Rust => &["//", "/*", "*", "#["],
        Language::JavaScript | Language::TypeScript | Language::Tsx => &["//", "/*", "*", "@"],
        Language::Python => &["#", "@"],
    };
    let mut first = start;
    let mut at = here;
    while at > 0 {
        let above = line_start(at - 1);
        let line = text[above..at].trim();
        // A Rust inner doc comment (`//!`) is its module's, not the unit's.
        let inner = language == Language::Rust && line.starts_with("//!");
        if line.is_empty() || inner || !prefixes.iter().any(|p| line.starts_with(p)) {
            break;
        }
        first = above + (text[above..at].len() - text[above..at].trim_start().len());
        at = above;
    }
    first
}

/// `a.b.c =`, `exports.x =`, `const x =`, `export`, `export default`: what
/// stands before a unit that is a statement's value.
fn is_binding_prefix(before: &str) -> bool {
    if let Some(target) = before.strip_suffix('=') {
        let target = target.trim_end();
        let target = ["const ", "let ", "var "]
            .iter()
            .find_map(|k| target.strip_prefix(k))
            .unwrap_or(target);
        return !target.is_empty()
            && target.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '.'));
    }
    matches!(before, "export" | "export default" | "pub" | "async")
}

/// A region of a version: a whole file, or a unit's text, with the units
/// directly inside it.
struct Region<'v, 'a> {
    version: &'v Version<'a>,
    /// Byte range of the region in the version's text.
    start: usize,
    end: usize,
    /// Id of the unit it is (or the file's path).
    owner: String,
}

impl Region<'_, '_> {
    fn text(&self) -> &str {
        &self.version.text[self.start..self.end]
    }

    /// The region with each child unit replaced by a placeholder line; and
    /// where each of its lines starts in the version's text.
    fn skeleton(&self) -> (String, Vec<usize>) {
        let mut out = String::new();
        let mut starts = Vec::new();
        // Appends `piece`, which stands for the text at `from` (all of it,
        // for a placeholder).
        let mut push = |out: &mut String, piece: &str, from: usize, placeholder: bool| {
            for (i, _) in piece.char_indices() {
                let fresh = if i == 0 {
                    out.is_empty() || out.ends_with('\n')
                } else {
                    piece.as_bytes()[i - 1] == b'\n'
                };
                if fresh {
                    starts.push(if placeholder { from } else { from + i });
                }
            }
            out.push_str(piece);
        };
        let mut at = self.start;
        for id in self.version.children.get(&self.owner).into_iter().flatten() {
            let u = &self.version.units[id];
            let (s, e) = (u.start_byte as usize, u.end_byte as usize);
            if s < at || e > self.end {
                continue; // overlapping spans (macro bodies): leave as text
            }
            push(&mut out, &self.version.text[at..s], at, false);
            push(&mut out, &placeholder(id), s, true);
            at = e;
        }
        push(&mut out, &self.version.text[at..self.end], at, false);
        (out, starts)
    }
}

const MARK: char = '\u{1}';

fn placeholder(id: &str) -> String {
    format!("{MARK}unit {id}{MARK}")
}

/// The unit ids a skeleton's line names.
fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(MARK) {
        let after = &rest[i + MARK.len_utf8()..];
        let Some(j) = after.find(MARK) else { break };
        if let Some(id) = after[..j].strip_prefix("unit ") {
            out.push(id.to_owned());
        }
        rest = &after[j + MARK.len_utf8()..];
    }
    out
}

/// Merges a code file. `path` names it in unit ids; `ours` is main now,
/// `theirs` the session.
pub fn merge(path: &str, language: Language, base: &str, ours: &str, theirs: &str) -> Merged {
    merge_explained(path, language, base, ours, theirs, &Settled::new()).0
}

/// `merge`, with the conflicts an earlier merge recorded and the session
/// has settled since taken the session's way, and the rule that merged.
pub fn merge_explained(
    path: &str,
    language: Language,
    base: &str,
    ours: &str,
    theirs: &str,
    settled: &Settled,
) -> (Merged, Rule) {
    let versions = || {
        (
            Version::parse(path, base, language),
            Version::parse(path, ours, language),
            Version::parse(path, theirs, language),
        )
    };
    if let Some(text) = lines::clean_text(&lines::merge(base, ours, theirs)) {
        let merged = match versions() {
            (Some(b), Some(o), Some(t)) => added_twice(path, language, [&b, &o, &t], text, settled),
            _ => Merged::Clean(text),
        };
        return (merged, Rule::Lines);
    }
    let (Some(b), Some(o), Some(t)) = versions() else {
        return by_lines_explained(path, base, ours, theirs, settled);
    };
    let region = |v| Region { version: v, start: 0, end: 0, owner: path.to_owned() };
    let (rb, ro, rt) = (
        Region { end: base.len(), ..region(&b) },
        Region { end: ours.len(), ..region(&o) },
        Region { end: theirs.len(), ..region(&t) },
    );
    let mut cx = Cx { path, language, conflicts: Vec::new(), settled, rule: Rule::Units };
    let text = merge_region(&rb, &ro, &rt, &mut cx);
    let conflicts = cx.conflicts;
    if !conflicts.is_empty() {
        return (Merged::Conflicts { text, conflicts }, cx.rule);
    }
    // The safety net: units merged into text with a syntax error neither
    // side has are not taken; the lines' conflict stands.
    let breaks = |m: Version| Version::adds_errors(&m, &o, &t);
    if Version::parse(path, &text, language).is_none_or(breaks) {
        return by_lines_explained(path, base, ours, theirs, settled);
    }
    (Merged::Clean(text), cx.rule)
}

/// What git's clean line merge misses (weave's issue #107): a unit of the
/// same id added on both sides, differently, is a conflict naming it; added
/// alike at two places and so kept twice, a conflict too. Else `text`.
fn added_twice(
    path: &str,
    language: Language,
    [b, o, t]: [&Version; 3],
    text: String,
    settled: &Settled,
) -> Merged {
    let merged = Version::parse(path, &text, language);
    let mut conflicts = Vec::new();
    let mut ids: Vec<&String> = o.units.keys().filter(|id| t.units.contains_key(*id)).collect();
    ids.sort();
    for id in ids {
        if b.units.contains_key(id) || id.contains('#') {
            continue;
        }
        let (x, y) = (o.text_of(id), t.text_of(id));
        let twice = format!("{id}#2");
        let doubled = merged.as_ref().is_some_and(|m| m.units.contains_key(&twice))
            && !o.units.contains_key(&twice)
            && !t.units.contains_key(&twice);
        if (x != y || doubled) && !is_settled(settled, id, x, y) {
            let sides = Merge { base: String::new(), ours: x.to_owned(), theirs: y.to_owned() };
            conflicts.push(conflict(path, id, sides, (x, y)));
        }
    }
    if conflicts.is_empty() { Merged::Clean(text) } else { Merged::Conflicts { text, conflicts } }
}

/// What a merge carries down the units: the conflicts so far, and those
/// settled before.
struct Cx<'s> {
    path: &'s str,
    language: Language,
    conflicts: Vec<ConflictRecord>,
    settled: &'s Settled,
    /// The rule the merge needed beyond units: insertions kept, or edits
    /// carried across a move.
    rule: Rule,
}

/// A plain line merge, conflicts named after the file.
pub fn by_lines(path: &str, base: &str, ours: &str, theirs: &str) -> Merged {
    by_lines_explained(path, base, ours, theirs, &Settled::new()).0
}

/// `by_lines`; a file whose conflict the session settled is the session's.
/// With the rule that merged it.
pub fn by_lines_explained(
    path: &str,
    base: &str,
    ours: &str,
    theirs: &str,
    settled: &Settled,
) -> (Merged, Rule) {
    let chunks = lines::merge(base, ours, theirs);
    match lines::clean_text(&chunks) {
        Some(text) => (Merged::Clean(text), Rule::Lines),
        None if is_settled(settled, path, ours, theirs) => {
            (Merged::Clean(theirs.to_owned()), Rule::Settled)
        }
        None => {
            let merged = Merged::Conflicts {
                text: lines::with_markers(&chunks, "main", "session"),
                conflicts: conflicts_of(path, path, &chunks, (ours, theirs)),
            };
            (merged, Rule::Lines)
        }
    }
}

/// The conflicts of `chunks`, in `unit` of `path` whose whole texts are
/// `whole` (main's, the session's).
fn conflicts_of(
    path: &str,
    unit: &str,
    chunks: &[Chunk],
    whole: (&str, &str),
) -> Vec<ConflictRecord> {
    chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::Conflict(sides, _) => {
                Some(conflict(path, unit, sides.clone().map(|lines| lines.concat()), whole))
            }
            Chunk::Clean(_) => None,
        })
        .collect()
}

/// One chunk of a region's merged skeleton, settled: clean lines; units,
/// imports or elements both sides added at one place, both kept; else a
/// conflict of the region's owner, with markers.
fn skeleton_chunk(
    c: &Chunk,
    [b, o, t]: [&Region; 3],
    base_starts: &[usize],
    cx: &mut Cx,
) -> String {
    let mut out = String::new();
    match c {
        Chunk::Clean(lines) => out.extend(lines.iter().copied()),
        Chunk::Conflict(sides, _)
            if sides.base.iter().all(|l| l.trim().is_empty())
                && only_new_units(&sides.ours, b)
                && only_new_units(&sides.theirs, b) =>
        {
            out.extend(sides.ours.iter().copied());
            out.extend(sides.theirs.iter().copied());
            cx.rule = cx.rule.max_of(Rule::Insertions);
        }
        Chunk::Conflict(sides, _) if only_imports(sides, cx.language) => {
            out.push_str(&import_union(sides));
            cx.rule = cx.rule.max_of(Rule::Insertions);
        }
        Chunk::Conflict(sides, line)
            if both_added_elements(sides, false)
                && b.version.in_unordered(base_starts.get(*line).copied().unwrap_or(b.end)) =>
        {
            out.extend(sides.ours.iter().copied());
            out.extend(sides.theirs.iter().copied());
            cx.rule = cx.rule.max_of(Rule::Insertions);
        }
        Chunk::Conflict(sides, _) => {
            let filled = Merge {
                base: fill(&sides.base.concat(), b),
                ours: fill(&sides.ours.concat(), o),
                theirs: fill(&sides.theirs.concat(), t),
            };
            cx.conflicts.push(conflict(cx.path, &b.owner, filled, (o.text(), t.text())));
            out.push_str(&lines::with_markers(std::slice::from_ref(c), "main", "session"));
        }
    }
    out
}

fn merge_region(b: &Region, o: &Region, t: &Region, cx: &mut Cx) -> String {
    if moved_and_edited(b, o, t) || moved_and_edited(b, t, o) {
        cx.rule = cx.rule.max_of(Rule::Moved);
    }
    let ((sb, base_starts), (so, _), (st, _)) = (b.skeleton(), o.skeleton(), t.skeleton());
    let chunks = lines::merge(&sb, &so, &st);
    // The skeleton: conflicts between units are the owner's, except
    // insertions at one place that keep both (`skeleton_chunk`).
    let mut skeleton = String::new();
    for c in &chunks {
        skeleton.push_str(&skeleton_chunk(c, [b, o, t], &base_starts, cx));
    }
    // A unit both sides added, each at its own place, would be kept twice
    // (weave's issue #107): a conflict naming it.
    let mut kept: BTreeSet<String> = BTreeSet::new();
    for id in placeholders(&skeleton) {
        if !kept.insert(id.clone())
            && let (Some(x), Some(y)) = (unit_text(o, &id), unit_text(t, &id))
        {
            let sides = Merge { base: String::new(), ours: x.to_owned(), theirs: y.to_owned() };
            cx.conflicts.push(conflict(cx.path, &id, sides, (x, y)));
        }
    }
    // Units that one side deleted and the other changed.
    for id in b.version.children.get(&b.owner).into_iter().flatten() {
        if kept.contains(id) {
            continue;
        }
        let base_text = b.version.text_of(id);
        for (side, other) in [(o, t), (t, o)] {
            let changed =
                side.version.units.contains_key(id) && side.version.text_of(id) != base_text;
            if changed && !other.version.units.contains_key(id) {
                let side_text = side.version.text_of(id).to_owned();
                let (ours, theirs) = if std::ptr::eq(side, o) {
                    (side_text, String::new())
                } else {
                    (String::new(), side_text)
                };
                let whole = (ours.clone(), theirs.clone());
                let sides = Merge { base: base_text.to_owned(), ours, theirs };
                cx.conflicts.push(conflict(cx.path, id, sides, (&whole.0, &whole.1)));
            }
        }
    }
    // Each unit's text, merged.
    let mut out = String::new();
    let mut rest = skeleton.as_str();
    while let Some(i) = rest.find(MARK) {
        out.push_str(&rest[..i]);
        let after = &rest[i + MARK.len_utf8()..];
        let Some(j) = after.find(MARK) else { break };
        let id = after[..j].strip_prefix("unit ").unwrap_or(&after[..j]);
        out.push_str(&merge_unit(id, b, o, t, cx));
        rest = &after[j + MARK.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// True when both sides added lines at one place (the base has none
/// there) and every added line is a whole element: ends with `,` (or `;`
/// with `semicolons`: an interface's members), or is a comment, an
/// attribute or blank.
fn both_added_elements(sides: &Merge<Vec<&str>>, semicolons: bool) -> bool {
    let element = |l: &&str| {
        let l = l.trim();
        l.is_empty()
            || l.ends_with(',')
            || (semicolons && l.ends_with(';'))
            || ["//", "/*", "*", "#[", "@"].iter().any(|p| l.starts_with(p))
    };
    sides.base.iter().all(|l| l.trim().is_empty())
        && sides.ours.iter().any(|l| !l.trim().is_empty())
        && sides.theirs.iter().any(|l| !l.trim().is_empty())
        && sides.ours.iter().all(element)
        && sides.theirs.iter().all(element)
        && placeholders(&sides.ours.concat()).is_empty()
        && placeholders(&sides.theirs.concat()).is_empty()
}

/// Elements added on both sides at one place where order does not change
/// meaning (`unordered(base line)`: a struct's fields, an enum's variants,
/// an interface's members, an object literal's keys, an import list): both,
/// main's first. `None` when any conflict is more than that.
fn element_insertions(
    chunks: &[Chunk],
    unordered: impl Fn(usize) -> bool,
    semicolons: bool,
) -> Option<String> {
    let mut out = String::new();
    for c in chunks {
        match c {
            Chunk::Clean(lines) => out.extend(lines.iter().copied()),
            Chunk::Conflict(sides, line)
                if both_added_elements(sides, semicolons) && unordered(*line) =>
            {
                out.extend(sides.ours.iter().copied());
                out.extend(sides.theirs.iter().copied());
            }
            Chunk::Conflict(..) => return None,
        }
    }
    Some(out)
}

/// True when `mover` put the region's units in another order and `editor`
/// changed one of those it moved: the edit follows the move.
fn moved_and_edited(b: &Region, mover: &Region, editor: &Region) -> bool {
    let order = |r: &Region| -> Vec<String> {
        let kids = r.version.children.get(&r.owner).into_iter().flatten();
        kids.filter(|id| b.version.units.contains_key(*id)).cloned().collect()
    };
    let (before, after) = (order(b), order(mover));
    let kept: Vec<&String> = before.iter().filter(|id| after.contains(id)).collect();
    let moved: Vec<&String> =
        kept.iter().zip(&after).filter(|(was, is)| ***was != **is).map(|(was, _)| *was).collect();
    moved.iter().any(|id| {
        editor.version.units.contains_key(*id)
            && editor.version.text_of(id) != b.version.text_of(id)
    })
}

/// True when every line of the three sides is blank or one whole import
/// (`use`, `import`, `require`, `from … import`), order among which does
/// not change meaning.
fn only_imports(sides: &Merge<Vec<&str>>, language: Language) -> bool {
    let all = || sides.base.iter().chain(&sides.ours).chain(&sides.theirs);
    fn trimmed<'a>(v: &[&'a str]) -> BTreeSet<&'a str> {
        v.iter().map(|l| l.trim()).collect()
    }
    let (ours, theirs) = (trimmed(&sides.ours), trimmed(&sides.theirs));
    // An import both sides removed (both rewrote it) is one edit met twice.
    let rewritten_twice =
        sides.base.iter().any(|l| !ours.contains(l.trim()) && !theirs.contains(l.trim()));
    !rewritten_twice
        && all().all(|l| l.trim().is_empty() || is_import(l.trim(), language))
        && all().any(|l| !l.trim().is_empty())
}

/// One whole import statement on one line.
fn is_import(line: &str, language: Language) -> bool {
    let words = |prefixes: &[&str]| prefixes.iter().any(|p| line.starts_with(p));
    match language {
        Language::Rust => {
            words(&["use ", "pub use ", "pub(crate) use ", "extern crate "]) && line.ends_with(';')
        }
        Language::JavaScript | Language::TypeScript | Language::Tsx => {
            let import = line.starts_with("import ")
                && (line.contains(" from ")
                    || line.starts_with("import '")
                    || line.starts_with("import \""));
            let require = words(&["const ", "let ", "var "])
                && line.contains("= require(")
                && line.trim_end_matches(';').ends_with(')');
            (import && !line.ends_with('{')) || require
        }
        Language::Python => {
            (line.starts_with("import ")
                || (line.starts_with("from ") && line.contains(" import ")))
                && !line.ends_with('(')
                && !line.ends_with('\\')
        }
    }
}

/// The union of both sides' imports, each once: main's in its order (less
/// those the session removed), then the session's new ones.
fn import_union(sides: &Merge<Vec<&str>>) -> String {
    let key = |l: &&str| l.trim().to_owned();
    let set = |v: &[&str]| v.iter().map(key).collect::<BTreeSet<String>>();
    let (base, theirs) = (set(&sides.base), set(&sides.theirs));
    let removed_by_theirs = |k: &String| base.contains(k) && !theirs.contains(k);
    let mut seen = BTreeSet::new();
    let mut out = String::new();
    for l in &sides.ours {
        let k = key(l);
        if k.is_empty() || (!removed_by_theirs(&k) && seen.insert(k)) {
            out.push_str(l);
        }
    }
    let ours = set(&sides.ours);
    for l in &sides.theirs {
        let k = key(l);
        if !k.is_empty() && !base.contains(&k) && !ours.contains(&k) && seen.insert(k) {
            out.push_str(l);
        }
    }
    out
}

/// True when `lines` are blank or placeholders of units the base lacks.
fn only_new_units(lines: &[&str], base: &Region) -> bool {
    lines.iter().all(|l| {
        let ids = placeholders(l);
        if ids.is_empty() {
            return l.trim().is_empty();
        }
        ids.iter().all(|id| !base.version.units.contains_key(id))
    })
}

/// A skeleton piece with its placeholders filled in from `r`.
fn fill(text: &str, r: &Region) -> String {
    let mut out = text.to_owned();
    for id in placeholders(text) {
        if r.version.units.contains_key(&id) {
            out = out.replace(&placeholder(&id), r.version.text_of(&id));
        }
    }
    out
}

fn unit_text<'a>(r: &Region<'_, 'a>, id: &str) -> Option<&'a str> {
    r.version.units.contains_key(id).then(|| r.version.text_of(id))
}

/// A unit's own text as a region of its version.
fn unit_region<'v, 'a>(r: &Region<'v, 'a>, id: &str) -> Region<'v, 'a> {
    let u = &r.version.units[id];
    Region {
        version: r.version,
        start: u.start_byte as usize,
        end: u.end_byte as usize,
        owner: id.to_owned(),
    }
}

fn merge_unit<'a>(
    id: &str,
    b: &Region<'_, 'a>,
    o: &Region<'_, 'a>,
    t: &Region<'_, 'a>,
    cx: &mut Cx,
) -> String {
    let text = |r: &Region<'_, 'a>| unit_text(r, id);
    match (text(b), text(o), text(t)) {
        (_, Some(x), None) | (_, None, Some(x)) => x.to_owned(),
        (Some(base), Some(x), Some(y)) => {
            if let Some(text) = (Merge { base, ours: x, theirs: y }).resolve_trivial() {
                text.to_string()
            } else if is_settled(cx.settled, id, x, y) {
                y.to_owned()
            } else {
                // Changed on both sides: by its own units, or by lines.
                let (ub, uo, ut) = (unit_region(b, id), unit_region(o, id), unit_region(t, id));
                let has_children = |r: &Region| r.version.children.contains_key(id);
                if has_children(&ub) || has_children(&uo) || has_children(&ut) {
                    merge_region(&ub, &uo, &ut, cx)
                } else {
                    let chunks = lines::merge(ub.text(), uo.text(), ut.text());
                    let kind = b.version.units[id].kind;
                    let members =
                        matches!(kind, UnitKind::Struct | UnitKind::Enum | UnitKind::Interface);
                    let line_starts: Vec<usize> = std::iter::once(0)
                        .chain(ub.text().match_indices('\n').map(|(i, _)| i + 1))
                        .collect();
                    let unordered = |line: usize| {
                        let at =
                            ub.start + line_starts.get(line).copied().unwrap_or(ub.text().len());
                        members || b.version.in_unordered(at)
                    };
                    let semicolons = kind == UnitKind::Interface;
                    match lines::clean_text(&chunks) {
                        Some(text) => text,
                        None if let Some(text) =
                            element_insertions(&chunks, unordered, semicolons) =>
                        {
                            cx.rule = cx.rule.max_of(Rule::Insertions);
                            text
                        }
                        None => {
                            cx.conflicts.extend(conflicts_of(cx.path, id, &chunks, (x, y)));
                            lines::with_markers(&chunks, "main", "session")
                        }
                    }
                }
            }
        }
        // Added on both sides with the same id.
        (None, Some(x), Some(y)) => {
            if x == y {
                x.to_owned()
            } else if is_settled(cx.settled, id, x, y) {
                y.to_owned()
            } else {
                let chunks = lines::merge("", x, y);
                cx.conflicts.extend(conflicts_of(cx.path, id, &chunks, (x, y)));
                lines::with_markers(&chunks, "main", "session")
            }
        }
        (_, None, None) => String::new(),
    }
}

#[cfg(test)]
#[path = "code_tests.rs"]
mod tests;
