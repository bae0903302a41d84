//! `cortex ls [PATH]`: list a directory of main, or show one entry.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use anyhow::Result;
use cortex::tree::{Entry, EntryKind};

use super::Context;
use super::output::{display_name, entry_json, esc, mode_string, print_json, time_string};

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
    let path = args.path.as_bytes().to_vec();
    let entries = cx.with_service(async |svc| Ok(svc.ls(path).await?)).await?;
    let listing: Vec<(Vec<u8>, Entry)> =
        entries.iter().map(|e| Ok((e.path.clone(), e.entry()?))).collect::<Result<_>>()?;
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
        let name = esc(&name);
        let shown = match &entry.kind {
            EntryKind::Dir { .. } => format!("{name}/"),
            EntryKind::Symlink { target } => format!("{name} -> {}", esc(&display_name(target))),
            EntryKind::File { .. } | EntryKind::Special { .. } => name.into_owned(),
        };
        println!("{} {:>10} {} {}", mode_string(entry), size, time_string(entry.mtime.sec), shown);
    }
    Ok(ExitCode::SUCCESS)
}
