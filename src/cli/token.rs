//! `cortex token create|list|revoke`: bearer tokens for `cortex mcp --http`.
//! A token is printed once, by `create`, on stdout; the store keeps only
//! its hash.

use std::process::ExitCode;

use anyhow::{Result, bail};
use cortex::session::{Command, Outcome};
use cortex::token::{TokenCommand, TokenInfo, TokenOutcome};

use super::Context;
use super::output::print_json;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TokenArgs,
}

#[derive(Debug, clap::Subcommand)]
enum TokenArgs {
    /// Make a token and print it (only this once). Without --session it
    /// reaches main.
    Create {
        /// The session it reaches (and nothing else).
        #[arg(long, value_name = "NAME")]
        session: Option<String>,
        /// Only tools that change nothing.
        #[arg(long)]
        read_only: bool,
        /// May merge: its session into main (a main token: any session).
        #[arg(long, conflicts_with = "read_only")]
        merge: bool,
        /// The token and what it reaches, as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The tokens: id, scope, age (never the tokens themselves).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id: it is refused from the next request on.
    Revoke { id: String },
}

async fn call(cx: &Context, command: TokenCommand) -> Result<TokenOutcome> {
    let outcome =
        cx.with_service(async |svc| Ok(svc.session(Command::Token(command)).await?)).await?;
    match outcome {
        Outcome::Token(t) => Ok(t),
        _ => bail!("a token command got another answer"),
    }
}

pub async fn run(cx: &Context, args: Args) -> Result<ExitCode> {
    match args.command {
        TokenArgs::Create { session, read_only, merge, json } => {
            let session = session.as_deref().map(str::parse).transpose()?;
            let command = TokenCommand::Create { session, read_only, merge };
            let TokenOutcome::Created { info, token } = call(cx, command).await? else {
                bail!("creating a token got another answer");
            };
            if json {
                print_json(&serde_json::json!({ "token": token.0, "info": info }))?;
            } else {
                println!("{}", token.0);
                eprintln!(
                    "token {} for {} ({}); shown only now: keep it secret",
                    info.id,
                    scope(&info),
                    rights(&info)
                );
            }
        }
        TokenArgs::List { json } => {
            let TokenOutcome::Listed(tokens) = call(cx, TokenCommand::List).await? else {
                bail!("listing tokens got another answer");
            };
            if json {
                print_json(&tokens)?;
            } else if tokens.is_empty() {
                println!("no tokens");
            } else {
                for t in &tokens {
                    println!("{}  {:<24} {:<16} {}", t.id, scope(t), rights(t), t.created);
                }
            }
        }
        TokenArgs::Revoke { id } => {
            call(cx, TokenCommand::Revoke { id: id.clone() }).await?;
            println!("token {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn scope(t: &TokenInfo) -> String {
    t.session.as_ref().map_or("main".to_owned(), |s| format!("session {s}"))
}

fn rights(t: &TokenInfo) -> &'static str {
    match (t.read_only, t.merge) {
        (true, _) => "read-only",
        (false, true) => "read-write-merge",
        (false, false) => "read-write",
    }
}
