//! The code graph commands: `units`, `symbol`, `callers`, `callees`, `deps`,
//! `impact` and `graph`. They share one path: ask the daemon when it holds
//! the store (it brings the graph up to date with the mounts first), else
//! open the store, bring the graph to main's head, and ask it.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Result, bail};
use cortex::graph::UnitKind;
use cortex::query::{Answer, GraphQuery, Level};
use cortex::store::graph::UnitInfo;

use super::Context;
use super::output::{esc, print_json};

#[derive(Debug, clap::Args)]
pub struct UnitsArgs {
    /// Ask the code graph of this session instead of main\'s.
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
    /// A file or directory of the tree (default: all of it).
    #[arg(default_value = "")]
    pub path: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct SymbolArgs {
    /// Ask the code graph of this session instead of main\'s.
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
    /// A unit's name, or the start of its id (`src/lib.rs::Parser`).
    pub name: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct WalkArgs {
    /// Ask the code graph of this session instead of main\'s.
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
    /// A unit id, or a name or id prefix that only one unit has.
    pub id: String,
    /// How many steps to follow.
    #[arg(long, default_value_t = 1)]
    pub depth: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct DepsArgs {
    /// Ask the code graph of this session instead of main\'s.
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
    /// A file of the tree.
    pub path: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ImpactArgs {
    /// Ask the code graph of this session instead of main\'s.
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
    /// Unit ids (or unique names) and files.
    #[arg(required = true)]
    pub targets: Vec<String>,
    #[arg(long, default_value_t = 3)]
    pub depth: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Dot,
    Mermaid,
}

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// Ask the code graph of this session instead of main\'s.
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
    /// A unit id, or a name or id prefix that only one unit has.
    pub id: String,
    #[arg(long, default_value_t = 1)]
    pub depth: u32,
    #[arg(long, value_enum, default_value = "dot")]
    pub format: Format,
}

/// Asks a view's graph.
async fn ask(cx: &Context, query: GraphQuery, session: &Option<String>) -> Result<Answer> {
    let view = super::view_of(session)?;
    cx.with_service(async |svc| Ok(svc.graph(view, query).await?)).await
}

fn json(answer: &Answer) -> Result<ExitCode> {
    let value = match answer {
        Answer::Units { units, files } => serde_json::json!({ "units": units, "files": files }),
        Answer::Symbols { units } => serde_json::json!({ "units": units }),
        Answer::Walk { start, levels, tests, truncated } => serde_json::json!({
            "start": start, "levels": levels, "tests": tests, "truncated": truncated,
        }),
        Answer::Deps { path, imports, imported_by } => serde_json::json!({
            "path": path, "imports": imports, "imported_by": imported_by,
        }),
        Answer::Neighbourhood { nodes, edges } => {
            serde_json::json!({ "nodes": nodes, "edges": edges })
        }
    };
    print_json(&value)?;
    Ok(ExitCode::SUCCESS)
}

fn location(u: &UnitInfo) -> String {
    format!("{}:{}", u.path, u.start_line)
}

pub async fn units(cx: &Context, args: UnitsArgs) -> Result<ExitCode> {
    let answer = ask(cx, GraphQuery::Units { path: args.path }, &args.session).await?;
    if args.json {
        return json(&answer);
    }
    let Answer::Units { units, files } = answer else { bail!("unexpected answer") };
    let mut by_file: BTreeMap<&str, Vec<&UnitInfo>> = BTreeMap::new();
    for u in &units {
        by_file.entry(u.path.as_str()).or_default().push(u);
    }
    for f in &files {
        let note = match (&f.skipped, f.diagnostics) {
            (Some(reason), _) => format!("  (skipped: {reason})"),
            (None, 0) => String::new(),
            (None, n) => format!("  ({n} syntax errors; what parsed is shown)"),
        };
        println!("{}{note}", esc(&f.path));
        for u in by_file.get(f.path.as_str()).into_iter().flatten() {
            if u.kind == UnitKind::File {
                continue;
            }
            // Indent by nesting: the qualified name's depth.
            let depth = u.qname.matches("::").count() + 1;
            let test = if u.is_test { " [test]" } else { "" };
            // An impl's name says what it is ("impl Display for Parser").
            let kind =
                if u.kind == UnitKind::Impl { String::new() } else { format!("{} ", u.kind) };
            println!(
                "{}{kind}{}  :{}-{}{test}",
                "  ".repeat(depth),
                esc(&u.name),
                u.start_line,
                u.end_line
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn symbol(cx: &Context, args: SymbolArgs) -> Result<ExitCode> {
    let answer = ask(cx, GraphQuery::Symbol { name: args.name.clone() }, &args.session).await?;
    if args.json {
        return json(&answer);
    }
    let Answer::Symbols { units } = answer else { bail!("unexpected answer") };
    if units.is_empty() {
        bail!("no unit named {:?} (nor an id starting so)", args.name);
    }
    for u in &units {
        println!("{}  {}  {}  {}", esc(&u.id), u.kind, esc(&location(u)), esc(&u.signature));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_levels(levels: &[Level], empty: &str) {
    if levels.is_empty() {
        println!("{empty}");
    }
    for level in levels {
        println!("depth {}:", level.depth);
        for r in &level.units {
            println!(
                "  {}  {}  {}  [{} {}, via {}]",
                esc(&r.unit.id),
                r.unit.kind,
                esc(&location(&r.unit)),
                r.edge,
                r.confidence,
                r.via
            );
        }
    }
}

pub async fn callers(cx: &Context, args: WalkArgs, callees: bool) -> Result<ExitCode> {
    let query = if callees {
        GraphQuery::Callees { id: args.id, depth: args.depth }
    } else {
        GraphQuery::Callers { id: args.id, depth: args.depth }
    };
    let answer = ask(cx, query, &args.session).await?;
    if args.json {
        return json(&answer);
    }
    let Answer::Walk { start, levels, truncated, .. } = answer else { bail!("unexpected answer") };
    let what = if callees { "callees" } else { "callers" };
    println!("{} of {}", what, esc(&start[0].id));
    print_levels(&levels, &format!("  none found ({what} outside the tree are not known)"));
    if truncated {
        println!("(stopped after {} units)", cortex::query::WALK_LIMIT);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn deps(cx: &Context, args: DepsArgs) -> Result<ExitCode> {
    let answer = ask(cx, GraphQuery::Deps { path: args.path }, &args.session).await?;
    if args.json {
        return json(&answer);
    }
    let Answer::Deps { path, imports, imported_by } = answer else { bail!("unexpected answer") };
    println!("{} imports:", esc(&path));
    if imports.is_empty() {
        println!("  nothing in the tree");
    }
    for d in &imports {
        println!("  {}  (line {}, {})", esc(&d.other), d.line, d.confidence);
    }
    println!("imported by:");
    if imported_by.is_empty() {
        println!("  nothing in the tree");
    }
    for d in &imported_by {
        println!("  {}  (line {}, {})", esc(&d.other), d.line, d.confidence);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn impact(cx: &Context, args: ImpactArgs) -> Result<ExitCode> {
    let answer =
        ask(cx, GraphQuery::Impact { targets: args.targets, depth: args.depth }, &args.session)
            .await?;
    if args.json {
        return json(&answer);
    }
    let Answer::Walk { start, levels, tests, truncated } = answer else {
        bail!("unexpected answer")
    };
    println!("impact of {} unit(s):", start.len());
    print_levels(&levels, "  nothing in the tree depends on them (as far as the graph knows)");
    println!("tests among them: {}", tests.len());
    for t in &tests {
        println!("  {}  {}", esc(&t.id), esc(&location(t)));
    }
    if truncated {
        println!("(stopped after {} units)", cortex::query::WALK_LIMIT);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn graph(cx: &Context, args: GraphArgs) -> Result<ExitCode> {
    let answer =
        ask(cx, GraphQuery::Neighbourhood { id: args.id, depth: args.depth }, &args.session)
            .await?;
    let Answer::Neighbourhood { nodes, edges } = answer else { bail!("unexpected answer") };
    let short: BTreeMap<&str, String> =
        nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), format!("n{i}"))).collect();
    let label = |n: &UnitInfo| {
        format!("{} {}", n.kind, if n.qname.is_empty() { &n.path } else { &n.qname })
    };
    match args.format {
        Format::Dot => {
            println!("digraph cortex {{");
            println!("  rankdir=LR; node [shape=box, fontname=monospace];");
            for n in &nodes {
                println!("  {} [label={:?}, tooltip={:?}];", short[n.id.as_str()], label(n), n.id);
            }
            for e in &edges {
                let style = if e.confidence == "resolved" { "solid" } else { "dashed" };
                println!(
                    "  {} -> {} [label={:?}, style={style}];",
                    short[e.from.as_str()],
                    short[e.to.as_str()],
                    e.kind
                );
            }
            println!("}}");
        }
        Format::Mermaid => {
            println!("graph LR");
            for n in &nodes {
                let text = label(n).replace('"', "'");
                println!("  {}[\"{text}\"]", short[n.id.as_str()]);
            }
            for e in &edges {
                let arrow = if e.confidence == "resolved" { "-->" } else { "-.->" };
                println!(
                    "  {} {arrow}|{}| {}",
                    short[e.from.as_str()],
                    e.kind,
                    short[e.to.as_str()]
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
