//! What a session changed, and bringing it back into main.
//!
//! `diff` compares the session's head with its base; [`merge`] (the
//! `merge` module) brings it into main; `who` and [`Command`] are the rest
//! of what agents and people ask of sessions. Every cost here follows the
//! number of changes: trees are compared and patched only where they
//! differ.

mod merge;

pub use merge::{MergeOptions, MergeReport, Strategy, merge, merge_with};

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::graph::{Language, UnitKind, parse_file};
use crate::ids::SessionName;
use crate::merge::ConflictRecord;
use crate::snapshot;
use crate::store::{ChangeOp, Store, View};
use crate::tree::{Entry, EntryKind};

/// A session as `cortex session list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SessionSummary {
    pub name: String,
    pub origin: String,
    pub base_snapshot: u64,
    pub created: String,
    pub age_seconds: i64,
    pub changed_files: usize,
    /// Where it is mounted (filled in by the daemon, which knows).
    #[serde(default)]
    pub mounted: Vec<String>,
}

/// One file a session changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FileDiff {
    pub path: String,
    pub op: FileOp,
    /// For code files with `--units`: the units added, removed or changed.
    pub units: Vec<UnitDiff>,
}

/// What happened to a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum FileOp {
    Added,
    Modified,
    Deleted,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UnitDiff {
    pub id: String,
    pub kind: UnitKind,
    pub change: UnitChange,
}

/// What happened to a unit (by its body's hash).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum UnitChange {
    Added,
    Removed,
    Changed,
}

impl std::fmt::Display for UnitChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            UnitChange::Added => "added",
            UnitChange::Removed => "removed",
            UnitChange::Changed => "changed",
        })
    }
}

fn text_path(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// Every session with how much it changed.
pub async fn list(store: &Store) -> Result<Vec<SessionSummary>> {
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for info in store.sessions().list().await? {
        // Read, not set up: listing changes nothing.
        let root = store.sessions().head_root(&info).await?;
        let changed = snapshot::diff(store, info.base_root, root).await?.len();
        out.push(SessionSummary {
            name: info.name.to_string(),
            origin: info.origin,
            base_snapshot: info.base_snapshot,
            created: info.created.to_rfc3339(),
            age_seconds: (now - info.created).num_seconds(),
            changed_files: changed,
            mounted: Vec::new(),
        });
    }
    Ok(out)
}

async fn text_at(store: &Store, entry: Option<&Entry>) -> Result<Option<String>> {
    match entry.map(|e| &e.kind) {
        Some(EntryKind::File { content, .. }) => {
            let bytes = store.objects().read_blob(*content).await?;
            Ok(String::from_utf8(bytes).ok().filter(|t| !t.contains('\0')))
        }
        _ => Ok(None),
    }
}

/// What the session `name` changed from its base, by content; with
/// `units`, which units of each code file.
pub async fn diff(store: &Store, name: &SessionName, units: bool) -> Result<Vec<FileDiff>> {
    let info = store.sessions().session_info(name).await?;
    // Read, not set up: a diff (and `who`, a diff per session) changes
    // nothing.
    let head_root = store.sessions().head_root(&info).await?;
    let mut out = Vec::new();
    for change in snapshot::diff(store, info.base_root, head_root).await? {
        let path = text_path(&change.path);
        let op = match change.op {
            ChangeOp::Add => FileOp::Added,
            ChangeOp::Modify => FileOp::Modified,
            ChangeOp::Delete => FileOp::Deleted,
        };
        let mut unit_diffs = Vec::new();
        if units && let Some(language) = Language::of_path(&change.path) {
            let before = snapshot::entry_at(store, info.base_root, &change.path).await?;
            let after = snapshot::entry_at(store, head_root, &change.path).await?;
            let before = text_at(store, before.as_ref()).await?.unwrap_or_default();
            let after = text_at(store, after.as_ref()).await?.unwrap_or_default();
            unit_diffs = unit_changes(&path, language, &before, &after);
        }
        out.push(FileDiff { path, op, units: unit_diffs });
    }
    Ok(out)
}

/// Units added, removed or changed (by body hash) between two texts.
fn unit_changes(path: &str, language: Language, before: &str, after: &str) -> Vec<UnitDiff> {
    let units = |text: &str| -> BTreeMap<String, (UnitKind, String)> {
        parse_file(path, text.as_bytes(), language)
            .units
            .into_iter()
            .skip(1)
            .map(|u| (u.id, (u.kind, u.body_hash)))
            .collect()
    };
    let (a, b) = (units(before), units(after));
    let ids: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    ids.into_iter()
        .filter_map(|id| {
            let (change, kind) = match (a.get(id), b.get(id)) {
                (None, Some((k, _))) => (UnitChange::Added, k),
                (Some((k, _)), None) => (UnitChange::Removed, k),
                (Some((_, x)), Some((k, y))) if x != y => (UnitChange::Changed, k),
                _ => return None,
            };
            Some(UnitDiff { id: id.clone(), kind: *kind, change })
        })
        .collect()
}

/// The session's conflicts from its last merge attempt.
pub async fn conflicts(store: &Store, name: &SessionName) -> Result<Vec<ConflictRecord>> {
    store.sessions().session(name).await?.sessions().conflicts().await
}

/// The unit ids `diff` adds, changes and removes (what a merge's intent
/// note names).
pub fn changed_units(diff: &[FileDiff]) -> crate::notes::Changes {
    let mut out = crate::notes::Changes::default();
    for unit in diff.iter().flat_map(|f| &f.units) {
        let list = match unit.change {
            UnitChange::Added => &mut out.added,
            UnitChange::Changed => &mut out.changed,
            UnitChange::Removed => &mut out.removed,
        };
        list.push(unit.id.clone());
    }
    out
}

/// Who is on what: claims, what live sessions have changed (files and
/// units), and where two sessions meet (conflicts ahead).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WhoReport {
    pub claims: Vec<crate::store::sessions::Claim>,
    /// Each file or unit some session changed, with those sessions.
    pub editing: Vec<Editing>,
    /// Files or units two sessions changed, or one changed and another
    /// claimed: merge conflicts ahead.
    pub ahead: Vec<Editing>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Editing {
    pub target: String,
    pub sessions: Vec<String>,
}

/// `cortex who [PATH|UNIT]`: everything, or what concerns `target` (a
/// path, a unit id, or a prefix of them).
pub async fn who(store: &Store, target: Option<&str>) -> Result<WhoReport> {
    let concerns = |t: &str| target.is_none_or(|want| t == want || t.starts_with(want));
    let mut by_target: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for info in store.sessions().list().await? {
        for file in diff(store, &info.name, true).await? {
            by_target.entry(file.path.clone()).or_default().insert(info.name.to_string());
            for u in file.units {
                by_target.entry(u.id).or_default().insert(info.name.to_string());
            }
        }
    }
    let claims: Vec<_> =
        store.sessions().claims().await?.into_iter().filter(|c| concerns(&c.target)).collect();
    let mut report = WhoReport { claims, ..WhoReport::default() };
    for (t, sessions) in by_target.into_iter().filter(|(t, _)| concerns(t)) {
        let claimed_by_other =
            report.claims.iter().any(|c| c.target == t && sessions.iter().any(|s| s != &c.session));
        let entry = Editing { target: t, sessions: sessions.into_iter().collect() };
        if entry.sessions.len() > 1 || claimed_by_other {
            report.ahead.push(entry.clone());
        }
        report.editing.push(entry);
    }
    Ok(report)
}

/// A session command, as the CLI sends it to the daemon (or runs it on the
/// store itself when no daemon holds it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    New {
        name: SessionName,
        from: Option<String>,
    },
    List,
    /// `force`: its mounts are unmounted first (by the daemon).
    Remove {
        name: SessionName,
        force: bool,
    },
    Diff {
        name: SessionName,
        units: bool,
    },
    Merge {
        name: SessionName,
        options: MergeOptions,
        /// Why the session exists: main's snapshot message, and an intent
        /// note on the units it changed (`cortex merge --message`).
        message: Option<String>,
    },
    Conflicts {
        name: SessionName,
    },
    Claim {
        name: SessionName,
        targets: Vec<String>,
    },
    Release {
        name: SessionName,
        targets: Vec<String>,
    },
    Who {
        target: Option<String>,
    },
    /// Bearer tokens of the MCP HTTP server (`cortex token …`).
    Token(crate::token::TokenCommand),
    /// Notes on the code, in a session's view or main's (`cortex note …`,
    /// `recall`, `history`). Run by the service, which has the model.
    Note {
        session: Option<SessionName>,
        command: crate::notes::NoteCommand,
    },
}

impl Command {
    /// True when the command reads what the view's writes so far made
    /// (so they are saved first); a token command does not.
    pub fn reads_the_tree(&self) -> bool {
        !matches!(self, Command::Token(_))
    }
}

/// A session command's answer. The edges turn it into their own form
/// (`control::json_of` for CLI and MCP JSON, text in the CLI); the wire
/// carries it as it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Created(Created),
    Listed(Vec<SessionSummary>),
    Removed(Removed),
    Diff(Vec<FileDiff>),
    Merged(MergeReport),
    Conflicts(Vec<ConflictRecord>),
    Claimed(Claimed),
    Released(Released),
    Who(WhoReport),
    Token(crate::token::TokenOutcome),
    Note(crate::notes::NoteOutcome),
}

/// A session forked (`Command::New`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Created {
    pub name: String,
    pub origin: String,
    pub base_snapshot: u64,
    /// RFC 3339.
    pub created: String,
}

/// A session removed (`Command::Remove`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Removed {
    pub removed: String,
}

/// Targets claimed by a session (`Command::Claim`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Claimed {
    pub session: String,
    pub claimed: Vec<String>,
}

/// Claims a session let go of (`Command::Release`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Released {
    pub session: String,
    pub released: usize,
}

/// Runs `command` on main's `store`.
pub async fn execute(store: &Store, command: &Command) -> Result<Outcome> {
    Ok(match command {
        Command::New { name, from } => {
            let origin = match from.as_deref() {
                None | Some("main") => View::Main,
                Some(s) => View::Session(SessionName::parse(s)?),
            };
            let info = store.sessions().create_session(name, &origin).await?;
            Outcome::Created(Created {
                name: info.name.to_string(),
                origin: info.origin,
                base_snapshot: info.base_snapshot,
                created: info.created.to_rfc3339(),
            })
        }
        Command::List => Outcome::Listed(list(store).await?),
        Command::Remove { name, .. } => {
            store.sessions().remove_session(name).await?;
            Outcome::Removed(Removed { removed: name.to_string() })
        }
        Command::Diff { name, units } => Outcome::Diff(diff(store, name, *units).await?),
        Command::Merge { name, options, message } => Outcome::Merged(
            merge_with(&store.main().await?, name, *options, message.as_deref()).await?,
        ),
        Command::Conflicts { name } => Outcome::Conflicts(conflicts(store, name).await?),
        Command::Claim { name, targets } => {
            store.sessions().claim(name, targets).await?;
            Outcome::Claimed(Claimed { session: name.to_string(), claimed: targets.clone() })
        }
        Command::Release { name, targets } => {
            let released = store.sessions().release(name, targets).await?;
            Outcome::Released(Released { session: name.to_string(), released })
        }
        Command::Who { target } => Outcome::Who(who(store, target.as_deref()).await?),
        Command::Token(command) => Outcome::Token(crate::token::execute(store, command).await?),
        Command::Note { session, command } => {
            // Without a service (its model and its graph kept current):
            // keyword recall, on the graph as last indexed.
            let outcome = match session {
                Some(name) => {
                    let view = store.sessions().session(name).await?;
                    crate::notes::execute(&view, None, command).await?
                }
                None => crate::notes::execute(&store.with_main().await?, None, command).await?,
            };
            Outcome::Note(outcome)
        }
    })
}
