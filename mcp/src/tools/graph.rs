//! The code graph's tools (units, callers, callees, impact, imports) and
//! search.

use cortex::graph::{Language, UnitKind};
use cortex::query::{Answer, DepEdge, GraphQuery, Level};
use cortex::search::{Mode, Results, Search};
use cortex::service::{PathAnswer, PathOp, TreePath};
use cortex::store::View;
use cortex::store::graph::UnitInfo;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::files::path_text;
use crate::tool::{
    Cursor, Cx, Effect, ITEMS_MAX, LIST_MAX, PathArg, Short, Text, Tool, ToolError, unexpected,
};

fn wrong() -> ToolError {
    unexpected("code graph")
}

/// The one unit `id` names (an id, or a name only one unit has).
async fn one_unit(cx: &Cx<'_>, id: &str) -> Result<UnitInfo, ToolError> {
    let Answer::Symbols { units } = cx.graph(GraphQuery::Symbol { name: id.to_owned() }).await?
    else {
        return Err(wrong());
    };
    if let Some(unit) = units.iter().find(|u| u.id == id) {
        return Ok(unit.clone());
    }
    match units.len() {
        0 => Err(ToolError::new(format!(
            "no unit {id:?}; find_symbol finds units by name, list_units lists a file's"
        ))),
        1 => Ok(units.into_iter().next().expect("one")),
        n => Err(ToolError::new(format!(
            "{id:?} names {n} units ({}…); pass one's full id",
            units.iter().take(3).map(|u| u.id.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

pub struct ListUnits;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListUnitsParams {
    /// A file or directory; default: the whole tree.
    path: Option<PathArg>,
    /// At most this many units; default 200.
    #[schemars(range(min = 1, max = LIST_MAX))]
    limit: Option<u32>,
    cursor: Option<Cursor>,
}

/// A page of units, in file order.
#[derive(Serialize, JsonSchema)]
pub struct UnitPage {
    path: String,
    units: Vec<UnitInfo>,
    /// Units in all.
    total: usize,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

impl Tool for ListUnits {
    const NAME: &'static str = "list_units";
    const TITLE: &'static str = "Code units of a path";
    const DESCRIPTION: &'static str = "The code units (functions, methods, structs, classes, …) of \
        a code file (Rust, JavaScript, TypeScript), or of every code file below a directory, in file order, with ids \
        for the other tools.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = ListUnitsParams;
    type Output = UnitPage;

    async fn run(cx: &Cx<'_>, p: ListUnitsParams) -> Result<UnitPage, ToolError> {
        let path = path_text(&p.path);
        let offset = Cursor::offset(&p.cursor)?;
        let limit = p.limit.unwrap_or(200) as usize;
        let Answer::Units { units, .. } =
            cx.graph(GraphQuery::Units { path: path.clone() }).await?
        else {
            return Err(wrong());
        };
        let total = units.len();
        let units = units.into_iter().skip(offset).take(limit).collect();
        Ok(UnitPage { path, units, total, next_cursor: Cursor::next(offset, limit, total) })
    }
}

pub struct GetUnit;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetUnitParams {
    /// A unit id as the other tools give them (`src/lib.rs::Parser::parse`), or a name only one unit has.
    id: Short,
    /// Include the source; default true.
    body: Option<bool>,
}

/// A unit, with its source.
#[derive(Serialize, JsonSchema)]
pub struct UnitBody {
    unit: UnitInfo,
    /// The unit's source (unless `body` was false).
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    /// The source was cut short.
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<bool>,
}

impl Tool for GetUnit {
    const NAME: &'static str = "get_unit";
    const TITLE: &'static str = "One code unit";
    const DESCRIPTION: &'static str = "A code unit by id: kind, file, lines, signature, doc \
        comment, and its source (unless body is false).";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = GetUnitParams;
    type Output = UnitBody;

    async fn run(cx: &Cx<'_>, p: GetUnitParams) -> Result<UnitBody, ToolError> {
        let unit = one_unit(cx, &p.id.0).await?;
        if !p.body.unwrap_or(true) {
            return Ok(UnitBody { unit, body: None, truncated: None });
        }
        let op = PathOp::ReadSpan {
            path: TreePath::parse(&unit.path)?,
            start: unit.start_byte as usize,
            end: unit.end_byte as usize,
        };
        let PathAnswer::Span { text, truncated } = cx.path(op).await? else {
            return Err(unexpected("file operation"));
        };
        Ok(UnitBody { unit, body: Some(text), truncated: Some(truncated) })
    }
}

pub struct FindSymbol;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindSymbolParams {
    /// A name, or the start of an id.
    name: Short,
    /// At most this many units; default 50.
    #[schemars(range(min = 1, max = LIST_MAX))]
    limit: Option<u32>,
}

/// The units found.
#[derive(Serialize, JsonSchema)]
pub struct Found {
    units: Vec<UnitInfo>,
    /// More matched than `limit`.
    truncated: bool,
}

impl Tool for FindSymbol {
    const NAME: &'static str = "find_symbol";
    const TITLE: &'static str = "Find units by name";
    const DESCRIPTION: &'static str = "Find code units by name (`parse`), qualified name, or the \
        start of an id (`src/lib.rs::Parser`). No match is an error that says so.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = FindSymbolParams;
    type Output = Found;

    async fn run(cx: &Cx<'_>, p: FindSymbolParams) -> Result<Found, ToolError> {
        let name = p.name.0;
        let limit = p.limit.unwrap_or(50) as usize;
        let Answer::Symbols { units } = cx.graph(GraphQuery::Symbol { name: name.clone() }).await?
        else {
            return Err(wrong());
        };
        if units.is_empty() {
            return Err(ToolError::new(format!(
                "no unit is named {name:?} or has an id starting with it; search finds code by meaning"
            )));
        }
        let truncated = units.len() > limit;
        Ok(Found { units: units.into_iter().take(limit).collect(), truncated })
    }
}

pub struct ReplaceUnit;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceUnitParams {
    /// A unit id as the other tools give them (`src/lib.rs::Parser::parse`), or a name only one unit has.
    id: Short,
    /// The unit's new source text.
    source: Text,
}

/// A unit replaced, and what the file's units are there now.
#[derive(Serialize, JsonSchema)]
pub struct Replaced {
    path: String,
    replaced: String,
    /// The file's size now.
    bytes: usize,
    /// The units that start where the replaced one did, as re-parsed.
    units_now: Vec<UnitInfo>,
}

impl Tool for ReplaceUnit {
    const NAME: &'static str = "replace_unit";
    const TITLE: &'static str = "Replace a unit's source";
    const DESCRIPTION: &'static str = "Replace the whole source of one code unit (from its doc \
        comment's end to its closing brace, as get_unit shows it) and re-parse the file at once.";
    const EFFECT: Effect = Effect::Destructive;
    type Params = ReplaceUnitParams;
    type Output = Replaced;

    async fn run(cx: &Cx<'_>, p: ReplaceUnitParams) -> Result<Replaced, ToolError> {
        let id = p.id.0;
        let unit = one_unit(cx, &id).await?;
        let (start, end) = (unit.start_byte as usize, unit.end_byte as usize);
        let op =
            PathOp::Splice { path: TreePath::parse(&unit.path)?, start, end, text: p.source.0 };
        let answer = cx
            .path(op)
            .await
            .map_err(|e| ToolError::new(format!("{id}: {e}; get_unit it again")))?;
        let PathAnswer::Spliced { bytes } = answer else {
            return Err(unexpected("file operation"));
        };
        // Re-parsed at once: the graph question brings it current.
        let Answer::Units { units, .. } =
            cx.graph(GraphQuery::Units { path: unit.path.clone() }).await?
        else {
            return Err(wrong());
        };
        let units_now = units
            .into_iter()
            .filter(|u| u.start_byte as usize == start && u.kind != UnitKind::File)
            .collect();
        Ok(Replaced { path: unit.path, replaced: id, bytes, units_now })
    }
}

/// A walk through the graph (callers, callees, impact) by depth.
#[derive(Serialize, JsonSchema)]
pub struct Walk {
    /// Where the walk started.
    start: Vec<UnitInfo>,
    /// The units reached, by depth; each with the unit it was reached
    /// from, the edge, and how sure that edge is (resolved, name_matched,
    /// ambiguous).
    levels: Vec<Level>,
    /// The tests among the units reached.
    tests: Vec<UnitInfo>,
    /// Not every unit reached is here (the limit, or the walk's own).
    truncated: bool,
}

impl Walk {
    /// A walk's answer, at most `limit` units in all.
    pub fn of(answer: Answer, limit: usize) -> Result<Walk, ToolError> {
        let Answer::Walk { start, levels, tests, truncated } = answer else {
            return Err(wrong());
        };
        let mut left = limit;
        let mut cut = truncated;
        let mut kept = Vec::new();
        for mut level in levels {
            let n = level.units.len().min(left);
            cut |= n < level.units.len();
            left -= n;
            level.units.truncate(n);
            if !level.units.is_empty() {
                kept.push(level);
            }
        }
        Ok(Walk { start, levels: kept, tests, truncated: cut })
    }

    /// A walk from nothing.
    pub fn empty() -> Walk {
        Walk { start: vec![], levels: vec![], tests: vec![], truncated: false }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WalkParams {
    /// A unit id as the other tools give them (`src/lib.rs::Parser::parse`), or a name only one unit has.
    id: Short,
    /// How many steps; default 1.
    #[schemars(range(min = 1, max = 10))]
    depth: Option<u32>,
    /// At most this many units in all; default 200.
    #[schemars(range(min = 1, max = LIST_MAX))]
    limit: Option<u32>,
}

impl WalkParams {
    async fn walk(self, cx: &Cx<'_>, callers: bool) -> Result<Walk, ToolError> {
        let (id, depth) = (self.id.0, self.depth.unwrap_or(1));
        let query = if callers {
            GraphQuery::Callers { id, depth }
        } else {
            GraphQuery::Callees { id, depth }
        };
        Walk::of(cx.graph(query).await?, self.limit.unwrap_or(200) as usize)
    }
}

pub struct Callers;

impl Tool for Callers {
    const NAME: &'static str = "callers";
    const TITLE: &'static str = "Who calls a unit";
    const DESCRIPTION: &'static str = "The units that call this one, transitively up to depth, \
        grouped by depth, each with how sure the edge is (resolved, name_matched, ambiguous) and the \
        tests among them.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = WalkParams;
    type Output = Walk;

    async fn run(cx: &Cx<'_>, p: WalkParams) -> Result<Walk, ToolError> {
        p.walk(cx, true).await
    }
}

pub struct Callees;

impl Tool for Callees {
    const NAME: &'static str = "callees";
    const TITLE: &'static str = "What a unit calls";
    const DESCRIPTION: &'static str =
        "The units this one calls, transitively up to depth, grouped by depth, with confidence.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = WalkParams;
    type Output = Walk;

    async fn run(cx: &Cx<'_>, p: WalkParams) -> Result<Walk, ToolError> {
        p.walk(cx, false).await
    }
}

pub struct Dependencies;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DependenciesParams {
    /// A path relative to the root of the tree, like `src/lib.rs`. Absolute paths and `..` are refused.
    path: PathArg,
}

/// A file's imports both ways.
#[derive(Serialize, JsonSchema)]
pub struct Deps {
    path: String,
    /// What the file imports.
    imports: Vec<DepEdge>,
    /// Which files import it.
    imported_by: Vec<DepEdge>,
}

impl Tool for Dependencies {
    const NAME: &'static str = "dependencies";
    const TITLE: &'static str = "A file's imports and importers";
    const DESCRIPTION: &'static str =
        "What a code file imports (use, mod, import, require) and which files import it.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = DependenciesParams;
    type Output = Deps;

    async fn run(cx: &Cx<'_>, p: DependenciesParams) -> Result<Deps, ToolError> {
        match cx.graph(GraphQuery::Deps { path: p.path.0.text() }).await? {
            Answer::Deps { path, imports, imported_by } => Ok(Deps { path, imports, imported_by }),
            _ => Err(wrong()),
        }
    }
}

pub struct Impact;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImpactParams {
    /// Unit ids and/or file paths.
    #[schemars(length(max = ITEMS_MAX))]
    targets: Vec<Short>,
    /// How many steps; default 3.
    #[schemars(range(min = 1, max = 10))]
    depth: Option<u32>,
    /// At most this many units in all; default 300.
    #[schemars(range(min = 1, max = LIST_MAX))]
    limit: Option<u32>,
}

impl Tool for Impact {
    const NAME: &'static str = "impact";
    const TITLE: &'static str = "Impact of a change";
    const DESCRIPTION: &'static str = "What transitively depends on these units or files (calls, \
        references, implementations, imports), grouped by depth, with confidence, and the tests \
        affected: what to re-check after changing them.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = ImpactParams;
    type Output = Walk;

    async fn run(cx: &Cx<'_>, p: ImpactParams) -> Result<Walk, ToolError> {
        if p.targets.is_empty() {
            return Err(ToolError::new("impact needs `targets`: unit ids or file paths"));
        }
        let targets = p.targets.into_iter().map(|t| t.0).collect();
        let query = GraphQuery::Impact { targets, depth: p.depth.unwrap_or(3) };
        Walk::of(cx.graph(query).await?, p.limit.unwrap_or(300) as usize)
    }
}

/// The impact of a session's changed units, as `session_changes` gives it.
pub async fn impact_of(
    cx: &Cx<'_>,
    view: View,
    targets: Vec<String>,
    depth: u32,
) -> Result<Walk, ToolError> {
    if targets.is_empty() {
        return Ok(Walk::empty());
    }
    Walk::of(cx.graph_of(view, GraphQuery::Impact { targets, depth }).await?, 300)
}

pub struct SearchCode;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// What to look for, in plain words or identifiers.
    query: Short,
    /// How to rank; default hybrid.
    mode: Option<Mode>,
    /// Only files matching this glob (`src/**/*.rs`).
    path: Option<Short>,
    /// Only units of this kind (function, method, struct, class, …).
    kind: Option<UnitKind>,
    /// Only this language.
    language: Option<Language>,
    /// How many results; default 10.
    #[schemars(range(min = 1, max = 200))]
    limit: Option<u32>,
}

impl Tool for SearchCode {
    const NAME: &'static str = "search";
    const TITLE: &'static str = "Search the code";
    const DESCRIPTION: &'static str = "Find code units by meaning or by words: `where do we retry \
        failed uploads?`. hybrid (default) fuses semantic (a local embedding model) and keyword \
        (BM25 over names, signatures and docs) ranks. Filters apply before the cut.";
    const EFFECT: Effect = Effect::ReadOnly;
    type Params = SearchParams;
    type Output = Results;

    async fn run(cx: &Cx<'_>, p: SearchParams) -> Result<Results, ToolError> {
        let search = Search {
            query: p.query.0,
            mode: p.mode.unwrap_or_default(),
            path: p.path.map(|p| p.0),
            kind: p.kind.map(|k| k.as_str().to_owned()),
            language: p.language.map(|l| l.as_str().to_owned()),
            limit: p.limit.unwrap_or(10) as usize,
        };
        search.check()?;
        Ok(cx.service.search(cx.view(), search).await?)
    }
}
