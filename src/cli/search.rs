//! `cortex search` and `cortex index`. Like the graph commands, they ask the
//! daemon when one holds the store (it keeps the model loaded and embeds in
//! the background), else work on the store in this process.

use std::process::ExitCode;

use anyhow::Result;
use cortex::search::{Mode, Progress, Results, Search};
use cortex::service::IndexState;
use indicatif::{ProgressBar, ProgressStyle};

use super::Context;
use super::output::{esc, print_json};

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// What to look for, in words ("where do we retry failed uploads").
    pub query: String,
    /// Search this session's view instead of main's.
    #[arg(long)]
    pub session: Option<String>,
    #[arg(long, value_enum, default_value = "hybrid")]
    pub mode: ModeArg,
    /// Only units in files matching this glob (`src/**/*.rs`).
    #[arg(long)]
    pub path: Option<String>,
    /// Only units of this kind (function, method, struct, class, …).
    #[arg(long)]
    pub kind: Option<String>,
    /// Only units in this language (rust, javascript, typescript, tsx, python).
    #[arg(long)]
    pub language: Option<String>,
    /// How many results (at most 200).
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// How results are ranked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// Keyword and semantic rankings fused.
    Hybrid,
    /// Nearest in meaning (the embedding model).
    Semantic,
    /// BM25 over names, identifiers, signatures and docs.
    Keyword,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Hybrid => Mode::Hybrid,
            ModeArg::Semantic => Mode::Semantic,
            ModeArg::Keyword => Mode::Keyword,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct IndexArgs {
    /// Index this session's view instead of main's.
    #[arg(long)]
    pub session: Option<String>,
    /// Wait until every unit is embedded, with a progress bar.
    #[arg(long)]
    pub wait: bool,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn search(cx: &Context, args: SearchArgs) -> Result<ExitCode> {
    let s = Search {
        query: args.query.clone(),
        mode: args.mode.into(),
        path: args.path.clone(),
        kind: args.kind.clone(),
        language: args.language.clone(),
        limit: args.limit.clamp(1, 200),
    };
    s.check()?;
    let view = super::view_of(&args.session)?;
    let results = cx.with_service(async |svc| Ok(svc.search(view, s).await?)).await?;
    print_results(&results, args.json)?;
    Ok(ExitCode::SUCCESS)
}

fn print_results(r: &Results, json: bool) -> Result<()> {
    if json {
        return print_json(&serde_json::json!({
            "results": r.hits,
            "units": r.units,
            "embedded": r.embedded,
            "note": r.note,
        }));
    }
    if r.hits.is_empty() {
        println!("no matching units");
    }
    for (i, h) in r.hits.iter().enumerate() {
        println!(
            "{:>2}. {} ({}) {}:{}  score {:.4}",
            i + 1,
            esc(&h.id),
            h.kind,
            esc(&h.file),
            h.line,
            h.score
        );
        if !h.signature.is_empty() {
            println!("    {}", esc(&h.signature));
        }
    }
    println!("{}", coverage(r.units, r.embedded));
    if let Some(note) = &r.note {
        println!("note: {note}");
    }
    Ok(())
}

fn coverage(units: u64, embedded: u64) -> String {
    let share = if units == 0 { 100.0 } else { embedded as f64 * 100.0 / units as f64 };
    let rest = if embedded < units { " (`cortex index --wait` embeds the rest)" } else { "" };
    format!("embedded: {embedded} of {units} units ({share:.0}%){rest}")
}

pub async fn index(cx: &Context, args: IndexArgs) -> Result<ExitCode> {
    let view = super::view_of(&args.session)?;
    let state = cx
        .with_service(async |svc| {
            if !args.wait {
                return Ok(svc.index(view).await?);
            }
            let bar = std::sync::Mutex::new(None::<ProgressBar>);
            let state = svc
                .embed_all(view, &|p| {
                    let mut bar = bar.lock().unwrap();
                    let bar = bar.get_or_insert_with(|| progress_bar(p));
                    bar.set_length(p.units);
                    bar.set_position(p.embedded);
                })
                .await;
            if let Some(bar) = bar.lock().unwrap().take() {
                bar.finish_and_clear();
            }
            Ok(state?)
        })
        .await?;
    let IndexState { report, progress, note } = state;
    if args.json {
        print_json(&serde_json::json!({
            "graph": report,
            "units": progress.units,
            "embedded": progress.embedded,
            "note": note,
        }))?;
    } else {
        println!(
            "code graph: {} files parsed, {} removed, {} units, {} edges",
            report.parsed, report.removed, report.units, report.edges
        );
        println!("{}", coverage(progress.units, progress.embedded));
        if let Some(note) = &note {
            println!("note: {note}");
        }
    }
    // Waiting for vectors that cannot come is a failure the caller should see.
    Ok(if args.wait && note.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn progress_bar(p: Progress) -> ProgressBar {
    let bar = ProgressBar::new(p.units);
    bar.set_style(
        ProgressStyle::with_template("embedding {bar:30} {pos}/{len} units, {per_sec}, eta {eta}")
            .expect("static template"),
    );
    bar.set_position(p.embedded);
    bar
}
