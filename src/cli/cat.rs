//! `cortex cat PATH`: a file of main, byte for byte, on stdout.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use anyhow::{Result, bail};
use cortex::control::{Request, Response};
use cortex::snapshot;

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A file's path from the tree's root.
    pub path: OsString,
}

pub async fn run(cx: &Context, args: Args) -> Result<ExitCode> {
    let path = args.path.as_bytes().to_vec();
    let data = match cx.daemon()? {
        Some(dir) => match cx.ask(&dir, Request::Cat { path })? {
            Response::Bytes { data } => data,
            other => bail!("unexpected answer from the mount daemon: {other:?}"),
        },
        None => {
            cx.with_store(async |store| {
                let head = store.head().await?;
                Ok(snapshot::read_file(store, head.root, &path).await?)
            })
            .await?
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&data)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
