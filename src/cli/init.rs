//! `cortex init [DIR]`: create DIR's store and import DIR.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use cortex::store::{OpenOptions, STORE_DIR, Store, StoreLocation};

use super::Context;
use super::import::{WalkArgs, import_with_progress, print_report, transfer_info};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The tree to import; its store goes in DIR/.cortex.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub walk: WalkArgs,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cx: &Context, args: Args) -> Result<ExitCode> {
    if !args.dir.is_dir() {
        bail!("cannot init {}: not a directory", args.dir.display());
    }
    let home = std::fs::canonicalize(&args.dir)?;
    let location = match &cx.store {
        Some(spec) => StoreLocation::parse(spec)?,
        None => StoreLocation::Embedded(home.join(STORE_DIR)),
    };
    if let StoreLocation::Embedded(dir) = &location
        && dir.join("store").exists()
    {
        bail!(
            "{} already has a cortex store at {}; use `cortex import {}` to re-import",
            home.display(),
            dir.display(),
            args.dir.display()
        );
    }
    let store =
        Store::open(&location, OpenOptions { create: true, ..OpenOptions::default() }).await?;
    let report = match store.meta_set("home", &home.to_string_lossy()).await {
        Ok(()) => import_with_progress(&store, &home, &args.walk, "init").await,
        Err(e) => Err(e.into()),
    };
    store.close().await;
    let (report, index) = report?;
    if !args.json {
        println!("initialised cortex store at {location}");
    }
    let mut info = transfer_info(&report);
    info.index = index;
    print_report(&info, args.json)?;
    Ok(ExitCode::SUCCESS)
}
