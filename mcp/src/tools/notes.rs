//! The memory tools: remember, recall, forget, notes_of, unit_history.
//! Notes live in the server's view (a session's stay private to it until
//! it merges); see [`cortex::notes`].

use cortex::notes::{Filter, Note, NoteCommand, NoteOutcome, UnitHistory};
use cortex::session::{Command, Outcome};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::tool::{Cx, Effect, Short, Tool, ToolError};

async fn run(cx: &Cx<'_>, command: NoteCommand) -> Result<NoteOutcome, ToolError> {
    let command = Command::Note { session: cx.session.cloned(), command };
    match cx.service.session(command).await? {
        Outcome::Note(outcome) => Ok(outcome),
        _ => Err(crate::tool::unexpected("note command")),
    }
}

/// Notes, best or newest first.
#[derive(Serialize, JsonSchema)]
pub struct Notes {
    notes: Vec<Note>,
}

pub struct Remember;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RememberParams {
    /// What to remember: why the code is so, what was tried and
    /// abandoned, what is fragile, what the person asked for (at most
    /// 8 KiB).
    text: String,
    /// Unit ids it is about (`src/upload.rs::Uploader::send`).
    #[serde(default)]
    #[schemars(length(max = 32))]
    units: Vec<Short>,
    /// Files it is about.
    #[serde(default)]
    #[schemars(length(max = 32))]
    paths: Vec<Short>,
    /// Tags to find it by (`fragile`, `decision`).
    #[serde(default)]
    #[schemars(length(max = 32))]
    tags: Vec<Short>,
}

impl Tool for Remember {
    const NAME: &'static str = "remember";
    const TITLE: &'static str = "Remember a note";
    const DESCRIPTION: &'static str = "Store a note about the code for later agents: attached to \
        units and files, it follows them through edits, renames and moves (a note whose unit is \
        deleted is kept, marked orphaned, with the unit's last text). A session's notes join \
        main when it merges.";
    const EFFECT: Effect = Effect::Writes;
    type Params = RememberParams;
    type Output = Note;

    async fn run(cx: &Cx<'_>, p: RememberParams) -> Result<Note, ToolError> {
        let strings = |v: Vec<Short>| v.into_iter().map(|s| s.0).collect();
        let command = NoteCommand::Add {
            text: p.text,
            units: strings(p.units),
            paths: strings(p.paths),
            tags: strings(p.tags),
        };
        match run(cx, command).await? {
            NoteOutcome::Added(note) => Ok(*note),
            _ => Err(crate::tool::unexpected("remember")),
        }
    }
}

pub struct Recall;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallParams {
    /// A question in words: `why does upload retry three times?`.
    query: Short,
    /// Only notes on this unit id.
    unit: Option<Short>,
    /// Only notes on this file.
    path: Option<Short>,
    /// Only notes with this tag.
    tag: Option<Short>,
    /// How many; default 10.
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
}

impl Tool for Recall {
    const NAME: &'static str = "recall";
    const TITLE: &'static str = "Recall notes";
    const DESCRIPTION: &'static str = "Find notes by meaning and keywords (the same local model \
        and BM25 as code search): notes left by earlier agents and people, and the messages of \
        merges (kind `intent`, with the units they changed). In a session: its notes and \
        main's.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = RecallParams;
    type Output = Notes;

    async fn run(cx: &Cx<'_>, p: RecallParams) -> Result<Notes, ToolError> {
        let filter = Filter {
            unit: p.unit.map(|s| s.0),
            path: p.path.map(|s| s.0),
            tag: p.tag.map(|s| s.0),
        };
        let command =
            NoteCommand::Recall { query: p.query.0, filter, limit: p.limit.unwrap_or(10) as usize };
        match run(cx, command).await? {
            NoteOutcome::Recalled(notes) => Ok(Notes { notes }),
            _ => Err(crate::tool::unexpected("recall")),
        }
    }
}

pub struct Forget;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetParams {
    /// The note's id (`n3f2a9c01d4e7`).
    id: Short,
}

/// A note removed.
#[derive(Serialize, JsonSchema)]
pub struct Forgotten {
    removed: String,
}

impl Tool for Forget {
    const NAME: &'static str = "forget";
    const TITLE: &'static str = "Forget a note";
    const DESCRIPTION: &'static str = "Remove a note of this server's view by its id.";
    const EFFECT: Effect = Effect::Destructive;
    type Params = ForgetParams;
    type Output = Forgotten;

    async fn run(cx: &Cx<'_>, p: ForgetParams) -> Result<Forgotten, ToolError> {
        match run(cx, NoteCommand::Remove { id: p.id.0 }).await? {
            NoteOutcome::Removed { id } => Ok(Forgotten { removed: id }),
            _ => Err(crate::tool::unexpected("forget")),
        }
    }
}

pub struct NotesOf;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotesOfParams {
    /// A unit's id.
    unit: Option<Short>,
    /// A file's path.
    path: Option<Short>,
    /// How many; default 50.
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
}

impl Tool for NotesOf {
    const NAME: &'static str = "notes_of";
    const TITLE: &'static str = "Notes on a unit or file";
    const DESCRIPTION: &'static str = "The notes attached to a unit or a file, newest first: read \
        them before changing it.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = NotesOfParams;
    type Output = Notes;

    async fn run(cx: &Cx<'_>, p: NotesOfParams) -> Result<Notes, ToolError> {
        if p.unit.is_none() && p.path.is_none() {
            return Err(ToolError::new("notes_of needs `unit` or `path`"));
        }
        let filter = Filter { unit: p.unit.map(|s| s.0), path: p.path.map(|s| s.0), tag: None };
        let command = NoteCommand::List { filter, limit: p.limit.unwrap_or(50) as usize };
        match run(cx, command).await? {
            NoteOutcome::Listed(notes) => Ok(Notes { notes }),
            _ => Err(crate::tool::unexpected("notes_of")),
        }
    }
}

pub struct History;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// A unit's id.
    unit: Short,
    /// How many changes; default 20.
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
}

impl Tool for History {
    const NAME: &'static str = "unit_history";
    const TITLE: &'static str = "A unit's history";
    const DESCRIPTION: &'static str = "A unit's changes across main's snapshots and merges, newest \
        first, with each snapshot's message and the merges' intents, and the notes on it.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = HistoryParams;
    type Output = UnitHistory;

    async fn run(cx: &Cx<'_>, p: HistoryParams) -> Result<UnitHistory, ToolError> {
        let command =
            NoteCommand::History { unit: p.unit.0, limit: p.limit.unwrap_or(20) as usize };
        match run(cx, command).await? {
            NoteOutcome::History(history) => Ok(history),
            _ => Err(crate::tool::unexpected("unit_history")),
        }
    }
}
