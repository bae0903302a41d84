//! `cortex import DIR`: import or re-import a directory into main.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use cortex::import::{ImportOptions, ImportReport, Progress};
use cortex::service::control::TransferInfo;
use cortex::store::Store;
use indicatif::{ProgressBar, ProgressStyle};

use super::Context;
use super::output::{human_bytes, print_json};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory to import.
    pub dir: PathBuf,
    #[command(flatten)]
    pub walk: WalkArgs,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options shared by `init` and `import`.
#[derive(Debug, clap::Args)]
pub struct WalkArgs {
    /// Import .git/ too (skipped by default).
    #[arg(long)]
    pub include_git: bool,
    /// Take every file, ignoring .gitignore and .ignore rules.
    #[arg(long)]
    pub no_ignore: bool,
}

pub async fn run(cx: &Context, args: Args) -> Result<ExitCode> {
    let dir = std::path::absolute(&args.dir)?;
    // The store of the current directory, or failing that the one of DIR.
    let cwd = std::env::current_dir()?;
    let location = cx.locate(&cwd).or_else(|_| cx.locate(&args.dir))?;
    let options = ImportOptions {
        include_git: args.walk.include_git,
        no_ignore: args.walk.no_ignore,
        source: "import".to_owned(),
    };
    // A daemon holding the store imports for us, and its mounts follow.
    let info = super::with_service_at(location, async |svc| {
        let bar = Arc::new(Spinner::new());
        let info = svc.import(dir, options, bar.clone()).await;
        bar.0.finish_and_clear();
        Ok(info?)
    })
    .await?;
    print_report(&info, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs an import with a spinner on a terminal.
pub async fn import_with_progress(
    store: &Store,
    dir: &Path,
    walk: &WalkArgs,
    source: &str,
) -> Result<(ImportReport, Option<cortex::index::IndexReport>)> {
    let options = ImportOptions {
        include_git: walk.include_git,
        no_ignore: walk.no_ignore,
        source: source.to_owned(),
    };
    let bar = Arc::new(Spinner::new());
    let report = cortex::import::import(store, dir, &options, bar.clone()).await;
    bar.0.finish_and_clear();
    let report = report?;
    // The code graph follows main (derived data: a failure here loses no
    // import, and the next index catches up). The search rows follow in
    // the background or at the next search: on a large tree they take
    // minutes (writing a row per unit), which an import must not wait for.
    let index = match cortex::index::index_head(store).await {
        Ok(index) => Some(index),
        Err(e) => {
            eprintln!("cortex: the import landed, but indexing its code failed: {e}");
            None
        }
    };
    Ok((report, index))
}

/// An import's report in the form the daemon sends it.
pub fn transfer_info(report: &ImportReport) -> TransferInfo {
    TransferInfo::from_import(report)
}

/// Prints the summary line (always) or JSON.
pub fn print_report(report: &TransferInfo, json: bool) -> Result<()> {
    if json {
        return print_json(&serde_json::json!({
            "files": report.files,
            "dirs": report.dirs,
            "symlinks": report.symlinks,
            "bytes": report.bytes,
            "seconds": report.seconds,
            "skipped": report.skipped,
            "snapshot": report.snapshot.as_ref().map(|s| serde_json::json!({
                "id": s.id, "added": s.added, "modified": s.modified, "deleted": s.deleted,
            })),
            "index": report.index,
        }));
    }
    for path in &report.skipped {
        eprintln!("cortex: skipped {path} (not a regular file, directory or symlink)");
    }
    let change = match &report.snapshot {
        Some(s) => format!("snapshot #{} (+{} ~{} -{})", s.id, s.added, s.modified, s.deleted),
        None => "no change".to_owned(),
    };
    println!(
        "imported {} files, {} dirs, {} symlinks ({}) in {:.2} s: {}",
        report.files,
        report.dirs,
        report.symlinks,
        human_bytes(report.bytes),
        report.seconds,
        change
    );
    if let Some(i) = &report.index
        && (i.parsed > 0 || i.removed > 0)
    {
        let errors = if i.with_errors > 0 {
            format!(", {} with syntax errors (what parsed is kept)", i.with_errors)
        } else {
            String::new()
        };
        let skipped =
            if i.skipped > 0 { format!(", {} skipped", i.skipped) } else { String::new() };
        println!(
            "indexed {} code files ({} units, {} edges) in {:.2} s{errors}{skipped}",
            i.parsed, i.units, i.edges, i.seconds
        );
    }
    Ok(())
}

/// A spinner with running counts; hidden when stderr is not a terminal.
struct Spinner(ProgressBar, std::sync::atomic::AtomicU64);

impl Spinner {
    fn new() -> Spinner {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} importing: {pos} files, {msg}")
                .expect("static template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Spinner(bar, Default::default())
    }
}

impl Progress for Spinner {
    fn file(&self, bytes: u64) {
        let total = self.1.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed) + bytes;
        self.0.inc(1);
        if self.0.position().is_multiple_of(64) {
            self.0.set_message(human_bytes(total));
        }
    }
}
