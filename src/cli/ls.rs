//! `cortex ls [PATH]`: list a directory of main, or show one entry.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use anyhow::Result;
use cortex::snapshot::{self, Resolved, join};
use cortex::tree::{Entry, EntryKind};

use cortex::store::Store;

use super::Context;
use super::output::{display_name, entry_json, mode_string, print_json, time_string};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A path from the tree's root (default: the root).
    #[arg(default_value = "")]
    pub path: OsString,
    /// Print entries as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cx: &Context, args: Args) -> Result<ExitCode> {
    cx.with_store(async |store| show(store, args).await).await
}

async fn show(store: &Store, args: Args) -> Result<ExitCode> {
    let head = store.head().await?;
    let path = args.path.as_bytes();
    let parts = snapshot::split_path(path)?;
    let base: Vec<u8> = parts.join(&b'/');
    let listing: Vec<(Vec<u8>, Entry)> = match snapshot::resolve(store, head.root, path).await? {
        Resolved::Root(tree) => {
            tree.into_entries().into_iter().map(|e| (e.name.clone(), e)).collect()
        }
        Resolved::Entry(entry) => match entry.kind {
            EntryKind::Dir { tree } => store
                .load_tree(tree)
                .await?
                .into_entries()
                .into_iter()
                .map(|e| (join(&base, &e.name), e))
                .collect(),
            _ => vec![(base.clone(), entry)],
        },
    };
    if args.json {
        let items: Vec<_> = listing.iter().map(|(p, e)| entry_json(p, e)).collect();
        print_json(&serde_json::Value::Array(items))?;
        return Ok(ExitCode::SUCCESS);
    }
    for (_, entry) in &listing {
        let size = match entry.kind {
            EntryKind::File { size, .. } => size.to_string(),
            _ => "-".into(),
        };
        let name = display_name(&entry.name);
        let shown = match &entry.kind {
            EntryKind::Dir { .. } => format!("{name}/"),
            EntryKind::Symlink { target } => format!("{name} -> {}", display_name(target)),
            EntryKind::File { .. } => name,
        };
        println!("{} {:>10} {} {}", mode_string(entry), size, time_string(entry.mtime.sec), shown);
    }
    Ok(ExitCode::SUCCESS)
}
