//! What each tool is, for the model choosing one: its description, its
//! arguments (JSON Schema) and its result (JSON Schema). Results are
//! checked against these schemas by the MCP client in the test suite.

use serde_json::{Value, json};

/// One tool as `tools/list` shows it.
#[derive(Clone, Debug)]
pub struct ToolSpec {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input: Value,
    pub output: Value,
    /// Changes nothing (files, sessions or claims).
    pub read_only: bool,
}

impl ToolSpec {
    /// The argument names the tool takes.
    pub fn params(&self) -> Vec<&str> {
        self.input["properties"]
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// A result object: the listed fields are always there; more may be.
fn result(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required })
}

fn string(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

fn integer(description: &str, minimum: u64, maximum: u64) -> Value {
    json!({ "type": "integer", "description": description, "minimum": minimum, "maximum": maximum })
}

fn boolean(description: &str) -> Value {
    json!({ "type": "boolean", "description": description })
}

fn strings(description: &str) -> Value {
    json!({ "type": "array", "items": { "type": "string" }, "maxItems": 100, "description": description })
}

const PATH: &str = "A path relative to the root of the tree, like `src/lib.rs`. Absolute paths and `..` are refused.";
const UNIT_ID: &str = "A unit id as the other tools give them (`src/lib.rs::Parser::parse`), or a name only one unit has.";
const SESSION: &str = "The session; default: this server's session.";
const LIMIT: &str = "At most this many items.";
const CURSOR: &str = "Where to go on: the next_cursor of the previous answer.";

fn unit() -> Value {
    result(
        json!({
            "id": { "type": "string" },
            "kind": { "type": "string" },
            "name": { "type": "string" },
            "qname": { "type": "string" },
            "path": { "type": "string" },
            "language": { "type": "string" },
            "parent": { "type": ["string", "null"] },
            "start_line": { "type": "integer" },
            "end_line": { "type": "integer" },
            "signature": { "type": "string" },
            "doc": { "type": "string" },
            "is_test": { "type": "boolean" },
        }),
        &["id", "kind", "name", "path", "start_line", "end_line", "signature"],
    )
}

fn units() -> Value {
    json!({ "type": "array", "items": unit() })
}

fn walk() -> Value {
    result(
        json!({
            "start": units(),
            "levels": { "type": "array", "items": result(json!({
                "depth": { "type": "integer" },
                "units": { "type": "array", "items": result(json!({
                    "unit": unit(),
                    "via": { "type": "string" },
                    "edge": { "type": "string" },
                    "confidence": { "type": "string", "enum": ["resolved", "name_matched", "ambiguous"] },
                    "line": { "type": "integer" },
                }), &["unit", "via", "edge", "confidence"]) },
            }), &["depth", "units"]) },
            "tests": units(),
            "truncated": { "type": "boolean" },
        }),
        &["start", "levels", "tests", "truncated"],
    )
}

/// A session's changed files, with the units changed in each.
fn files() -> Value {
    json!({ "type": "array", "items": result(json!({
        "path": { "type": "string" },
        "op": { "type": "string", "enum": ["added", "modified", "deleted"] },
        "units": { "type": "array", "items": result(json!({
            "id": { "type": "string" },
            "kind": { "type": "string" },
            "change": { "type": "string", "enum": ["added", "removed", "changed"] },
        }), &["id", "kind", "change"]) },
    }), &["path", "op", "units"]) })
}

fn any_object() -> Value {
    json!({ "type": "object" })
}

/// A list a page at a time: of a path, from a cursor.
fn page_input(path: &str) -> Value {
    object(
        json!({ "path": string(path), "limit": integer(LIMIT, 1, 1000), "cursor": string(CURSOR) }),
        &[],
    )
}

fn page_output(key: &str, item: Value) -> Value {
    let mut properties = json!({
        "path": { "type": "string" },
        "total": { "type": "integer" },
        "next_cursor": { "type": "string" },
    });
    properties[key] = json!({ "type": "array", "items": item });
    result(properties, &["path", key, "total"])
}

/// `callers` and `callees`: a walk from one unit.
fn walk_tool(name: &'static str, title: &'static str, description: &'static str) -> ToolSpec {
    ToolSpec {
        name,
        title,
        description,
        input: object(
            json!({
                "id": string(UNIT_ID),
                "depth": integer("How many steps; default 1.", 1, 10),
                "limit": integer(LIMIT, 1, 1000),
            }),
            &["id"],
        ),
        output: walk(),
        read_only: true,
    }
}

/// Every tool, in the order `tools/list` gives them.
pub fn catalogue() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "read_file",
            title: "Read a file",
            description: "Read a text file of the tree, whole or a range of lines. Long files come back in \
                parts: when `truncated` is true, call again with start_line = next_start_line.",
            input: object(
                json!({
                    "path": string(PATH),
                    "start_line": integer("First line to read, from 1.", 1, u32::MAX as u64),
                    "end_line": integer("Last line to read (inclusive); default: the end.", 0, u32::MAX as u64),
                }),
                &["path"],
            ),
            output: result(
                json!({
                    "path": { "type": "string" },
                    "content": { "type": "string" },
                    "start_line": { "type": "integer" },
                    "end_line": { "type": "integer" },
                    "total_lines": { "type": "integer" },
                    "bytes": { "type": "integer" },
                    "truncated": { "type": "boolean" },
                    "next_start_line": { "type": "integer" },
                }),
                &["path", "content", "start_line", "end_line", "total_lines", "truncated"],
            ),
            read_only: true,
        },
        ToolSpec {
            name: "write_file",
            title: "Write a file",
            description: "Create or replace a text file with the given content (its directories are made). \
                Mounts of this view see it at once; the code graph and search follow.",
            input: object(
                json!({ "path": string(PATH), "content": string("The whole new content of the file.") }),
                &["path", "content"],
            ),
            output: result(
                json!({ "path": { "type": "string" }, "bytes": { "type": "integer" }, "created": { "type": "boolean" } }),
                &["path", "bytes", "created"],
            ),
            read_only: false,
        },
        ToolSpec {
            name: "edit_file",
            title: "Edit a file",
            description: "Replace an exact piece of text in a file. old_string must occur exactly once \
                (include surrounding lines to make it unique) unless replace_all is true.",
            input: object(
                json!({
                    "path": string(PATH),
                    "old_string": string("The exact text to find, whitespace included."),
                    "new_string": string("What to put in its place."),
                    "replace_all": boolean("Replace every occurrence; default false."),
                }),
                &["path", "old_string", "new_string"],
            ),
            output: result(
                json!({ "path": { "type": "string" }, "replacements": { "type": "integer" }, "bytes": { "type": "integer" } }),
                &["path", "replacements"],
            ),
            read_only: false,
        },
        ToolSpec {
            name: "list_dir",
            title: "List a directory",
            description: "List a directory of the tree: names, kinds (file, dir, symlink) and sizes, by name, \
                a page at a time.",
            input: page_input("A directory, relative to the tree's root; default: the root."),
            output: page_output(
                "entries",
                result(
                    json!({
                        "name": { "type": "string" },
                        "kind": { "type": "string", "enum": ["file", "dir", "symlink", "special"] },
                        "size": { "type": "integer" },
                    }),
                    &["name", "kind", "size"],
                ),
            ),
            read_only: true,
        },
        ToolSpec {
            name: "delete_path",
            title: "Delete a file or directory",
            description: "Delete a file or symlink, or a directory (non-empty ones only with recursive).",
            input: object(
                json!({ "path": string(PATH), "recursive": boolean("Delete a directory and everything in it.") }),
                &["path"],
            ),
            output: result(
                json!({ "path": { "type": "string" }, "deleted": { "type": "integer" } }),
                &["path", "deleted"],
            ),
            read_only: false,
        },
        ToolSpec {
            name: "move_path",
            title: "Move or rename",
            description: "Move or rename a file or directory inside the tree. An existing destination is \
                an error unless overwrite is true.",
            input: object(
                json!({
                    "from": string(PATH),
                    "to": string("The new path, relative to the tree's root."),
                    "overwrite": boolean("Replace an existing destination."),
                }),
                &["from", "to"],
            ),
            output: result(
                json!({ "from": { "type": "string" }, "to": { "type": "string" } }),
                &["from", "to"],
            ),
            read_only: false,
        },
        ToolSpec {
            name: "list_units",
            title: "Code units of a path",
            description: "The code units (functions, methods, structs, classes, …) of a Rust or JavaScript \
                file, or of every code file below a directory, in file order, with ids for the other tools.",
            input: page_input("A file or directory; default: the whole tree."),
            output: page_output("units", unit()),
            read_only: true,
        },
        ToolSpec {
            name: "get_unit",
            title: "One code unit",
            description: "A code unit by id: kind, file, lines, signature, doc comment, and its source \
                (unless body is false).",
            input: object(
                json!({ "id": string(UNIT_ID), "body": boolean("Include the source; default true.") }),
                &["id"],
            ),
            output: result(
                json!({ "unit": unit(), "body": { "type": "string" }, "truncated": { "type": "boolean" } }),
                &["unit"],
            ),
            read_only: true,
        },
        ToolSpec {
            name: "find_symbol",
            title: "Find units by name",
            description: "Find code units by name (`parse`), qualified name, or the start of an id \
                (`src/lib.rs::Parser`). No match is an error that says so.",
            input: object(
                json!({ "name": string("A name, or the start of an id."), "limit": integer(LIMIT, 1, 1000) }),
                &["name"],
            ),
            output: result(
                json!({ "units": units(), "truncated": { "type": "boolean" } }),
                &["units", "truncated"],
            ),
            read_only: true,
        },
        ToolSpec {
            name: "replace_unit",
            title: "Replace a unit's source",
            description: "Replace the whole source of one code unit (from its doc comment's end to its \
                closing brace, as get_unit shows it) and re-parse the file at once.",
            input: object(
                json!({ "id": string(UNIT_ID), "source": string("The unit's new source text.") }),
                &["id", "source"],
            ),
            output: result(
                json!({
                    "path": { "type": "string" },
                    "replaced": { "type": "string" },
                    "bytes": { "type": "integer" },
                    "units_now": units(),
                }),
                &["path", "replaced", "units_now"],
            ),
            read_only: false,
        },
        walk_tool(
            "callers",
            "Who calls a unit",
            "The units that call this one, transitively up to depth, grouped by depth, each with how \
             sure the edge is (resolved, name_matched, ambiguous) and the tests among them.",
        ),
        walk_tool(
            "callees",
            "What a unit calls",
            "The units this one calls, transitively up to depth, grouped by depth, with confidence.",
        ),
        ToolSpec {
            name: "dependencies",
            title: "A file's imports and importers",
            description: "What a code file imports (use, mod, import, require) and which files import it.",
            input: object(json!({ "path": string(PATH) }), &["path"]),
            output: result(
                json!({
                    "path": { "type": "string" },
                    "imports": { "type": "array", "items": any_object() },
                    "imported_by": { "type": "array", "items": any_object() },
                }),
                &["path", "imports", "imported_by"],
            ),
            read_only: true,
        },
        ToolSpec {
            name: "impact",
            title: "Impact of a change",
            description: "What transitively depends on these units or files (calls, references, \
                implementations, imports), grouped by depth, with confidence, and the tests affected: \
                what to re-check after changing them.",
            input: object(
                json!({
                    "targets": strings("Unit ids and/or file paths."),
                    "depth": integer("How many steps; default 3.", 1, 10),
                    "limit": integer(LIMIT, 1, 1000),
                }),
                &["targets"],
            ),
            output: walk(),
            read_only: true,
        },
        ToolSpec {
            name: "search",
            title: "Search the code",
            description: "Find code units by meaning or by words: `where do we retry failed uploads?`. \
                hybrid (default) fuses semantic (a local embedding model) and keyword (BM25 over names, \
                signatures and docs) ranks. Filters apply before the cut.",
            input: object(
                json!({
                    "query": string("What to look for, in plain words or identifiers."),
                    "mode": { "type": "string", "enum": ["hybrid", "semantic", "keyword"], "description": "Default hybrid." },
                    "path": string("Only files matching this glob (`src/**/*.rs`)."),
                    "kind": string("Only units of this kind (function, method, struct, class, …)."),
                    "language": { "type": "string", "enum": ["rust", "javascript"], "description": "Only this language." },
                    "limit": integer("How many results; default 10.", 1, 200),
                }),
                &["query"],
            ),
            output: result(
                json!({
                    "hits": { "type": "array", "items": result(json!({
                        "id": { "type": "string" },
                        "kind": { "type": "string" },
                        "file": { "type": "string" },
                        "line": { "type": "integer" },
                        "signature": { "type": "string" },
                        "score": { "type": "number" },
                    }), &["id", "kind", "file", "line", "signature", "score"]) },
                    "units": { "type": "integer" },
                    "embedded": { "type": "integer" },
                    "note": { "type": "string" },
                }),
                &["hits", "units", "embedded"],
            ),
            read_only: true,
        },
        ToolSpec {
            name: "session_create",
            title: "Create a session",
            description: "Fork a new copy-on-write session from main (or from another session) in constant \
                time. Names: lowercase letters, digits, - and _.",
            input: object(
                json!({
                    "name": string("The new session's name, like `fix-retry`."),
                    "from": string("Fork from this session instead of main."),
                }),
                &["name"],
            ),
            output: result(
                json!({ "name": { "type": "string" }, "origin": { "type": "string" }, "base_snapshot": { "type": "integer" } }),
                &["name", "origin"],
            ),
            read_only: false,
        },
        ToolSpec {
            name: "session_list",
            title: "List sessions",
            description: "Every session: where it came from, how old it is, how many files it changed, \
                where it is mounted.",
            input: object(json!({}), &[]),
            output: result(
                json!({ "sessions": { "type": "array", "items": any_object() } }),
                &["sessions"],
            ),
            read_only: true,
        },
        ToolSpec {
            name: "session_changes",
            title: "A session's changes and their impact",
            description: "The code units a session added, changed or removed, and what depends on them \
                (grouped by depth, with the tests to run).",
            input: object(
                json!({ "session": string(SESSION), "depth": integer("Impact depth; default 2.", 1, 10) }),
                &[],
            ),
            output: result(
                json!({ "session": { "type": "string" }, "files": files(), "impact": walk() }),
                &["session", "files", "impact"],
            ),
            read_only: true,
        },
        ToolSpec {
            name: "diff",
            title: "Diff a session",
            description: "The files a session changed against main (added, modified, deleted), with the \
                units changed in each code file.",
            input: object(json!({ "session": string(SESSION) }), &[]),
            output: result(
                json!({ "session": { "type": "string" }, "files": files() }),
                &["session", "files"],
            ),
            read_only: true,
        },
        ToolSpec {
            name: "merge_preview",
            title: "Preview a merge",
            description: "What merging a session into main would do, without doing it: files taken, files \
                merged, and conflicts per unit (function) with both sides.",
            input: object(json!({ "session": string(SESSION) }), &[]),
            output: result(
                json!({
                    "session": { "type": "string" },
                    "taken": { "type": "array", "items": { "type": "string" } },
                    "merged": { "type": "array", "items": { "type": "string" } },
                    "conflicts": { "type": "array", "items": any_object() },
                    "dry_run": { "type": "boolean" },
                }),
                &["session", "taken", "merged", "conflicts"],
            ),
            read_only: true,
        },
        ToolSpec {
            name: "merge",
            title: "Merge a session",
            description: "Merge a session into main. Clean: main moves and the session closes (unless keep, \
                or it is this server's own session). Conflicts: nothing changes; they are reported per \
                unit and kept for the conflicts tool; settle them by editing in the session and merge again.",
            input: object(
                json!({ "session": string(SESSION), "keep": boolean("Keep the session after a clean merge.") }),
                &[],
            ),
            output: result(
                json!({
                    "session": { "type": "string" },
                    "taken": { "type": "array", "items": { "type": "string" } },
                    "merged": { "type": "array", "items": { "type": "string" } },
                    "conflicts": { "type": "array", "items": any_object() },
                    "snapshot": { "type": ["integer", "null"] },
                    "closed": { "type": "boolean" },
                }),
                &["session", "taken", "merged", "conflicts"],
            ),
            read_only: false,
        },
        ToolSpec {
            name: "conflicts",
            title: "A session's conflicts",
            description: "The conflicts of a session's last merge attempt, per unit, with base, main's and \
                the session's text.",
            input: object(json!({ "session": string(SESSION) }), &[]),
            output: result(
                json!({ "session": { "type": "string" }, "conflicts": { "type": "array", "items": any_object() } }),
                &["session", "conflicts"],
            ),
            read_only: true,
        },
        ToolSpec {
            name: "claim",
            title: "Claim files or units",
            description: "Tell other agents this session is working on these files or units (advisory: \
                who_is_editing and merges show it).",
            input: object(
                json!({ "targets": strings("File paths or unit ids."), "session": string(SESSION) }),
                &["targets"],
            ),
            output: result(
                json!({ "session": { "type": "string" }, "claimed": { "type": "array" } }),
                &["session"],
            ),
            read_only: false,
        },
        ToolSpec {
            name: "release",
            title: "Release claims",
            description: "Release this session's claims on these targets (all of them when none are given).",
            input: object(
                json!({ "targets": strings("File paths or unit ids; default: all."), "session": string(SESSION) }),
                &[],
            ),
            output: result(
                json!({ "session": { "type": "string" }, "released": {} }),
                &["session"],
            ),
            read_only: false,
        },
        ToolSpec {
            name: "who_is_editing",
            title: "Who is editing what",
            description: "Claims, the files and units each session has changed, and where two sessions \
                will conflict — for a target, or for the whole tree.",
            input: object(
                json!({ "target": string("A file path or unit id; default: everything.") }),
                &[],
            ),
            output: result(
                json!({
                    "claims": { "type": "array" },
                    "editing": { "type": "array" },
                    "ahead": { "type": "array" },
                }),
                &["claims", "editing", "ahead"],
            ),
            read_only: true,
        },
    ]
}
