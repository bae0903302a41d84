//! The session tools: fork, list, diff, merge, conflicts, claims.

use cortex::ids::SessionName;
use cortex::merge::ConflictRecord;
use cortex::session::{
    Claimed, Command, Created, FileDiff, MergeOptions, MergeReport, Outcome, Released,
    SessionSummary, Strategy, UnitChange, WhoReport,
};
use cortex::store::View;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::graph::{Walk, impact_of};
use crate::tool::{Cx, Effect, ITEMS_MAX, Short, Tool, ToolError};

/// The answer of the kind a command gets (`Outcome::$variant`).
macro_rules! answer {
    ($outcome:expr, $variant:ident) => {
        match $outcome {
            Outcome::$variant(v) => Ok(v),
            _ => Err(crate::tool::unexpected("session command")),
        }
    };
}

async fn run(cx: &Cx<'_>, command: Command) -> Result<Outcome, ToolError> {
    Ok(cx.service.session(command).await?)
}

/// Arguments naming at most a session.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionParams {
    /// The session; default: this server's session.
    session: Option<Short>,
}

/// No arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

pub struct SessionCreate;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionCreateParams {
    /// The new session's name, like `fix-retry`.
    name: Short,
    /// Fork from this session instead of main.
    from: Option<Short>,
}

impl Tool for SessionCreate {
    const NAME: &'static str = "session_create";
    const TITLE: &'static str = "Create a session";
    const DESCRIPTION: &'static str = "Fork a new copy-on-write session from main (or from another \
        session) in constant time. Names: lowercase letters, digits, - and _.";
    const EFFECT: Effect = Effect::Writes;
    type Params = SessionCreateParams;
    type Output = Created;

    async fn run(cx: &Cx<'_>, p: SessionCreateParams) -> Result<Created, ToolError> {
        let name = SessionName::parse(&p.name.0)?;
        answer!(run(cx, Command::New { name, from: p.from.map(|f| f.0) }).await?, Created)
    }
}

pub struct SessionList;

/// Every session.
#[derive(Serialize, JsonSchema)]
pub struct Sessions {
    sessions: Vec<SessionSummary>,
}

impl Tool for SessionList {
    const NAME: &'static str = "session_list";
    const TITLE: &'static str = "List sessions";
    const DESCRIPTION: &'static str = "Every session: where it came from, how old it is, how many \
        files it changed, where it is mounted.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = NoParams;
    type Output = Sessions;

    async fn run(cx: &Cx<'_>, _: NoParams) -> Result<Sessions, ToolError> {
        Ok(Sessions { sessions: answer!(run(cx, Command::List).await?, Listed)? })
    }
}

/// A session's changed files.
#[derive(Serialize, JsonSchema)]
pub struct SessionDiff {
    session: SessionName,
    /// Each file changed, with the units changed in each code file.
    files: Vec<FileDiff>,
}

async fn diff(cx: &Cx<'_>, name: &SessionName) -> Result<Vec<FileDiff>, ToolError> {
    answer!(run(cx, Command::Diff { name: name.clone(), units: true }).await?, Diff)
}

pub struct Diff;

impl Tool for Diff {
    const NAME: &'static str = "diff";
    const TITLE: &'static str = "Diff a session";
    const DESCRIPTION: &'static str = "The files a session changed against main (added, modified, \
        deleted), with the units changed in each code file.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = SessionParams;
    type Output = SessionDiff;

    async fn run(cx: &Cx<'_>, p: SessionParams) -> Result<SessionDiff, ToolError> {
        let session = cx.session_arg(Self::NAME, p.session)?;
        let files = diff(cx, &session).await?;
        Ok(SessionDiff { session, files })
    }
}

pub struct SessionChanges;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionChangesParams {
    /// The session; default: this server's session.
    session: Option<Short>,
    /// Impact depth; default 2.
    #[schemars(range(min = 1, max = 10))]
    depth: Option<u32>,
}

/// A session's changes and what depends on them.
#[derive(Serialize, JsonSchema)]
pub struct Changes {
    session: SessionName,
    files: Vec<FileDiff>,
    /// What depends on the units added or changed, by depth.
    impact: Walk,
}

impl Tool for SessionChanges {
    const NAME: &'static str = "session_changes";
    const TITLE: &'static str = "A session's changes and their impact";
    const DESCRIPTION: &'static str = "The code units a session added, changed or removed, and \
        what depends on them (grouped by depth, with the tests to run).";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = SessionChangesParams;
    type Output = Changes;

    async fn run(cx: &Cx<'_>, p: SessionChangesParams) -> Result<Changes, ToolError> {
        let session = cx.session_arg(Self::NAME, p.session)?;
        let files = diff(cx, &session).await?;
        let targets = files
            .iter()
            .flat_map(|f| &f.units)
            .filter(|u| u.change != UnitChange::Removed)
            .map(|u| u.id.clone())
            .take(ITEMS_MAX)
            .collect();
        let view = View::Session(session.clone());
        let impact = impact_of(cx, view, targets, p.depth.unwrap_or(2)).await?;
        Ok(Changes { session, files, impact })
    }
}

/// Merges (or, dry, previews) a session.
async fn merge(
    cx: &Cx<'_>,
    name: SessionName,
    dry_run: bool,
    (keep, strict, message): (bool, bool, Option<String>),
) -> Result<MergeReport, ToolError> {
    let options = MergeOptions {
        dry_run,
        strict,
        strategy: Strategy::Auto,
        // A server merging its own session goes on working in it.
        keep: keep || cx.session == Some(&name),
    };
    answer!(run(cx, Command::Merge { name, options, message }).await?, Merged)
}

pub struct MergePreview;

impl Tool for MergePreview {
    const NAME: &'static str = "merge_preview";
    const TITLE: &'static str = "Preview a merge";
    const DESCRIPTION: &'static str = "What merging a session into main would do, without doing \
        it: files taken, files merged with the rule that merged each (lines, units, insertions, \
        moved, settled: review those beyond lines), conflicts per unit (function) with both \
        sides, and warnings: calls kept to functions one side removed.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = SessionParams;
    type Output = MergeReport;

    async fn run(cx: &Cx<'_>, p: SessionParams) -> Result<MergeReport, ToolError> {
        merge(cx, cx.session_arg(Self::NAME, p.session)?, true, (false, false, None)).await
    }
}

pub struct Merge;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeParams {
    /// The session; default: this server's session.
    session: Option<Short>,
    /// Keep the session after a clean merge.
    #[serde(default)]
    keep: bool,
    /// Calls left to functions one side removed stop the merge as
    /// conflicts (otherwise they are warnings and the merge completes).
    #[serde(default)]
    strict: bool,
    /// Why the session exists (at most 8 KiB): main's snapshot message,
    /// and a note on the units it changed that `recall` and
    /// `unit_history` answer from.
    message: Option<String>,
}

impl Tool for Merge {
    const NAME: &'static str = "merge";
    const TITLE: &'static str = "Merge a session";
    const DESCRIPTION: &'static str = "Merge a session into main. Clean: main moves and the \
        session closes (unless keep, or it is this server's own session). Conflicts: nothing \
        changes; they are reported per unit and kept for the conflicts tool; settle them by \
        editing in the session and merge again.";
    const EFFECT: Effect = Effect::Destructive;
    type Params = MergeParams;
    type Output = MergeReport;

    async fn run(cx: &Cx<'_>, p: MergeParams) -> Result<MergeReport, ToolError> {
        merge(cx, cx.session_arg(Self::NAME, p.session)?, false, (p.keep, p.strict, p.message))
            .await
    }
}

pub struct Conflicts;

/// A session's conflicts.
#[derive(Serialize, JsonSchema)]
pub struct SessionConflicts {
    session: SessionName,
    /// Per unit (or file), with base, main's and the session's text.
    conflicts: Vec<ConflictRecord>,
}

impl Tool for Conflicts {
    const NAME: &'static str = "conflicts";
    const TITLE: &'static str = "A session's conflicts";
    const DESCRIPTION: &'static str = "The conflicts of a session's last merge attempt, per unit, \
        with base, main's and the session's text.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = SessionParams;
    type Output = SessionConflicts;

    async fn run(cx: &Cx<'_>, p: SessionParams) -> Result<SessionConflicts, ToolError> {
        let session = cx.session_arg(Self::NAME, p.session)?;
        let conflicts =
            answer!(run(cx, Command::Conflicts { name: session.clone() }).await?, Conflicts)?;
        Ok(SessionConflicts { session, conflicts })
    }
}

/// Targets for a session's claims.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimParams {
    /// File paths or unit ids.
    #[schemars(length(max = ITEMS_MAX))]
    targets: Vec<Short>,
    /// The session; default: this server's session.
    session: Option<Short>,
}

pub struct Claim;

impl Tool for Claim {
    const NAME: &'static str = "claim";
    const TITLE: &'static str = "Claim files or units";
    const DESCRIPTION: &'static str = "Tell other agents this session is working on these files \
        or units (advisory: who_is_editing and merges show it).";
    const EFFECT: Effect = Effect::Writes;
    type Params = ClaimParams;
    type Output = Claimed;

    async fn run(cx: &Cx<'_>, p: ClaimParams) -> Result<Claimed, ToolError> {
        let name = cx.session_arg(Self::NAME, p.session)?;
        if p.targets.is_empty() {
            return Err(ToolError::new("claim needs `targets`: file paths or unit ids"));
        }
        let targets = p.targets.into_iter().map(|t| t.0).collect();
        answer!(run(cx, Command::Claim { name, targets }).await?, Claimed)
    }
}

pub struct Release;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseParams {
    /// File paths or unit ids; default: all.
    #[serde(default)]
    #[schemars(length(max = ITEMS_MAX))]
    targets: Vec<Short>,
    /// The session; default: this server's session.
    session: Option<Short>,
}

impl Tool for Release {
    const NAME: &'static str = "release";
    const TITLE: &'static str = "Release claims";
    const DESCRIPTION: &'static str =
        "Release this session's claims on these targets (all of them when none are given).";
    const EFFECT: Effect = Effect::Writes;
    type Params = ReleaseParams;
    type Output = Released;

    async fn run(cx: &Cx<'_>, p: ReleaseParams) -> Result<Released, ToolError> {
        let name = cx.session_arg(Self::NAME, p.session)?;
        let targets = p.targets.into_iter().map(|t| t.0).collect();
        answer!(run(cx, Command::Release { name, targets }).await?, Released)
    }
}

pub struct WhoIsEditing;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhoParams {
    /// A file path or unit id; default: everything.
    target: Option<Short>,
}

impl Tool for WhoIsEditing {
    const NAME: &'static str = "who_is_editing";
    const TITLE: &'static str = "Who is editing what";
    const DESCRIPTION: &'static str = "Claims, the files and units each session has changed, and \
        where two sessions will conflict — for a target, or for the whole tree.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = WhoParams;
    type Output = WhoReport;

    async fn run(cx: &Cx<'_>, p: WhoParams) -> Result<WhoReport, ToolError> {
        answer!(run(cx, Command::Who { target: p.target.map(|t| t.0) }).await?, Who)
    }
}
