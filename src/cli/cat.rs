//! `cortex cat PATH`: a file of main, byte for byte, on stdout.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use anyhow::{Result, bail};
use cortex::snapshot::{self, Resolved};
use cortex::tree::EntryKind;

use cortex::store::Store;

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A file's path from the tree's root.
    pub path: OsString,
}

pub async fn run(cx: &Context, args: Args) -> Result<ExitCode> {
    cx.with_store(async |store| show(store, args).await).await
}

async fn show(store: &Store, args: Args) -> Result<ExitCode> {
    let head = store.head().await?;
    let shown = args.path.to_string_lossy();
    match snapshot::resolve(store, head.root, args.path.as_bytes()).await? {
        Resolved::Root(_) => bail!("{shown}: is a directory"),
        Resolved::Entry(entry) => match entry.kind {
            EntryKind::File { content, .. } => {
                let data = store.read_blob(content).await?;
                let mut out = std::io::stdout().lock();
                out.write_all(&data)?;
                out.flush()?;
            }
            EntryKind::Dir { .. } => bail!("{shown}: is a directory"),
            EntryKind::Symlink { target } => bail!(
                "{shown}: is a symlink to {}; cat its target instead",
                String::from_utf8_lossy(&target)
            ),
        },
    }
    Ok(ExitCode::SUCCESS)
}
