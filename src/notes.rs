//! Notes: what agents and people remember about the code, attached to
//! units, files and sessions, recalled by meaning and keywords.
//!
//! A note lives in its view's namespace (main's, or a session's until the
//! session merges: [`carry`] copies them into main). It names the units
//! and paths it is about and keeps, per unit, the unit's name, kind and
//! last text ([`Anchors`]). The code moves under it; each time notes are
//! read ([`settle`]) every anchor is looked up again: by id, then for a
//! unit that is gone by its name and body (an identical body anywhere, or
//! the most similar body of a unit so named), for a path that is gone by
//! its content. What is found is written back; what is not makes the note
//! orphaned, keeping the last text. A note is never dropped by the code
//! moving.
//!
//! Recall ranks a view's notes (and main's under a session's) by BM25 and
//! by the embedding model's cosine similarity, fused by reciprocal rank,
//! as code search does. A merge's message ([`intent`]) is a note too,
//! attached to the units the merge changed, so `recall` and `history`
//! answer from it.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::embed::Model;
use crate::error::{Error, Result};
use crate::graph::Language;
use crate::ids::SessionName;
use crate::store::Store;
use crate::store::graph::UnitInfo;
use crate::store::{NoteFilter, NoteRow};
use crate::tree::EntryKind;

/// The longest note, in bytes.
pub const TEXT_MAX: usize = 8 << 10;
/// Units, paths and tags a note may name, each.
pub const NAMES_MAX: usize = 32;
/// The longest tag.
pub const TAG_MAX: usize = 64;
/// Most notes one answer holds.
pub const LIMIT_MAX: usize = 100;
/// Most notes a view holds.
pub const VIEW_MAX: u64 = 100_000;
/// How much of a unit's text an anchor keeps.
const ANCHOR_TEXT_MAX: usize = 4 << 10;
/// How alike two bodies must be for a note to follow a unit that moved
/// and changed (Dice coefficient over their distinct trimmed lines).
const SIMILAR: f64 = 0.5;

/// A note command, as the CLI and the MCP tools send it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoteCommand {
    Add { text: String, units: Vec<String>, paths: Vec<String>, tags: Vec<String> },
    List { filter: Filter, limit: usize },
    Remove { id: String },
    Recall { query: String, filter: Filter, limit: usize },
    History { unit: String, limit: usize },
}

/// Which notes (all given must hold).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub unit: Option<String>,
    pub path: Option<String>,
    pub tag: Option<String>,
}

impl Filter {
    fn store(&self) -> NoteFilter {
        NoteFilter { unit: self.unit.clone(), path: self.path.clone(), tag: self.tag.clone() }
    }

    /// (A note is kept for a unit or path it was attached to that is gone.)
    fn keeps(&self, note: &Note) -> bool {
        let was = |t: &String| note.gone.iter().any(|g| &g.target == t);
        self.unit.as_ref().is_none_or(|u| note.units.contains(u) || was(u))
            && self.path.as_ref().is_none_or(|p| note.paths.contains(p) || was(p))
            && self.tag.as_ref().is_none_or(|t| note.tags.contains(t))
    }
}

/// A note command's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NoteOutcome {
    Added(Box<Note>),
    Listed(Vec<Note>),
    Removed { id: String },
    Recalled(Vec<Note>),
    History(UnitHistory),
}

/// A note as shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Note {
    pub id: String,
    pub text: String,
    /// "note", or "intent": a merge's message and what it changed.
    pub kind: String,
    pub tags: Vec<String>,
    /// The units it is attached to, by their ids now.
    pub units: Vec<String>,
    /// The files it is attached to, by their paths now.
    pub paths: Vec<String>,
    /// Some unit or file it was attached to is gone (see `gone`).
    pub orphaned: bool,
    /// What it was attached to that is gone, with the unit's last text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gone: Vec<Gone>,
    /// The session it was written in (none: main).
    pub origin: Option<String>,
    /// The view it was read from: "main" or the session.
    pub view: String,
    /// Main's snapshot an intent note's merge made.
    pub snapshot: Option<u64>,
    /// RFC 3339.
    pub created: String,
    /// Recall's score (higher first; comparable within one answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// An anchor that is gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Gone {
    /// The unit id or path as last seen.
    pub target: String,
    /// The unit's text as last seen (none for a path).
    pub last_text: Option<String>,
}

/// What a note is attached to, as last seen (kept as JSON in the row).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchors {
    pub units: Vec<UnitAnchor>,
    pub paths: Vec<PathAnchor>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitAnchor {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// The unit's source text, cut at [`ANCHOR_TEXT_MAX`].
    pub text: String,
    #[serde(default)]
    pub gone: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathAnchor {
    pub path: String,
    /// blake3 of the file's bytes.
    pub content: String,
    #[serde(default)]
    pub gone: bool,
}

/// Runs a note command on `store`'s view (its graph up to date). `model`
/// embeds a new note and a recall's question; without it, notes are
/// stored without a vector and recall ranks by keywords alone.
pub async fn execute(
    store: &Store,
    model: Option<&Model>,
    command: &NoteCommand,
) -> Result<NoteOutcome> {
    Ok(match command {
        NoteCommand::Add { text, units, paths, tags } => {
            let note = Draft { text, units, paths, tags, kind: "note", snapshot: None };
            NoteOutcome::Added(Box::new(add(store, model, note).await?))
        }
        NoteCommand::List { filter, limit } => {
            NoteOutcome::Listed(list(store, filter, check_limit(*limit)?).await?)
        }
        NoteCommand::Remove { id } => NoteOutcome::Removed { id: remove(store, id).await? },
        NoteCommand::Recall { query, filter, limit } => {
            NoteOutcome::Recalled(recall(store, model, query, filter, check_limit(*limit)?).await?)
        }
        NoteCommand::History { unit, limit } => {
            NoteOutcome::History(history(store, unit, check_limit(*limit)?).await?)
        }
    })
}

fn check_limit(limit: usize) -> Result<usize> {
    match limit {
        0 => Err(Error::InvalidInput("a limit of 0: ask for at least 1".into())),
        n if n > LIMIT_MAX => {
            Err(Error::InvalidInput(format!("a limit of {n}: at most {LIMIT_MAX}")))
        }
        n => Ok(n),
    }
}

/// A note to write.
pub struct Draft<'a> {
    pub text: &'a str,
    pub units: &'a [String],
    pub paths: &'a [String],
    pub tags: &'a [String],
    pub kind: &'a str,
    pub snapshot: Option<u64>,
}

/// A note's text, or a merge's message (`what`): not empty, not over
/// [`TEXT_MAX`], no NUL.
pub fn check_text(text: &str, what: &str) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidInput(m));
    if text.trim().is_empty() {
        return bad(format!("{what} that is empty: say what to remember"));
    }
    if text.len() > TEXT_MAX {
        return bad(format!("{what} of {} bytes: at most {TEXT_MAX}", text.len()));
    }
    if text.contains('\0') {
        return bad(format!("{what} with a NUL byte"));
    }
    Ok(())
}

fn check_draft(d: &Draft<'_>) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidInput(m));
    check_text(d.text, "a note")?;
    for (what, list) in [("units", d.units), ("paths", d.paths), ("tags", d.tags)] {
        if list.len() > NAMES_MAX {
            return bad(format!("{} {what}: a note names at most {NAMES_MAX}", list.len()));
        }
    }
    for tag in d.tags {
        let fine = |c: char| c.is_alphanumeric() || "_-.:/".contains(c);
        if tag.is_empty() || tag.len() > TAG_MAX || !tag.chars().all(fine) {
            return bad(format!(
                "tag {:?}: 1 to {TAG_MAX} letters, digits or _ - . : /",
                tag.chars().take(TAG_MAX).collect::<String>()
            ));
        }
    }
    Ok(())
}

/// A path as the tree names it: relative, no `.` or `..`, not in `.cortex/`.
fn check_path(path: &str) -> Result<String> {
    let trimmed = path.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.split('/').collect();
    let leaves = path.starts_with('/')
        || parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..")
        || parts.first() == Some(&".cortex");
    if leaves || path.contains('\0') {
        return Err(Error::InvalidInput(format!(
            "path {path:?}: give a path inside the tree, relative to its root"
        )));
    }
    Ok(trimmed.to_owned())
}

/// Writes a note in `store`'s view, attached to units and paths that must
/// exist there now.
pub async fn add(store: &Store, model: Option<&Model>, d: Draft<'_>) -> Result<Note> {
    check_draft(&d)?;
    if store.notes().count().await? >= VIEW_MAX {
        return Err(Error::InvalidInput(format!(
            "this view holds {VIEW_MAX} notes, its most: `cortex note rm` some first"
        )));
    }
    let root = graph_root(store).await?;
    let mut anchors = Anchors::default();
    let found = store.graph().units_by_id(d.units).await?;
    for id in d.units {
        let Some(unit) = found.iter().find(|u| &u.id == id) else {
            return Err(Error::NotFound(format!(
                "no unit {id} in this view (`find_symbol` or `cortex graph find` gives ids)"
            )));
        };
        anchors.units.push(unit_anchor(store, root, unit).await?);
    }
    for path in d.paths {
        let path = check_path(path)?;
        let Some(content) = content_at(store, root, &path).await? else {
            return Err(Error::NotFound(format!("no file {path} in this view")));
        };
        anchors.paths.push(PathAnchor { path, content, gone: false });
    }
    let mut tags = d.tags.to_vec();
    tags.sort();
    tags.dedup();
    let row = NoteRow {
        id: new_id()?,
        text: d.text.to_owned(),
        kind: d.kind.to_owned(),
        tags,
        units: anchors.units.iter().map(|a| a.id.clone()).collect(),
        paths: anchors.paths.iter().map(|a| a.path.clone()).collect(),
        anchors: serde_json::to_string(&anchors).map_err(|e| Error::Internal(e.to_string()))?,
        orphaned: false,
        origin: store.view().session().map(|s| s.to_string()),
        snapshot: d.snapshot,
        created: chrono::Utc::now(),
    };
    let vector = match model {
        Some(m) => Some(m.embed_one(&row.text)?),
        None => None,
    };
    store.notes().put(&row, vector).await?;
    Ok(shown(&row, &anchors, store))
}

fn new_id() -> Result<String> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(format!("n{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// The snapshot root `store`'s graph describes (unit offsets are into it).
async fn graph_root(store: &Store) -> Result<crate::ids::ContentHash> {
    store
        .graph()
        .graph_root()
        .await?
        .ok_or_else(|| Error::NotFound("this view has no code graph yet (`cortex index`)".into()))
}

async fn content_at(
    store: &Store,
    root: crate::ids::ContentHash,
    path: &str,
) -> Result<Option<String>> {
    Ok(match crate::snapshot::entry_at(store, root, path.as_bytes()).await? {
        Some(crate::tree::Entry { kind: EntryKind::File { content, .. }, .. }) => {
            Some(content.to_string())
        }
        _ => None,
    })
}

/// The source text of `unit` in `root`.
async fn unit_text(
    store: &Store,
    root: crate::ids::ContentHash,
    unit: &UnitInfo,
) -> Result<String> {
    let bytes = crate::snapshot::read_file(store, root, unit.path.as_bytes()).await?;
    let (s, e) = (unit.start_byte as usize, (unit.end_byte as usize).min(bytes.len()));
    let text = String::from_utf8_lossy(bytes.get(s..e).unwrap_or_default());
    Ok(cut(&text, ANCHOR_TEXT_MAX))
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

async fn unit_anchor(
    store: &Store,
    root: crate::ids::ContentHash,
    unit: &UnitInfo,
) -> Result<UnitAnchor> {
    Ok(UnitAnchor {
        id: unit.id.clone(),
        name: unit.name.clone(),
        kind: unit.kind.as_str().to_owned(),
        text: unit_text(store, root, unit).await?,
        gone: false,
    })
}

/// How alike two texts are: the Dice coefficient of their sets of
/// distinct trimmed non-empty lines (1: the same lines).
pub fn similarity(a: &str, b: &str) -> f64 {
    fn lines(t: &str) -> std::collections::HashSet<&str> {
        t.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
    }
    let (a, b) = (lines(a), lines(b));
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    2.0 * a.intersection(&b).count() as f64 / (a.len() + b.len()) as f64
}

/// Where a unit anchor is now: the unit with its id, else the unit of its
/// name and kind with the same text, else the most similar one.
async fn find_unit(
    store: &Store,
    root: crate::ids::ContentHash,
    anchor: &UnitAnchor,
) -> Result<Option<UnitInfo>> {
    if let Some(unit) = store.graph().units_by_id(std::slice::from_ref(&anchor.id)).await?.pop() {
        return Ok(Some(unit));
    }
    let mut best: Option<(f64, UnitInfo)> = None;
    for unit in store.graph().find_units(&anchor.name, 50).await? {
        if unit.name != anchor.name || unit.kind.as_str() != anchor.kind {
            continue;
        }
        let score = similarity(&anchor.text, &unit_text(store, root, &unit).await?);
        if score >= SIMILAR && best.as_ref().is_none_or(|(b, _)| score > *b) {
            best = Some((score, unit));
        }
    }
    Ok(best.map(|(_, unit)| unit))
}

/// Where a path anchor is now: the path, else a file with its content.
async fn find_path(
    store: &Store,
    root: crate::ids::ContentHash,
    anchor: &PathAnchor,
    files: &mut Option<HashMap<String, String>>,
) -> Result<Option<(String, String)>> {
    if let Some(content) = content_at(store, root, &anchor.path).await? {
        return Ok(Some((anchor.path.clone(), content)));
    }
    if files.is_none() {
        let mut by_content = HashMap::new();
        for (path, entry) in crate::snapshot::walk(store, root).await? {
            if let EntryKind::File { content, .. } = entry.kind {
                let path = String::from_utf8_lossy(&path).into_owned();
                by_content.entry(content.to_string()).or_insert(path);
            }
        }
        *files = Some(by_content);
    }
    let by_content = files.as_ref().expect("just filled");
    Ok(by_content.get(&anchor.content).map(|p| (p.clone(), anchor.content.clone())))
}

/// Looks every anchor of `rows` up again in `store`'s view and writes back
/// what moved (when `write`: the rows are the view's own).
async fn settle(store: &Store, rows: Vec<NoteRow>, write: bool) -> Result<Vec<(NoteRow, Anchors)>> {
    let root = graph_root(store).await?;
    let mut files = None;
    let mut out = Vec::with_capacity(rows.len());
    for mut row in rows {
        let before: Anchors = serde_json::from_str(&row.anchors).unwrap_or_default();
        let mut anchors = before.clone();
        for a in &mut anchors.units {
            match find_unit(store, root, a).await? {
                Some(unit) => *a = unit_anchor(store, root, &unit).await?,
                None => a.gone = true,
            }
        }
        for a in &mut anchors.paths {
            match find_path(store, root, a, &mut files).await? {
                Some((path, content)) => *a = PathAnchor { path, content, gone: false },
                None => a.gone = true,
            }
        }
        if anchors != before {
            row.units = anchors.units.iter().map(|a| a.id.clone()).collect();
            row.paths = anchors.paths.iter().map(|a| a.path.clone()).collect();
            row.orphaned =
                anchors.units.iter().any(|a| a.gone) || anchors.paths.iter().any(|a| a.gone);
            row.anchors =
                serde_json::to_string(&anchors).map_err(|e| Error::Internal(e.to_string()))?;
            if write {
                store.notes().reattach(&row).await?;
            }
        }
        out.push((row, anchors));
    }
    Ok(out)
}

fn shown(row: &NoteRow, anchors: &Anchors, view: &Store) -> Note {
    let gone = anchors
        .units
        .iter()
        .filter(|a| a.gone)
        .map(|a| Gone { target: a.id.clone(), last_text: Some(a.text.clone()) })
        .chain(
            anchors
                .paths
                .iter()
                .filter(|a| a.gone)
                .map(|a| Gone { target: a.path.clone(), last_text: None }),
        )
        .collect();
    Note {
        id: row.id.clone(),
        text: row.text.clone(),
        kind: row.kind.clone(),
        tags: row.tags.clone(),
        // What it is attached to now; what is gone is in `gone`.
        units: anchors.units.iter().filter(|a| !a.gone).map(|a| a.id.clone()).collect(),
        paths: anchors.paths.iter().filter(|a| !a.gone).map(|a| a.path.clone()).collect(),
        orphaned: row.orphaned,
        gone,
        origin: row.origin.clone(),
        view: view.view().session().map_or("main".to_owned(), |s| s.to_string()),
        snapshot: row.snapshot,
        created: row.created.to_rfc3339(),
        score: None,
    }
}

/// The views whose notes a view sees: its own, then main's under a session.
async fn views_of(store: &Store) -> Result<Vec<Store>> {
    let mut views = vec![store.with_view(store.view().clone()).await?];
    if store.view().session().is_some() {
        views.push(store.with_main().await?);
    }
    Ok(views)
}

/// Every note of the views `store` sees (a session's first; a note copied
/// into main is shown once, as the session has it), settled.
/// Which rows [`settled`] reads in each view.
enum Rows<'a> {
    Matching(&'a NoteFilter),
    Ids(&'a [String]),
}

async fn settled(store: &Store, which: Rows<'_>) -> Result<Vec<Note>> {
    let mut seen = std::collections::HashSet::new();
    let mut notes = Vec::new();
    for (i, view) in views_of(store).await?.iter().enumerate() {
        let rows = match which {
            Rows::Matching(filter) => view.notes().list(filter, VIEW_MAX as usize).await?,
            Rows::Ids(ids) => view.notes().rows(ids).await?,
        };
        let rows: Vec<NoteRow> = rows.into_iter().filter(|r| seen.insert(r.id.clone())).collect();
        // A main note seen from a session is settled against the session's
        // code, for this answer only: main's code may differ.
        for (row, anchors) in settle(store, rows, i == 0).await? {
            notes.push(shown(&row, &anchors, view));
        }
    }
    Ok(notes)
}

/// The notes a filter keeps, newest first.
pub async fn list(store: &Store, filter: &Filter, limit: usize) -> Result<Vec<Note>> {
    // Filtered after settling too: a unit filter names the unit as it is now.
    let wide = Filter { unit: None, path: None, tag: filter.tag.clone() };
    let mut notes = settled(store, Rows::Matching(&wide.store()))
        .await?
        .into_iter()
        .filter(|n| filter.keeps(n))
        .collect::<Vec<_>>();
    notes.sort_by(|a, b| b.created.cmp(&a.created));
    notes.truncate(limit);
    Ok(notes)
}

/// Removes a note of this view; refuses one that is main's, seen from a
/// session (main's notes change in main).
pub async fn remove(store: &Store, id: &str) -> Result<String> {
    if store.notes().remove(id).await? {
        return Ok(id.to_owned());
    }
    if store.view().session().is_some() && store.with_main().await?.notes().get(id).await?.is_some()
    {
        return Err(Error::InvalidInput(format!(
            "note {id} is main's: remove it in main (without --session)"
        )));
    }
    Err(Error::NotFound(format!("no note {id} (`cortex note list` gives ids)")))
}

/// Notes by meaning and keywords, best first.
pub async fn recall(
    store: &Store,
    model: Option<&Model>,
    query: &str,
    filter: &Filter,
    limit: usize,
) -> Result<Vec<Note>> {
    if query.trim().is_empty() {
        return Err(Error::InvalidInput("an empty question: say what to recall".into()));
    }
    if query.len() > crate::search::Search::QUERY_MAX {
        return Err(Error::InvalidInput(format!(
            "a question of {} bytes: at most {}",
            query.len(),
            crate::search::Search::QUERY_MAX
        )));
    }
    let vector = match model {
        Some(m) => Some(m.embed_one(query)?),
        None => None,
    };
    let words = crate::store::search::query_words(query);
    let depth = (limit * 5).max(50);
    let mut fused: BTreeMap<String, f64> = BTreeMap::new();
    for view in views_of(store).await? {
        let mut lists = vec![view.notes().keyword(&words, depth).await?];
        if let Some(v) = &vector {
            lists.push(view.notes().nearest(v, depth).await?);
        }
        for list in lists {
            for (rank, (id, _)) in list.into_iter().enumerate() {
                *fused.entry(id).or_default() += 1.0 / (60.0 + rank as f64 + 1.0);
            }
        }
    }
    let ids: Vec<String> = fused.keys().cloned().collect();
    let mut notes = settled(store, Rows::Ids(&ids)).await?;
    notes.retain(|n| filter.keeps(n));
    for n in &mut notes {
        n.score = fused.get(&n.id).copied();
    }
    notes.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal));
    notes.truncate(limit);
    Ok(notes)
}

/// Copies a session's notes into main (a merge landed), and takes them
/// out of the session if it lives on (it sees main's).
pub async fn carry(session: &Store, main: &Store) -> Result<usize> {
    let rows = session.notes().list(&NoteFilter::default(), VIEW_MAX as usize).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let vectors: HashMap<String, Vec<f32>> =
        session.notes().vectors(&ids).await?.into_iter().collect();
    for row in &rows {
        main.notes().put(row, vectors.get(&row.id).cloned()).await?;
    }
    for id in &ids {
        session.notes().remove(id).await?;
    }
    Ok(rows.len())
}

/// The unit ids a merge added, changed and removed
/// (`crate::session::changed_units` of the session's diff).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

/// Records why a merge was made beside what it changed: an intent note in
/// main, attached to the units it added or changed that main has now.
pub async fn intent(
    main: &Store,
    model: Option<&Model>,
    session: &SessionName,
    message: &str,
    changes: &Changes,
    snapshot: u64,
) -> Result<Note> {
    let mut text = format!("{message}\n\nsession {session} merged as snapshot #{snapshot}");
    for (label, ids) in
        [("added", &changes.added), ("changed", &changes.changed), ("removed", &changes.removed)]
    {
        if !ids.is_empty() {
            text.push_str(&format!("\n{label}: {}", ids.join(", ")));
        }
    }
    let units: Vec<String> = changes.added.iter().chain(&changes.changed).cloned().collect();
    // Attached to what main's graph has of them (up to the most a note names).
    let present: Vec<String> = main
        .graph()
        .units_by_id(&units)
        .await?
        .into_iter()
        .filter(|u| u.kind != crate::graph::UnitKind::File)
        .map(|u| u.id)
        .take(NAMES_MAX)
        .collect();
    let text = cut(&text, TEXT_MAX);
    let tags = vec!["merge".to_owned(), format!("session:{session}")];
    let draft = Draft {
        text: &text,
        units: &present,
        paths: &[],
        tags: &tags,
        kind: "intent",
        snapshot: Some(snapshot),
    };
    add(main, model, draft).await
}

/// A unit's changes across main's snapshots, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UnitHistory {
    pub unit: String,
    pub changes: Vec<HistoryEntry>,
    /// Notes attached to the unit now.
    pub notes: Vec<Note>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HistoryEntry {
    /// Main's snapshot (none: the session's changes not merged yet).
    pub snapshot: Option<u64>,
    pub time: String,
    /// "added", "changed" or "removed".
    pub change: String,
    /// What made the snapshot: import, mount, merge…
    pub source: String,
    pub message: String,
    /// The merge's intent notes, when a merge made it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intents: Vec<String>,
}

/// Snapshots looked through for a unit's history, at most.
const HISTORY_DEPTH: usize = 500;

/// `unit`'s changes: where its text differs between consecutive
/// snapshots of main (its file as it is named now), the snapshot's message
/// and any merge intent recorded for it.
pub async fn history(store: &Store, unit: &str, limit: usize) -> Result<UnitHistory> {
    let Some(info) = store.graph().units_by_id(&[unit.to_owned()]).await?.pop() else {
        return Err(Error::NotFound(format!(
            "no unit {unit} in this view (`find_symbol` or `cortex graph find` gives ids)"
        )));
    };
    let language = info.language;
    let main = store.with_main().await?;
    let intents = main
        .notes()
        .list(&NoteFilter { tag: Some("merge".into()), ..NoteFilter::default() }, 10_000)
        .await?;
    let mut changes = Vec::new();
    if let Some(name) = store.view().session() {
        let base = store.sessions().session_info(name).await?.base_root;
        let now = body_at(store, graph_root(store).await?, &info, language).await?;
        let then = body_at(store, base, &info, language).await?;
        if let Some(change) = change_of(then.as_deref(), now.as_deref()) {
            changes.push(HistoryEntry {
                snapshot: None,
                time: chrono::Utc::now().to_rfc3339(),
                change: change.to_owned(),
                source: format!("session {name}"),
                message: "not merged yet".into(),
                intents: Vec::new(),
            });
        }
    }
    let log = main.history().log(HISTORY_DEPTH).await?;
    let mut newer: Option<(Option<String>, &crate::store::Snapshot)> = None;
    let mut last_content = None;
    for snap in &log {
        let content = content_at(&main, snap.root, &info.path).await?;
        let body = if content.is_some() && content == last_content {
            newer.as_ref().and_then(|(b, _)| b.clone())
        } else {
            body_at(&main, snap.root, &info, language).await?
        };
        if let Some((newer_body, newer_snap)) = &newer
            && let Some(change) = change_of(body.as_deref(), newer_body.as_deref())
        {
            changes.push(entry(newer_snap, change, &intents));
        }
        last_content = content;
        newer = Some((body, snap));
        if changes.len() >= limit {
            break;
        }
    }
    // The oldest snapshot looked at: the unit was there from its start.
    if changes.len() < limit
        && let Some((Some(_), first)) = &newer
        && first.parent.is_none()
    {
        changes.push(entry(first, "added", &intents));
    }
    changes.truncate(limit);
    let filter = Filter { unit: Some(info.id.clone()), ..Filter::default() };
    let notes = list(store, &filter, LIMIT_MAX).await?;
    Ok(UnitHistory { unit: info.id, changes, notes })
}

fn entry(snap: &crate::store::Snapshot, change: &str, intents: &[NoteRow]) -> HistoryEntry {
    HistoryEntry {
        snapshot: Some(snap.id.0),
        time: snap.time.to_rfc3339(),
        change: change.to_owned(),
        source: snap.source.clone(),
        message: snap.message.clone(),
        intents: intents
            .iter()
            .filter(|n| n.snapshot == Some(snap.id.0))
            .map(|n| n.text.lines().next().unwrap_or_default().to_owned())
            .collect(),
    }
}

fn change_of(older: Option<&str>, newer: Option<&str>) -> Option<&'static str> {
    match (older, newer) {
        (None, Some(_)) => Some("added"),
        (Some(_), None) => Some("removed"),
        (Some(a), Some(b)) if a != b => Some("changed"),
        _ => None,
    }
}

/// The text of the unit named like `info` (its qualified name, in its file
/// as named now) in `root`, if it is there.
async fn body_at(
    store: &Store,
    root: crate::ids::ContentHash,
    info: &UnitInfo,
    language: Language,
) -> Result<Option<String>> {
    let Some(_) = content_at(store, root, &info.path).await? else { return Ok(None) };
    let bytes = crate::snapshot::read_file(store, root, info.path.as_bytes()).await?;
    let parsed = crate::graph::parse::parse_file(&info.path, &bytes, language);
    Ok(parsed.units.iter().find(|u| u.qname == info.qname && u.kind == info.kind).map(|u| {
        let (s, e) = (u.start_byte as usize, (u.end_byte as usize).min(bytes.len()));
        String::from_utf8_lossy(bytes.get(s..e).unwrap_or_default()).into_owned()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_is_one_for_the_same_lines_and_falls_with_edits() {
        let a = "fn f() {\n    let x = 1;\n    x + 1\n}";
        assert_eq!(similarity(a, a), 1.0);
        let b = "fn f() {\n    let x = 2;\n    x + 1\n}";
        assert!(similarity(a, b) > 0.5 && similarity(a, b) < 1.0);
        assert!(similarity(a, "struct S;") < 0.1);
    }

    #[test]
    fn drafts_over_the_limits_are_refused_with_the_limit() {
        let big = "x".repeat(TEXT_MAX + 1);
        let many: Vec<String> = (0..=NAMES_MAX).map(|i| format!("t{i}")).collect();
        let draft = |text: &'static str| Draft {
            text,
            units: &[],
            paths: &[],
            tags: &[],
            kind: "note",
            snapshot: None,
        };
        assert!(check_draft(&draft("  ")).is_err());
        let over = Draft { text: &big, ..draft("") };
        assert!(check_draft(&over).unwrap_err().to_string().contains("at most"));
        let tags = Draft { tags: &many, ..draft("ok") };
        assert!(check_draft(&tags).is_err());
        let bad_tag = ["no spaces".to_owned()];
        assert!(check_draft(&Draft { tags: &bad_tag, ..draft("ok") }).is_err());
        assert!(check_draft(&draft("fine")).is_ok());
    }

    #[test]
    fn paths_that_leave_the_tree_are_refused() {
        for bad in ["/etc/passwd", "../x", "a/../../b", ".cortex/store", "a//b", "./a"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        assert_eq!(check_path("src/lib.rs").unwrap(), "src/lib.rs");
    }

    #[test]
    fn limits_must_be_between_one_and_the_most() {
        assert!(check_limit(0).is_err());
        assert!(check_limit(LIMIT_MAX + 1).is_err());
        assert_eq!(check_limit(10).unwrap(), 10);
    }
}
