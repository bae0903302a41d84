//! `cortex cat PATH`: a file of main, byte for byte, on stdout.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use anyhow::Result;

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A file's path from the tree's root.
    pub path: OsString,
}

pub async fn run(cx: &Context, args: Args) -> Result<ExitCode> {
    let path = args.path.as_bytes().to_vec();
    let data = cx.with_service(async |svc| Ok(svc.cat(path).await?)).await?;
    let mut out = std::io::stdout().lock();
    out.write_all(&data)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
