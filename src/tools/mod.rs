//! The MCP tools: what an agent can ask of a view of the tree (main, or a
//! session) beyond plain files. Each tool has a name, a description written
//! for a model, a JSON Schema for its arguments and one for its result.
//!
//! The tools run where the views live: in the mount daemon (`cortex mcp`
//! forwards each call to it, so agents, mounts and the CLI share one live
//! store), or in the `cortex mcp` process itself for a remote store. Both
//! are a [`Host`]. Everything an agent can get wrong comes back as a
//! [`ToolError`] whose message says what to do instead.

pub mod catalogue;
pub mod files;
pub mod local;

use std::future::Future;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::ids::SessionName;
use crate::query::{Answer, GraphQuery};
use crate::search::{Mode, Results, Search};
use crate::session::{Command, MergeOptions, Outcome, Strategy};
use crate::vfs::{Invalidation, Vfs};
use files::TreePath;

pub use catalogue::{ToolSpec, catalogue};

/// The largest text a tool sends back in one answer (a file's lines, a
/// unit's body); longer text is cut at a line with a marker.
pub const TEXT_MAX: usize = 100_000;
/// The largest string argument accepted (file contents, replacements).
pub const ARG_MAX: usize = 4 << 20;
/// Most items a list answer holds; `limit` may ask for fewer.
pub const LIST_MAX: usize = 1000;
/// The marker that ends text cut short.
pub const TRUNCATED: &str = "\n[… truncated by cortex: ask for a later range]\n";

/// A failure the agent can act on: a message saying what to do.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ToolError(pub String);

impl ToolError {
    pub fn new(message: impl Into<String>) -> ToolError {
        ToolError(message.into())
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<crate::Error> for ToolError {
    fn from(e: crate::Error) -> ToolError {
        ToolError(e.to_string())
    }
}

/// What a server's writes may reach besides the tree's ordinary files.
/// `.cortex/` is never writable (it is where a store lives when the tree is
/// exported); `.git/` only when the person starting the server allows it:
/// a hook or a config written there runs code at their next git command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WritePolicy {
    /// Tools may write below `.git/` (`cortex mcp --allow-git-writes`).
    #[serde(default)]
    pub git: bool,
}

/// Where the tools run: the views and the services around them.
pub trait Host: Sync {
    /// The VFS of main (`None`) or of a session.
    fn vfs(
        &self,
        session: Option<&str>,
    ) -> impl Future<Output = Result<Arc<Vfs>, ToolError>> + Send;
    /// A tool changed these in a view: its mounts' kernel caches drop them.
    fn changed(
        &self,
        session: Option<&str>,
        changes: Vec<Invalidation>,
    ) -> impl Future<Output = ()> + Send;
    /// A view's code graph, brought up to date with its writes, answers.
    fn graph(
        &self,
        query: &GraphQuery,
        session: Option<&str>,
    ) -> impl Future<Output = Result<Answer, ToolError>> + Send;
    /// A search of a view, brought up to date with its writes.
    fn search(
        &self,
        search: &Search,
        session: Option<&str>,
    ) -> impl Future<Output = Result<Results, ToolError>> + Send;
    /// A session command, as `cortex session …` runs it.
    fn session(&self, command: &Command)
    -> impl Future<Output = Result<Outcome, ToolError>> + Send;
}

/// The lines of `text`, each with its newline.
pub fn lines_of(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// `text` bounded to [`TEXT_MAX`] at a line boundary: the text (with the
/// marker if cut), how many whole lines it has, and whether it was cut.
pub fn bounded_text(text: &str) -> (String, usize, bool) {
    if text.len() <= TEXT_MAX {
        return (text.to_owned(), lines_of(text).len(), false);
    }
    let mut out = String::new();
    let mut lines = 0;
    for line in lines_of(text) {
        if out.len() + line.len() > TEXT_MAX {
            break;
        }
        out.push_str(line);
        lines += 1;
    }
    if lines == 0 {
        // One huge line: cut inside it, at a character boundary.
        let mut end = TEXT_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str(&text[..end]);
    }
    out.push_str(TRUNCATED);
    (out, lines, true)
}

/// A call's arguments, read with errors that name the argument.
struct Args<'a> {
    tool: &'a str,
    map: Map<String, Value>,
}

impl<'a> Args<'a> {
    fn new(
        spec: &ToolSpec,
        tool: &'a str,
        args: Option<Map<String, Value>>,
    ) -> Result<Args<'a>, ToolError> {
        let map = args.unwrap_or_default();
        let known: Vec<&str> = spec.params();
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                return Err(ToolError::new(format!(
                    "{tool} has no argument `{}`; it takes: {}",
                    key.chars().take(64).collect::<String>(),
                    if known.is_empty() { "nothing".to_owned() } else { known.join(", ") }
                )));
            }
        }
        Ok(Args { tool, map })
    }

    fn opt_str(&self, key: &str) -> Result<Option<&str>, ToolError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() > ARG_MAX => Err(ToolError::new(format!(
                "`{key}` is {} bytes; arguments are limited to {ARG_MAX} bytes",
                s.len()
            ))),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ToolError::new(format!("`{key}` of {} must be a string", self.tool))),
        }
    }

    fn str(&self, key: &str) -> Result<&str, ToolError> {
        self.opt_str(key)?.ok_or_else(|| ToolError::new(format!("{} needs `{key}`", self.tool)))
    }

    /// A short string: a name, an id, a query.
    fn short(&self, key: &str) -> Result<&str, ToolError> {
        let s = self.str(key)?;
        check_short(key, s)?;
        Ok(s)
    }

    fn opt_short(&self, key: &str) -> Result<Option<&str>, ToolError> {
        let s = self.opt_str(key)?;
        if let Some(s) = s {
            check_short(key, s)?;
        }
        Ok(s)
    }

    fn path(&self, key: &str) -> Result<TreePath, ToolError> {
        TreePath::parse(self.str(key)?)
    }

    fn opt_uint(&self, key: &str, default: u64, max: u64) -> Result<u64, ToolError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => match v.as_u64() {
                Some(n) if n <= max => Ok(n),
                Some(n) => Err(ToolError::new(format!("`{key}` is {n}; at most {max}"))),
                None => Err(ToolError::new(format!(
                    "`{key}` of {} must be a whole number from 0 to {max}",
                    self.tool
                ))),
            },
        }
    }

    fn opt_bool(&self, key: &str) -> Result<bool, ToolError> {
        self.bool_or(key, false)
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool, ToolError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => {
                Err(ToolError::new(format!("`{key}` of {} must be true or false", self.tool)))
            }
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, ToolError> {
        let items = match self.map.get(key) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(ToolError::new(format!(
                    "`{key}` of {} must be a list of strings",
                    self.tool
                )));
            }
        };
        if items.len() > 100 {
            return Err(ToolError::new(format!("`{key}` has {} items; at most 100", items.len())));
        }
        items
            .iter()
            .map(|v| match v.as_str() {
                Some(s) => check_short(key, s).map(|()| s.to_owned()),
                None => Err(ToolError::new(format!(
                    "`{key}` of {} must be a list of strings",
                    self.tool
                ))),
            })
            .collect()
    }

    /// `cursor`: where the previous page ended.
    fn cursor(&self) -> Result<usize, ToolError> {
        match self.opt_str("cursor")? {
            None => Ok(0),
            Some(c) => c.parse().map_err(|_| {
                ToolError::new(
                    "`cursor` is not one this server gave; pass the next_cursor of the last answer",
                )
            }),
        }
    }

    fn limit(&self, default: u64) -> Result<usize, ToolError> {
        Ok(self.opt_uint("limit", default, LIST_MAX as u64)?.max(1) as usize)
    }
}

fn check_short(key: &str, s: &str) -> Result<(), ToolError> {
    if s.len() > 4096 {
        return Err(ToolError::new(format!("`{key}` is {} bytes; at most 4096", s.len())));
    }
    if s.contains('\0') {
        return Err(ToolError::new(format!("`{key}` contains a NUL byte")));
    }
    Ok(())
}

/// Runs the tool `name` for a server scoped to `session` (main if none).
#[tracing::instrument(level = "debug", skip(host, policy, args), err(level = "debug", Display))]
pub async fn call<H: Host>(
    host: &H,
    session: Option<&str>,
    policy: WritePolicy,
    tool: &str,
    args: Option<Map<String, Value>>,
) -> Result<Value, ToolError> {
    let Some(spec) = catalogue().into_iter().find(|t| t.name == tool) else {
        return Err(ToolError::new(format!(
            "there is no tool {:?}; tools/list shows the tools",
            tool.chars().take(64).collect::<String>()
        )));
    };
    let a = Args::new(&spec, tool, args)?;
    match tool {
        "read_file" => {
            let vfs = host.vfs(session).await?;
            let start = a.opt_uint("start_line", 1, u32::MAX as u64)? as usize;
            let end = match a.map.get("end_line") {
                None | Some(Value::Null) => None,
                Some(_) => Some(a.opt_uint("end_line", 0, u32::MAX as u64)? as usize),
            };
            files::read_file(&vfs, &a.path("path")?, start, end).await
        }
        "write_file" => {
            let (path, content) = (a.path("path")?, a.str("content")?);
            let vfs = host.vfs(session).await?;
            files::may_write(&vfs, &path, policy)?;
            let mut changes = Vec::new();
            let result = files::write_bytes(&vfs, &path, content.as_bytes(), &mut changes).await;
            host.changed(session, changes).await;
            let created = result?;
            Ok(json!({ "path": path.text(), "bytes": content.len(), "created": created }))
        }
        "edit_file" => {
            let path = a.path("path")?;
            let (old, new) = (a.str("old_string")?, a.str("new_string")?);
            let all = a.opt_bool("replace_all")?;
            let vfs = host.vfs(session).await?;
            files::may_write(&vfs, &path, policy)?;
            let mut changes = Vec::new();
            let result = files::edit_file(&vfs, &path, old, new, all, &mut changes).await;
            host.changed(session, changes).await;
            result
        }
        "list_dir" => {
            let path = match a.opt_str("path")? {
                Some(p) => TreePath::parse(p)?,
                None => TreePath::default(),
            };
            let (offset, limit) = (a.cursor()?, a.limit(200)?);
            files::list_dir(&*host.vfs(session).await?, &path, offset, limit)
        }
        "delete_path" => {
            let (path, recursive) = (a.path("path")?, a.opt_bool("recursive")?);
            let vfs = host.vfs(session).await?;
            files::may_write(&vfs, &path, policy)?;
            let mut changes = Vec::new();
            let result = files::delete_path(&vfs, &path, recursive, &mut changes);
            host.changed(session, changes).await;
            Ok(json!({ "path": path.text(), "deleted": result? }))
        }
        "move_path" => {
            let (from, to) = (a.path("from")?, a.path("to")?);
            let overwrite = a.opt_bool("overwrite")?;
            let vfs = host.vfs(session).await?;
            files::may_write(&vfs, &from, policy)?;
            files::may_write(&vfs, &to, policy)?;
            let mut changes = Vec::new();
            let result = files::move_path(&vfs, &from, &to, overwrite, &mut changes);
            host.changed(session, changes).await;
            result?;
            Ok(json!({ "from": from.text(), "to": to.text() }))
        }
        "list_units" => {
            let path = match a.opt_str("path")? {
                Some(p) => TreePath::parse(p)?.text(),
                None => String::new(),
            };
            let (offset, limit) = (a.cursor()?, a.limit(200)?);
            let Answer::Units { units, .. } =
                host.graph(&GraphQuery::Units { path: path.clone() }, session).await?
            else {
                return Err(unexpected());
            };
            let total = units.len();
            let page: Vec<&crate::store::graph::UnitInfo> =
                units.iter().skip(offset).take(limit).collect();
            let mut out = json!({ "path": path, "units": page, "total": total });
            if offset + limit < total {
                out["next_cursor"] = json!((offset + limit).to_string());
            }
            Ok(out)
        }
        "get_unit" => {
            let id = a.short("id")?;
            let unit = one_unit(host, session, id).await?;
            let mut out = json!({ "unit": unit });
            if a.bool_or("body", true)? {
                let vfs = host.vfs(session).await?;
                let text = files::read_text(&vfs, &TreePath::parse(&unit.path)?).await?;
                let body =
                    text.get(unit.start_byte as usize..unit.end_byte as usize).unwrap_or_default();
                let (body, _, truncated) = bounded_text(body);
                out["body"] = json!(body);
                out["truncated"] = json!(truncated);
            }
            Ok(out)
        }
        "find_symbol" => {
            let name = a.short("name")?;
            let limit = a.limit(50)?;
            let Answer::Symbols { units } =
                host.graph(&GraphQuery::Symbol { name: name.to_owned() }, session).await?
            else {
                return Err(unexpected());
            };
            if units.is_empty() {
                return Err(ToolError::new(format!(
                    "no unit is named {name:?} or has an id starting with it; search finds code by meaning"
                )));
            }
            let truncated = units.len() > limit;
            let units: Vec<_> = units.into_iter().take(limit).collect();
            Ok(json!({ "units": units, "truncated": truncated }))
        }
        "replace_unit" => {
            let (id, source) = (a.short("id")?, a.str("source")?);
            let unit = one_unit(host, session, id).await?;
            let path = TreePath::parse(&unit.path)?;
            let vfs = host.vfs(session).await?;
            files::may_write(&vfs, &path, policy)?;
            let text = files::read_text(&vfs, &path).await?;
            let (start, end) = (unit.start_byte as usize, unit.end_byte as usize);
            if end > text.len() || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
                return Err(ToolError::new(format!(
                    "{id}'s span no longer matches {}; get_unit it again",
                    unit.path
                )));
            }
            let edited = format!("{}{}{}", &text[..start], source, &text[end..]);
            let mut changes = Vec::new();
            let result = files::write_bytes(&vfs, &path, edited.as_bytes(), &mut changes).await;
            host.changed(session, changes).await;
            result?;
            // Re-parsed at once: the graph query below brings it current.
            let query = GraphQuery::Units { path: unit.path.clone() };
            let Answer::Units { units, .. } = host.graph(&query, session).await? else {
                return Err(unexpected());
            };
            let after: Vec<_> = units
                .into_iter()
                .filter(|u| {
                    u.start_byte as usize == start && u.kind != crate::graph::UnitKind::File
                })
                .collect();
            Ok(
                json!({ "path": unit.path, "replaced": id, "bytes": edited.len(), "units_now": after }),
            )
        }
        "callers" | "callees" => {
            let id = a.short("id")?.to_owned();
            let depth = a.opt_uint("depth", 1, 10)? as u32;
            let query = if tool == "callers" {
                GraphQuery::Callers { id, depth }
            } else {
                GraphQuery::Callees { id, depth }
            };
            walk_answer(host.graph(&query, session).await?, a.limit(200)?)
        }
        "impact" => {
            let targets = a.strings("targets")?;
            if targets.is_empty() {
                return Err(ToolError::new("impact needs `targets`: unit ids or file paths"));
            }
            let depth = a.opt_uint("depth", 3, 10)? as u32;
            walk_answer(
                host.graph(&GraphQuery::Impact { targets, depth }, session).await?,
                a.limit(300)?,
            )
        }
        "dependencies" => {
            let path = a.path("path")?.text();
            match host.graph(&GraphQuery::Deps { path }, session).await? {
                Answer::Deps { path, imports, imported_by } => {
                    Ok(json!({ "path": path, "imports": imports, "imported_by": imported_by }))
                }
                _ => Err(unexpected()),
            }
        }
        "search" => {
            let mode = match a.opt_short("mode")? {
                None | Some("hybrid") => Mode::Hybrid,
                Some("semantic") => Mode::Semantic,
                Some("keyword") => Mode::Keyword,
                Some(other) => {
                    return Err(ToolError::new(format!(
                        "unknown mode {other:?}: hybrid, semantic or keyword"
                    )));
                }
            };
            let search = Search {
                query: a.short("query")?.to_owned(),
                mode,
                path: a.opt_short("path")?.map(str::to_owned),
                kind: a.opt_short("kind")?.map(str::to_owned),
                language: a.opt_short("language")?.map(str::to_owned),
                limit: a.opt_uint("limit", 10, 200)?.max(1) as usize,
            };
            search.check()?;
            let results = host.search(&search, session).await?;
            Ok(serde_json::to_value(results).expect("results serialise"))
        }
        "session_create" => {
            let name = SessionName::parse(a.short("name")?)?;
            let from = a.opt_short("from")?.map(str::to_owned);
            outcome_json(host.session(&Command::New { name, from }).await?)
        }
        "session_list" => {
            let list = outcome_json(host.session(&Command::List).await?)?;
            Ok(json!({ "sessions": list }))
        }
        "diff" => {
            let name = session_arg(&a, session)?;
            let files = outcome_json(
                host.session(&Command::Diff { name: name.clone(), units: true }).await?,
            )?;
            Ok(json!({ "session": name, "files": files }))
        }
        "session_changes" => {
            let name = session_arg(&a, session)?;
            let Outcome::Diff(files) =
                host.session(&Command::Diff { name: name.clone(), units: true }).await?
            else {
                return Err(unexpected_session());
            };
            let targets: Vec<String> = files
                .iter()
                .flat_map(|f| &f.units)
                .filter(|u| u.change != crate::session::UnitChange::Removed)
                .map(|u| u.id.clone())
                .take(100)
                .collect();
            let impact = if targets.is_empty() {
                json!({ "start": [], "levels": [], "tests": [], "truncated": false })
            } else {
                let query =
                    GraphQuery::Impact { targets, depth: a.opt_uint("depth", 2, 10)? as u32 };
                walk_answer(host.graph(&query, Some(name.as_str())).await?, 300)?
            };
            Ok(json!({ "session": name, "files": files, "impact": impact }))
        }
        "merge_preview" | "merge" => {
            let name = session_arg(&a, session)?;
            let options = MergeOptions {
                dry_run: tool == "merge_preview",
                strategy: Strategy::Auto,
                // A server merging its own session goes on working in it.
                keep: a.opt_bool("keep")? || session == Some(name.as_str()),
            };
            outcome_json(host.session(&Command::Merge { name, options }).await?)
        }
        "conflicts" => {
            let name = session_arg(&a, session)?;
            let conflicts =
                outcome_json(host.session(&Command::Conflicts { name: name.clone() }).await?)?;
            Ok(json!({ "session": name, "conflicts": conflicts }))
        }
        "claim" => {
            let name = session_arg(&a, session)?;
            let targets = a.strings("targets")?;
            if targets.is_empty() {
                return Err(ToolError::new("claim needs `targets`: file paths or unit ids"));
            }
            outcome_json(host.session(&Command::Claim { name, targets }).await?)
        }
        "release" => {
            let name = session_arg(&a, session)?;
            let targets = a.strings("targets")?;
            outcome_json(host.session(&Command::Release { name, targets }).await?)
        }
        "who_is_editing" => {
            let target = a.opt_short("target")?.map(str::to_owned);
            outcome_json(host.session(&Command::Who { target }).await?)
        }
        _ => Err(ToolError::new(format!("{tool} is listed but not served; a bug in cortex"))),
    }
}

/// A session command's answer as a tool's JSON.
fn outcome_json(outcome: Outcome) -> Result<Value, ToolError> {
    let value = match outcome {
        Outcome::Created(v) => serde_json::to_value(v),
        Outcome::Listed(v) => serde_json::to_value(v),
        Outcome::Removed(v) => serde_json::to_value(v),
        Outcome::Diff(v) => serde_json::to_value(v),
        Outcome::Merged(v) => serde_json::to_value(v),
        Outcome::Conflicts(v) => serde_json::to_value(v),
        Outcome::Claimed(v) => serde_json::to_value(v),
        Outcome::Released(v) => serde_json::to_value(v),
        Outcome::Who(v) => serde_json::to_value(v),
    };
    value.map_err(|e| ToolError::new(format!("an answer did not serialise: {e}; a bug in cortex")))
}

fn unexpected_session() -> ToolError {
    ToolError::new("the session command answered another question; a bug in cortex")
}

fn unexpected() -> ToolError {
    ToolError::new("the code graph answered another question; a bug in cortex")
}

/// The session a session tool is about: its `session` argument, else the
/// server's own.
fn session_arg(a: &Args, session: Option<&str>) -> Result<SessionName, ToolError> {
    match a.opt_short("session")?.or(session) {
        Some(name) => Ok(SessionName::parse(name)?),
        None => Err(ToolError::new(format!(
            "{} needs `session`: this server works on main (session_list shows the sessions)",
            a.tool
        ))),
    }
}

/// The one unit `id` names (an id, or a name only one unit has).
async fn one_unit<H: Host>(
    host: &H,
    session: Option<&str>,
    id: &str,
) -> Result<crate::store::graph::UnitInfo, ToolError> {
    let Answer::Symbols { units } =
        host.graph(&GraphQuery::Symbol { name: id.to_owned() }, session).await?
    else {
        return Err(unexpected());
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

/// A walk (callers, callees, impact) as a tool answers it: by depth, at
/// most `limit` units in all.
fn walk_answer(answer: Answer, limit: usize) -> Result<Value, ToolError> {
    let Answer::Walk { start, levels, tests, truncated } = answer else {
        return Err(unexpected());
    };
    let mut left = limit;
    let mut cut = truncated;
    let mut out_levels = Vec::new();
    for level in levels {
        let n = level.units.len().min(left);
        cut |= n < level.units.len();
        left -= n;
        let units: Vec<Value> = level
            .units
            .into_iter()
            .take(n)
            .map(|r| {
                json!({
                    "unit": r.unit,
                    "via": r.via,
                    "edge": r.edge,
                    "confidence": r.confidence,
                    "line": r.line,
                })
            })
            .collect();
        if !units.is_empty() {
            out_levels.push(json!({ "depth": level.depth, "units": units }));
        }
    }
    Ok(json!({ "start": start, "levels": out_levels, "tests": tests, "truncated": cut }))
}
