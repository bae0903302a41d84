//! `cortex session new|list|rm`, `cortex diff`, `cortex merge` and
//! `cortex conflicts`: through the daemon when one holds the store, else on
//! the store directly (`session::execute` either way).

use std::process::ExitCode;

use anyhow::{Result, bail};
use cortex::merge::ConflictRecord;
use cortex::session::{Command, FileOp, MergeOptions, Outcome, Strategy};

use super::Context;
use super::output::{esc, print_json};

#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    #[command(subcommand)]
    command: SessionCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SessionCommand {
    /// Fork a session from main (or from another session) at its head.
    New {
        name: String,
        /// `main` or a session's name.
        #[arg(long, default_value = "main")]
        from: String,
        #[arg(long)]
        json: bool,
    },
    /// The sessions: name, base, changed files, age.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a session and what it changed (refused while it is mounted).
    Rm {
        name: String,
        /// Unmount its mounts first.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The session.
    name: String,
    /// Counts only.
    #[arg(long)]
    stat: bool,
    /// Also the units of code files added, removed or changed.
    #[arg(long)]
    units: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The session.
    name: String,
    /// Show what would happen; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// How conflicts are settled: stop on them (auto), or take main's side
    /// (ours) or the session's (theirs).
    #[arg(long, value_enum, default_value = "auto")]
    strategy: StrategyArg,
    /// Keep the session after a clean merge, rebased on the new main.
    #[arg(long)]
    keep: bool,
    /// Calls the merge would keep to functions one side removed or renamed
    /// are conflicts (by default: warnings, and the merge completes).
    #[arg(long)]
    strict: bool,
    /// Why the session exists: main's snapshot message, and a note on the
    /// units it changed (`cortex recall`, `cortex history` find it).
    #[arg(long, short = 'm', value_name = "TEXT")]
    message: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum StrategyArg {
    Auto,
    Ours,
    Theirs,
}

#[derive(Debug, clap::Args)]
pub struct ConflictsArgs {
    /// The session.
    name: String,
    #[arg(long)]
    json: bool,
}

/// Runs a session command.
async fn call(cx: &Context, command: Command) -> Result<Outcome> {
    cx.with_service(async |svc| Ok(svc.session(command).await?)).await
}

/// The answer of the kind a command gets (`Outcome::$variant`).
macro_rules! answer {
    ($outcome:expr, $variant:ident) => {
        match $outcome {
            Outcome::$variant(v) => v,
            other => bail!("a session command got another answer: {other:?}"),
        }
    };
}

pub async fn session(cx: &Context, args: SessionArgs) -> Result<ExitCode> {
    match args.command {
        SessionCommand::New { name, from, json } => {
            let created = answer!(
                call(cx, Command::New { name: name.parse()?, from: Some(from) }).await?,
                Created
            );
            if json {
                print_json(&created)?;
            } else {
                println!(
                    "session {name} forked from {} at snapshot #{}",
                    created.origin, created.base_snapshot
                );
            }
        }
        SessionCommand::List { json } => {
            let list = answer!(call(cx, Command::List).await?, Listed);
            if json {
                print_json(&list)?;
            } else {
                if list.is_empty() {
                    println!("no sessions");
                }
                for s in list {
                    let at = if s.mounted.is_empty() {
                        String::new()
                    } else {
                        format!("  mounted at {}", s.mounted.join(", "))
                    };
                    println!(
                        "{:<20} from {}#{:<5} {:>5} changed files  {} old{at}",
                        s.name,
                        s.origin,
                        s.base_snapshot,
                        s.changed_files,
                        age(s.age_seconds)
                    );
                }
            }
        }
        SessionCommand::Rm { name, force } => {
            call(cx, Command::Remove { name: name.parse()?, force }).await?;
            println!("session {name} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

pub async fn diff(cx: &Context, args: DiffArgs) -> Result<ExitCode> {
    let files = answer!(
        call(cx, Command::Diff { name: args.name.parse()?, units: args.units }).await?,
        Diff
    );
    if args.json {
        print_json(&files)?;
        return Ok(ExitCode::SUCCESS);
    }
    let count = |op: FileOp| files.iter().filter(|f| f.op == op).count();
    if args.stat {
        println!(
            "{} files changed: {} added, {} modified, {} deleted",
            files.len(),
            count(FileOp::Added),
            count(FileOp::Modified),
            count(FileOp::Deleted)
        );
        return Ok(ExitCode::SUCCESS);
    }
    for f in &files {
        let mark = match f.op {
            FileOp::Added => "A",
            FileOp::Deleted => "D",
            FileOp::Modified => "M",
        };
        println!("{mark} {}", esc(&f.path));
        for u in &f.units {
            println!("    {:<8} {} {}", u.change, u.kind, esc(&u.id));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn merge(cx: &Context, args: MergeArgs) -> Result<ExitCode> {
    let strategy = match args.strategy {
        StrategyArg::Auto => Strategy::Auto,
        StrategyArg::Ours => Strategy::Ours,
        StrategyArg::Theirs => Strategy::Theirs,
    };
    let options =
        MergeOptions { dry_run: args.dry_run, strategy, keep: args.keep, strict: args.strict };
    let report = answer!(
        call(cx, Command::Merge { name: args.name.parse()?, options, message: args.message })
            .await?,
        Merged
    );
    if args.json {
        print_json(&report)?;
    } else {
        for p in &report.taken {
            println!("taken   {}", esc(p));
        }
        for p in &report.merged {
            match report.rules.get(p) {
                Some(rule) => println!("merged  {} ({rule})", esc(p)),
                None => println!("merged  {}", esc(p)),
            }
        }
        print_conflicts(&report.conflicts);
        for w in &report.warnings {
            println!(
                "warning: {} (line {}) calls {}, which {} removed (--strict makes this a conflict)",
                esc(&w.caller),
                w.line,
                esc(&w.callee),
                w.removed_by.as_str()
            );
        }
        for (dir, paths) in &report.left_in_watched {
            for p in paths {
                println!(
                    "left    {} in watched {} (changed there since Cortex last saw it)",
                    esc(p),
                    esc(dir)
                );
            }
        }
        match (&report.conflicts.is_empty(), report.dry_run, report.snapshot) {
            (false, _, _) => println!(
                "{} conflicts; main unchanged. Edit them in session {} and merge again, or use --strategy ours|theirs",
                report.conflicts.len(),
                report.session
            ),
            (true, true, _) => println!("dry run: would merge cleanly"),
            (true, false, Some(s)) => println!(
                "merged session {} into main: snapshot #{s}{}",
                report.session,
                if report.closed { "; session closed" } else { "; session kept, rebased" }
            ),
            (true, false, None) => println!("nothing to merge"),
        }
    }
    Ok(if report.complete() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn print_conflicts(conflicts: &[ConflictRecord]) {
    for c in conflicts {
        if c.unit == c.path {
            println!("CONFLICT ({}) {}", c.kind, esc(&c.path));
        } else {
            println!("CONFLICT ({}) {} in {}", c.kind, esc(&c.unit), esc(&c.path));
        }
    }
}

pub async fn conflicts(cx: &Context, args: ConflictsArgs) -> Result<ExitCode> {
    let conflicts =
        answer!(call(cx, Command::Conflicts { name: args.name.parse()? }).await?, Conflicts);
    if args.json {
        print_json(&conflicts)?;
        return Ok(ExitCode::SUCCESS);
    }
    if conflicts.is_empty() {
        println!("no conflicts");
    }
    for c in &conflicts {
        print_conflicts(std::slice::from_ref(c));
        for (side, text) in
            [("base", &c.sides.base), ("main", &c.sides.ours), ("session", &c.sides.theirs)]
        {
            println!("  --- {side}");
            match text {
                Some(t) => t.lines().for_each(|l| println!("  | {l}")),
                None => println!("  (absent or binary)"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct ClaimArgs {
    /// The session claiming.
    name: String,
    /// Files (tree paths) or unit ids.
    #[arg(required = true)]
    targets: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ReleaseArgs {
    /// The session releasing.
    name: String,
    /// What to release (default: all its claims).
    targets: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct WhoArgs {
    /// A file, a unit id, or a prefix of them (default: everything).
    target: Option<String>,
    #[arg(long)]
    json: bool,
}

pub async fn claim(cx: &Context, args: ClaimArgs) -> Result<ExitCode> {
    call(cx, Command::Claim { name: args.name.parse()?, targets: args.targets.clone() }).await?;
    for t in &args.targets {
        println!("{} claims {}", args.name, esc(t));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn release(cx: &Context, args: ReleaseArgs) -> Result<ExitCode> {
    let released = answer!(
        call(cx, Command::Release { name: args.name.parse()?, targets: args.targets }).await?,
        Released
    );
    println!("{} released {} claims", args.name, released.released);
    Ok(ExitCode::SUCCESS)
}

pub async fn who(cx: &Context, args: WhoArgs) -> Result<ExitCode> {
    let report = answer!(call(cx, Command::Who { target: args.target }).await?, Who);
    if args.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    for c in &report.claims {
        println!("claimed  {:<40} by {}", esc(&c.target), c.session);
    }
    for e in &report.editing {
        println!("changed  {:<40} in {}", esc(&e.target), e.sessions.join(", "));
    }
    for e in &report.ahead {
        println!(
            "AHEAD    {:<40} {} meet here: a conflict ahead",
            e.target,
            e.sessions.join(" and ")
        );
    }
    if report.claims.is_empty() && report.editing.is_empty() {
        println!("nobody");
    }
    Ok(ExitCode::SUCCESS)
}
