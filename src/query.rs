//! Questions to the code graph, as the commands (and later the MCP tools)
//! ask them: units of a path, symbols by name, callers and callees, a
//! file's dependencies, the impact of a change, and a neighbourhood to draw.
//! Questions and answers serialise, so that the daemon can answer them for
//! a CLI that cannot open the store.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::graph::resolve::{Confidence, EdgeKind};
use crate::store::Store;
use crate::store::graph::{CodeFileInfo, EdgeInfo, UnitInfo};

/// How many units a name search returns at most.
pub const SYMBOL_LIMIT: usize = 50;
/// Walks stop after this many units, whatever the depth.
pub const WALK_LIMIT: usize = 2000;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum GraphQuery {
    /// Units of a file, or of the files below a directory ("" for all).
    Units { path: String },
    /// Units by name or id prefix.
    Symbol { name: String },
    /// Who calls the unit, transitively to `depth`.
    Callers { id: String, depth: u32 },
    /// What the unit calls, transitively to `depth`.
    Callees { id: String, depth: u32 },
    /// What a file imports and what imports it.
    Deps { path: String },
    /// What transitively depends on these units or files.
    Impact { targets: Vec<String>, depth: u32 },
    /// The neighbourhood of a unit, for a picture.
    Neighbourhood { id: String, depth: u32 },
}

/// A unit reached by a walk: from which unit, how surely.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Reached {
    pub unit: UnitInfo,
    /// The unit it was reached from (one step closer to the start).
    pub via: String,
    /// The edge kind that reached it.
    pub edge: String,
    /// The weakest confidence on the way here.
    pub confidence: String,
    pub line: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Level {
    pub depth: u32,
    pub units: Vec<Reached>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DepEdge {
    /// The file or unit on the other side.
    pub other: String,
    pub path: String,
    pub confidence: String,
    pub line: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DrawEdge {
    pub kind: String,
    pub from: String,
    pub to: String,
    pub confidence: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Answer {
    Units { units: Vec<UnitInfo>, files: Vec<CodeFileInfo> },
    Symbols { units: Vec<UnitInfo> },
    Walk { start: Vec<UnitInfo>, levels: Vec<Level>, tests: Vec<UnitInfo>, truncated: bool },
    Deps { path: String, imports: Vec<DepEdge>, imported_by: Vec<DepEdge> },
    Neighbourhood { nodes: Vec<UnitInfo>, edges: Vec<DrawEdge> },
}

pub async fn run(store: &Store, query: &GraphQuery) -> Result<Answer> {
    match query {
        GraphQuery::Units { path } => {
            // `.` is the whole tree, `./src` is `src`.
            let path = path.trim_matches('/');
            let path = path.strip_prefix("./").unwrap_or(path);
            let path = if path == "." { "" } else { path };
            let files = store.graph().code_files_under(path).await?;
            if files.is_empty() && !path.is_empty() {
                return Err(Error::NotFound(format!("{path} (no code files there)")));
            }
            Ok(Answer::Units { units: store.graph().units_under(path).await?, files })
        }
        GraphQuery::Symbol { name } => {
            Ok(Answer::Symbols { units: store.graph().find_units(name, SYMBOL_LIMIT).await? })
        }
        GraphQuery::Callers { id, depth } => {
            let start = vec![one_unit(store, id).await?];
            walk(store, start, &[EdgeKind::Calls], true, *depth).await
        }
        GraphQuery::Callees { id, depth } => {
            let start = vec![one_unit(store, id).await?];
            walk(store, start, &[EdgeKind::Calls], false, *depth).await
        }
        GraphQuery::Deps { path } => deps(store, path.trim_matches('/')).await,
        GraphQuery::Impact { targets, depth } => {
            let mut start = Vec::new();
            for target in targets {
                let target = target.trim_end_matches('/');
                let in_file = store.graph().units_under(target).await?;
                if in_file.is_empty() {
                    start.push(one_unit(store, target).await?);
                } else {
                    start.extend(in_file);
                }
            }
            let kinds =
                [EdgeKind::Calls, EdgeKind::References, EdgeKind::Implements, EdgeKind::Imports];
            walk(store, start, &kinds, true, *depth).await
        }
        GraphQuery::Neighbourhood { id, depth } => neighbourhood(store, id, *depth).await,
    }
}

/// The unit an argument names: its id, or a name or id prefix that only
/// one unit has.
pub async fn one_unit(store: &Store, arg: &str) -> Result<UnitInfo> {
    if let Some(u) = store.graph().units_by_id(&[arg.to_owned()]).await?.into_iter().next() {
        return Ok(u);
    }
    let found = store.graph().find_units(arg, 10).await?;
    match found.as_slice() {
        [] => Err(Error::NotFound(format!("{arg} (no unit with that id, name or id prefix)"))),
        [u] => Ok(u.clone()),
        many => {
            let ids: Vec<&str> = many.iter().map(|u| u.id.as_str()).collect();
            Err(Error::InvalidInput(format!(
                "{arg} names {} units; say which: {}",
                many.len(),
                ids.join(", ")
            )))
        }
    }
}

fn weaker(a: &str, b: &str) -> String {
    let rank = |s: &str| Confidence::parse(s).unwrap_or(Confidence::Ambiguous);
    if rank(a) >= rank(b) { a.to_owned() } else { b.to_owned() }
}

/// How many supertypes up `implemented` looks.
const MAX_SUPERTYPES: usize = 6;

/// The methods that `methods` (id, type, name) override or implement: up
/// the traits, interfaces and classes their types implement or extend,
/// each method of the same name (an override of an override implements
/// both). Returns (method, the one it
/// implements, `ambiguous`: such a call runs one of the implementors).
/// Constructors override nothing: a class's own name calls its constructor.
async fn implemented(
    store: &Store,
    methods: &[&(String, String, String)],
) -> Result<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    // (method, a supertype's id or the method's own type, name, confidence)
    let mut frontier: Vec<(String, String, String, String)> = methods
        .iter()
        .filter(|(_, _, name)| !matches!(name.as_str(), "constructor" | "__init__"))
        // Which implementor a call through a trait, an interface or a base
        // runs, the source does not say: one of them, `ambiguous`.
        .map(|(id, ty, name)| (id.clone(), ty.clone(), name.clone(), "ambiguous".to_owned()))
        .collect();
    for _ in 0..MAX_SUPERTYPES {
        if frontier.is_empty() {
            break;
        }
        let types: Vec<String> = frontier.iter().map(|f| f.1.clone()).collect();
        let supers = store.graph().edges_of(EdgeKind::Implements, &types, false).await?;
        let mut candidates = Vec::new();
        for (method, ty, name, confidence) in &frontier {
            for e in supers.iter().filter(|e| &e.from == ty) {
                let conf = weaker(confidence, &e.confidence);
                candidates.push((method.clone(), e.to.clone(), name.clone(), conf));
            }
        }
        let ids: Vec<String> =
            candidates.iter().map(|(_, ty, name, _)| format!("{ty}::{name}")).collect();
        let found: HashSet<String> =
            store.graph().units_by_id(&ids).await?.into_iter().map(|u| u.id).collect();
        frontier.clear();
        for ((method, ty, name, confidence), id) in candidates.into_iter().zip(ids) {
            if found.contains(&id) {
                out.push((method.clone(), id, confidence.clone()));
            }
            frontier.push((method, ty, name, confidence));
        }
    }
    Ok(out)
}

/// What a call into the frontier may be written as: the frontier, and
/// the methods its methods implement (their callers may run them), each
/// added to `reach` with its confidence.
async fn dispatched(
    store: &Store,
    frontier: &[String],
    methods: &[(String, String, String)],
    reach: &mut HashMap<String, String>,
) -> Result<Vec<String>> {
    let mut out = frontier.to_vec();
    let frontier_methods: Vec<&(String, String, String)> =
        methods.iter().filter(|(id, _, _)| frontier.contains(id)).collect();
    for (method, base, confidence) in implemented(store, &frontier_methods).await? {
        if !reach.contains_key(&base) {
            reach.insert(base.clone(), weaker(&reach[&method], &confidence));
            out.push(base);
        }
    }
    Ok(out)
}

/// Breadth-first along `kinds`, backwards (who depends on) when `incoming`.
async fn walk(
    store: &Store,
    start: Vec<UnitInfo>,
    kinds: &[EdgeKind],
    incoming: bool,
    depth: u32,
) -> Result<Answer> {
    let mut seen: HashSet<String> = start.iter().map(|u| u.id.clone()).collect();
    // The confidence with which each reached unit was reached.
    let mut reach: HashMap<String, String> =
        start.iter().map(|u| (u.id.clone(), "resolved".to_owned())).collect();
    let mut frontier: Vec<String> = start.iter().map(|u| u.id.clone()).collect();
    // The methods reached: id, type (the parent) and name.
    let method = |u: &UnitInfo| {
        let parent = u.parent.clone().filter(|_| u.kind == crate::graph::UnitKind::Method)?;
        Some((u.id.clone(), parent, u.name.clone()))
    };
    let mut methods: Vec<(String, String, String)> = start.iter().filter_map(method).collect();
    let mut levels = Vec::new();
    let mut truncated = false;
    for d in 1..=depth.max(1) {
        if frontier.is_empty() {
            break;
        }
        let mut next: BTreeMap<String, (String, String, String, i64)> = BTreeMap::new();
        // A caller of a method the frontier implements (a trait's, an
        // interface's, a base class's) may run the frontier's: it is a
        // caller too, reached through that method.
        let dispatched = if incoming && kinds.contains(&EdgeKind::Calls) {
            dispatched(store, &frontier, &methods, &mut reach).await?
        } else {
            frontier.clone()
        };
        let wanted: Vec<(EdgeKind, &[String])> = kinds
            .iter()
            .map(|&kind| {
                (kind, if kind == EdgeKind::Calls { &dispatched[..] } else { &frontier[..] })
            })
            .collect();
        for (kind, e) in store.graph().edges_by_kind(&wanted, incoming).await? {
            let (here, there) = if incoming { (&e.to, &e.from) } else { (&e.from, &e.to) };
            if seen.contains(there) || next.contains_key(there) {
                continue;
            }
            let conf = weaker(&reach[here], &e.confidence);
            next.insert(there.clone(), (here.clone(), kind.as_str().to_owned(), conf, e.line));
        }
        if seen.len() + next.len() > WALK_LIMIT {
            truncated = true;
            let room = WALK_LIMIT.saturating_sub(seen.len());
            next = next.into_iter().take(room).collect();
        }
        let ids: Vec<String> = next.keys().cloned().collect();
        let mut units: Vec<Reached> = store
            .graph()
            .units_by_id(&ids)
            .await?
            .into_iter()
            .map(|unit| {
                let (via, edge, confidence, line) = next[&unit.id].clone();
                Reached { unit, via, edge, confidence, line }
            })
            .collect();
        units.sort_by(|a, b| a.unit.id.cmp(&b.unit.id));
        for r in &units {
            methods.extend(method(&r.unit));
            seen.insert(r.unit.id.clone());
            reach.insert(r.unit.id.clone(), r.confidence.clone());
        }
        frontier = ids;
        if !units.is_empty() {
            levels.push(Level { depth: d, units });
        }
        if truncated {
            break;
        }
    }
    let tests = tests_among(&levels);
    Ok(Answer::Walk { start, levels, tests, truncated })
}

/// The tests among the units reached. A test file counts itself only when
/// none of its units is reached: `test('…', () => …)` callbacks
/// (JavaScript, TypeScript) are no units.
fn tests_among(levels: &[Level]) -> Vec<UnitInfo> {
    let reached: Vec<&UnitInfo> =
        levels.iter().flat_map(|l| l.units.iter()).map(|r| &r.unit).collect();
    let file = crate::graph::UnitKind::File;
    reached
        .iter()
        .filter(|u| {
            u.is_test
                && (u.kind != file
                    || !reached.iter().any(|o| o.kind != file && o.is_test && o.path == u.path))
        })
        .map(|u| (*u).clone())
        .collect()
}

async fn deps(store: &Store, path: &str) -> Result<Answer> {
    let file = store.graph().units_by_id(&[path.to_owned()]).await?;
    if file.is_empty() {
        return Err(Error::NotFound(format!("{path} (not a code file of the tree)")));
    }
    let in_file: Vec<String> =
        store.graph().units_under(path).await?.into_iter().map(|u| u.id).collect();
    let shown = |e: &EdgeInfo, other: &str| DepEdge {
        other: other.to_owned(),
        path: other.split("::").next().unwrap_or(other).to_owned(),
        confidence: e.confidence.clone(),
        line: e.line,
    };
    let imports: Vec<DepEdge> = store
        .graph()
        .edges_of(EdgeKind::Imports, &[path.to_owned()], false)
        .await?
        .iter()
        .map(|e| shown(e, &e.to))
        .collect();
    let imported_by: Vec<DepEdge> = store
        .graph()
        .edges_of(EdgeKind::Imports, &in_file, true)
        .await?
        .iter()
        .filter(|e| !e.from.starts_with(&format!("{path}::")) && e.from != path)
        .map(|e| shown(e, &e.from))
        .collect();
    Ok(Answer::Deps { path: path.to_owned(), imports, imported_by })
}

async fn neighbourhood(store: &Store, id: &str, depth: u32) -> Result<Answer> {
    let start = one_unit(store, id).await?;
    let mut nodes: BTreeMap<String, UnitInfo> = BTreeMap::new();
    nodes.insert(start.id.clone(), start.clone());
    let mut edges: Vec<DrawEdge> = Vec::new();
    let mut frontier = vec![start.id.clone()];
    let kinds = [EdgeKind::Calls, EdgeKind::References, EdgeKind::Implements];
    for _ in 0..depth.max(1) {
        let mut next = Vec::new();
        for kind in kinds {
            for incoming in [true, false] {
                for e in store.graph().edges_of(kind, &frontier, incoming).await? {
                    let other = if incoming { &e.from } else { &e.to };
                    if !nodes.contains_key(other) && !next.contains(other) {
                        next.push(other.clone());
                    }
                    edges.push(DrawEdge {
                        kind: kind.as_str().to_owned(),
                        from: e.from.clone(),
                        to: e.to.clone(),
                        confidence: e.confidence.clone(),
                    });
                }
            }
        }
        if nodes.len() + next.len() > WALK_LIMIT {
            break;
        }
        for u in store.graph().units_by_id(&next).await? {
            nodes.insert(u.id.clone(), u);
        }
        frontier = next;
    }
    edges.retain(|e| nodes.contains_key(&e.from) && nodes.contains_key(&e.to));
    edges.sort_by(|a, b| (&a.kind, &a.from, &a.to).cmp(&(&b.kind, &b.from, &b.to)));
    edges.dedup();
    Ok(Answer::Neighbourhood { nodes: nodes.into_values().collect(), edges })
}
