//! `cortex note add|list|rm`, `cortex recall` and `cortex history`: notes
//! attached to the code, found again by meaning, and a unit's changes with
//! the merges' messages ([`cortex::notes`]).

use std::process::ExitCode;

use anyhow::{Result, bail};
use cortex::notes::{Filter, Note, NoteCommand, NoteOutcome, UnitHistory};
use cortex::session::{Command, Outcome};

use super::Context;
use super::output::{esc, print_json};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: NoteArgs,
}

#[derive(Debug, clap::Subcommand)]
enum NoteArgs {
    /// Remember something about the code (why it is so, what was tried).
    Add {
        text: String,
        /// A unit it is about (an id, as `cortex graph find` gives); again for more.
        #[arg(long = "unit", value_name = "ID")]
        units: Vec<String>,
        /// A file it is about; again for more.
        #[arg(long = "path", value_name = "PATH")]
        paths: Vec<String>,
        /// A tag to find it by; again for more.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// The notes, newest first (those on a unit, a file or with a tag).
    List {
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, short = 'n', default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Remove a note by its id.
    Rm {
        id: String,
        #[command(flatten)]
        common: Common,
    },
}

/// What every note command takes.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// The session's notes (and main's, under them); default: main.
    #[arg(long, value_name = "NAME")]
    session: Option<String>,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct FilterArgs {
    /// Only notes on this unit.
    #[arg(long, value_name = "ID")]
    unit: Option<String>,
    /// Only notes on this file.
    #[arg(long, value_name = "PATH")]
    path: Option<String>,
    /// Only notes with this tag.
    #[arg(long, value_name = "TAG")]
    tag: Option<String>,
}

impl FilterArgs {
    fn filter(self) -> Filter {
        Filter { unit: self.unit, path: self.path, tag: self.tag }
    }
}

/// `cortex recall QUESTION`.
#[derive(Debug, clap::Args)]
pub struct RecallArgs {
    /// A question in words ("why does upload retry three times").
    query: String,
    #[command(flatten)]
    filter: FilterArgs,
    #[arg(long, short = 'n', default_value_t = 10)]
    limit: usize,
    #[command(flatten)]
    common: Common,
}

/// `cortex history UNIT`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The unit's id (`src/upload.rs::Uploader::send`).
    unit: String,
    /// At most this many changes.
    #[arg(long, short = 'n', default_value_t = 20)]
    limit: usize,
    #[command(flatten)]
    common: Common,
}

async fn call(cx: &Context, session: Option<String>, command: NoteCommand) -> Result<NoteOutcome> {
    let session = session.as_deref().map(str::parse).transpose()?;
    let command = Command::Note { session, command };
    match cx.with_service(async |svc| Ok(svc.session(command).await?)).await? {
        Outcome::Note(outcome) => Ok(outcome),
        _ => bail!("a note command got another answer"),
    }
}

pub async fn run(cx: &Context, args: Args) -> Result<ExitCode> {
    match args.command {
        NoteArgs::Add { text, units, paths, tags, common } => {
            let command = NoteCommand::Add { text, units, paths, tags };
            let NoteOutcome::Added(note) = call(cx, common.session, command).await? else {
                bail!("adding a note got another answer");
            };
            if common.json {
                print_json(&note)?;
            } else {
                println!("note {} remembered in {}", note.id, note.view);
            }
        }
        NoteArgs::List { filter, limit, common } => {
            let command = NoteCommand::List { filter: filter.filter(), limit };
            let NoteOutcome::Listed(notes) = call(cx, common.session, command).await? else {
                bail!("listing notes got another answer");
            };
            print_notes(&notes, common.json)?;
        }
        NoteArgs::Rm { id, common } => {
            let command = NoteCommand::Remove { id };
            let NoteOutcome::Removed { id } = call(cx, common.session, command).await? else {
                bail!("removing a note got another answer");
            };
            if common.json {
                print_json(&serde_json::json!({ "removed": id }))?;
            } else {
                println!("note {id} removed");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn recall(cx: &Context, args: RecallArgs) -> Result<ExitCode> {
    let command =
        NoteCommand::Recall { query: args.query, filter: args.filter.filter(), limit: args.limit };
    let NoteOutcome::Recalled(notes) = call(cx, args.common.session, command).await? else {
        bail!("recall got another answer");
    };
    print_notes(&notes, args.common.json)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn history(cx: &Context, args: HistoryArgs) -> Result<ExitCode> {
    let command = NoteCommand::History { unit: args.unit, limit: args.limit };
    let NoteOutcome::History(history) = call(cx, args.common.session, command).await? else {
        bail!("history got another answer");
    };
    if args.common.json {
        print_json(&history)?;
    } else {
        print_history(&history);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_notes(notes: &[Note], json: bool) -> Result<()> {
    if json {
        return print_json(&notes);
    }
    if notes.is_empty() {
        println!("no notes");
    }
    for n in notes {
        let mut head = format!("{}  {}", n.id, short_time(&n.created));
        if n.kind != "note" {
            head.push_str(&format!("  [{}]", n.kind));
        }
        if n.view != "main" || n.origin.is_some() {
            head.push_str(&format!("  ({})", n.origin.as_deref().unwrap_or("main")));
        }
        if let Some(score) = n.score {
            head.push_str(&format!("  score {score:.3}"));
        }
        println!("{head}");
        for line in n.text.lines() {
            println!("    {}", esc(line));
        }
        for on in n.units.iter().chain(&n.paths) {
            println!("    on {}", esc(on));
        }
        if !n.tags.is_empty() {
            println!("    tags {}", n.tags.join(", "));
        }
        for gone in &n.gone {
            println!("    ORPHANED: {} is gone; its last text:", esc(&gone.target));
            for line in gone.last_text.as_deref().unwrap_or_default().lines().take(8) {
                println!("      | {}", esc(line));
            }
        }
    }
    Ok(())
}

fn print_history(h: &UnitHistory) {
    println!("{}", h.unit);
    if h.changes.is_empty() {
        println!("  no changes in the snapshots looked through");
    }
    for c in &h.changes {
        let snapshot = c.snapshot.map_or("  -  ".to_owned(), |s| format!("#{s:<4}"));
        println!(
            "  {snapshot} {}  {:<8} {:<7} {}",
            short_time(&c.time),
            c.change,
            c.source,
            esc(&c.message)
        );
        for intent in &c.intents {
            println!("        why: {}", esc(intent));
        }
    }
    if !h.notes.is_empty() {
        println!("notes:");
        for n in &h.notes {
            println!("  {}  {}", n.id, esc(n.text.lines().next().unwrap_or_default()));
        }
    }
}

fn short_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| rfc3339.to_owned())
}
