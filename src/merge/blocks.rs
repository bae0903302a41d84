//! Test blocks as units, for the merge: in JavaScript and TypeScript a
//! test suite is written as calls, `describe('…', () => { it('…', …) })`,
//! which the graph does not count as units (they declare nothing), so to a
//! merge by unit a test file is one undivided text. Mocha, Jest, Vitest and
//! Jasmine run each block by its name, and where a block stands among its
//! siblings does not change what it checks: two sides adding different
//! tests at one place is the same order-free insertion as two functions
//! added at one place, and a test edited on both sides is merged as a unit.
//! Hooks (`before`, `beforeEach`, …) run in the order written and are left
//! as statements.

use std::collections::HashMap;

use tree_sitter::{Node, Tree};

use crate::graph::{Language, Unit, UnitKind};

/// The calls that open a named test block, as the test runners spell them
/// (`x`/`f` prefixes: Jasmine's skipped and focused blocks).
const BLOCKS: &[&str] = &[
    "describe",
    "context",
    "suite",
    "it",
    "test",
    "specify",
    "xdescribe",
    "fdescribe",
    "xit",
    "fit",
];

/// `only`, `skip`, `todo`: `it.only('…', fn)` is still one named block.
const MODIFIERS: &[&str] = &["only", "skip", "todo", "concurrent"];

/// True when `text` may hold test blocks (a cheap look before a parse).
pub(super) fn may_hold_blocks(language: Language, text: &str) -> bool {
    language != Language::Rust
        && language != Language::Python
        && BLOCKS.iter().any(|b| text.contains(&format!("{b}(")) || text.contains(&format!("{b}.")))
}

/// Every test block statement of `tree` as a unit, with `units` (the
/// graph's, in source order, without the file unit) re-parented where a
/// block encloses them. Ids are the enclosing unit's, then the call as
/// written up to its name's end: `path::describe('res')::it('sends')`.
pub(super) fn with_blocks(path: &str, text: &str, tree: &Tree, units: Vec<Unit>) -> Vec<Unit> {
    let mut found = Vec::new();
    collect(tree.root_node(), text, &mut found);
    if found.is_empty() {
        return units;
    }
    // Blocks nest by their byte ranges; outer ones come first.
    let mut blocks: Vec<Unit> = Vec::with_capacity(found.len());
    let mut seen: HashMap<String, u32> = HashMap::new();
    for (node, label) in found {
        let (start, end) = (node.start_byte(), node.end_byte());
        let enclosing = innermost(&blocks, &units, start, end);
        let parent = enclosing.map_or_else(|| path.to_owned(), |u| u.id.clone());
        let mut id = format!("{parent}::{label}");
        let n = seen.entry(id.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            id = format!("{id}#{n}");
        }
        blocks.push(block_unit(id, label, parent, node));
    }
    let ranges: HashMap<String, (u32, u32)> =
        units.iter().map(|u| (u.id.clone(), (u.start_byte, u.end_byte))).collect();
    let mut all: Vec<Unit> = units
        .into_iter()
        .map(|mut u| {
            let (s, e) = (u.start_byte as usize, u.end_byte as usize);
            let inside = blocks.iter().filter(|b| contains(b, s, e));
            // The smallest block around the unit, when it lies inside the
            // unit's own parent (or the unit is at the file's level).
            let nearest = inside.min_by_key(|b| b.end_byte - b.start_byte);
            let parent_range = u.parent.as_deref().and_then(|p| ranges.get(p));
            if let Some(b) = nearest
                && parent_range.is_none_or(|&(ps, pe)| ps <= b.start_byte && b.end_byte <= pe)
            {
                u.parent = Some(b.id.clone());
            }
            u
        })
        .collect();
    all.extend(blocks);
    all.sort_by_key(|u| (u.start_byte, std::cmp::Reverse(u.end_byte)));
    all
}

fn contains(u: &Unit, start: usize, end: usize) -> bool {
    (u.start_byte as usize) <= start
        && end <= u.end_byte as usize
        && (u.end_byte - u.start_byte) as usize > end - start
}

/// The smallest block or unit strictly enclosing `start..end`.
fn innermost<'u>(
    blocks: &'u [Unit],
    units: &'u [Unit],
    start: usize,
    end: usize,
) -> Option<&'u Unit> {
    blocks
        .iter()
        .chain(units)
        .filter(|u| contains(u, start, end))
        .min_by_key(|u| u.end_byte - u.start_byte)
}

fn block_unit(id: String, label: String, parent: String, node: Node) -> Unit {
    Unit {
        id,
        kind: UnitKind::Function,
        qname: label.clone(),
        name: label,
        parent: Some(parent),
        start_byte: node.start_byte() as u32,
        end_byte: node.end_byte() as u32,
        start_line: node.start_position().row as u32 + 1,
        end_line: node.end_position().row as u32 + 1,
        signature: String::new(),
        doc: String::new(),
        body_hash: String::new(),
        complexity: 1,
        is_test: true,
        exported: false,
        fields: Vec::new(),
        returns: String::new(),
        closure_args: Vec::new(),
    }
}

/// Test block statements under `node`, outer before inner, each with its
/// label (`it('sends')`).
fn collect<'t>(node: Node<'t>, text: &str, out: &mut Vec<(Node<'t>, String)>) {
    if node.kind() == "expression_statement"
        && let Some(label) = node.named_child(0).and_then(|call| label(call, text))
    {
        out.push((node, label));
    }
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        collect(child, text, out);
    }
}

/// `describe('name', function () {…})` → `describe('name')`: a call of a
/// block opener whose first argument is a string and whose last is a
/// function.
fn label(call: Node, text: &str) -> Option<String> {
    if call.kind() != "call_expression" {
        return None;
    }
    let callee = call.child_by_field_name("function")?;
    let opener = match callee.kind() {
        "identifier" => &text[callee.byte_range()],
        "member_expression" => {
            let object = callee.child_by_field_name("object")?;
            let property = callee.child_by_field_name("property")?;
            if object.kind() != "identifier" || !MODIFIERS.contains(&&text[property.byte_range()]) {
                return None;
            }
            &text[object.byte_range()]
        }
        _ => return None,
    };
    if !BLOCKS.contains(&opener) {
        return None;
    }
    let args = call.child_by_field_name("arguments")?;
    let first = args.named_child(0)?;
    let last = args.named_child(args.named_child_count().checked_sub(1)?)?;
    let is_function = matches!(last.kind(), "function_expression" | "function" | "arrow_function");
    if !matches!(first.kind(), "string" | "template_string") || !is_function {
        return None;
    }
    Some(format!("{}({})", &text[callee.byte_range()], &text[first.byte_range()]))
}

#[cfg(test)]
mod tests {
    use crate::graph::Language;
    use crate::merge::code::{Merged, merge};

    const SUITE: &str = "\
const request = require('supertest');

describe('res', function () {
  beforeEach(function () {
    this.app = makeApp();
  });

  describe('.send()', function () {
    it('sends a string', function (done) {
      request(this.app).get('/').expect('hi', done);
    });
  });
});
";

    fn add_test(name: &str, body: &str) -> String {
        let test = format!(
            "    it('{name}', function (done) {{\n      request(this.app).get('/').expect({body}, done);\n    }});\n"
        );
        SUITE.replace("    });\n  });\n});", &format!("    }});\n\n{test}  }});\n}});"))
    }

    #[test]
    fn tests_added_on_both_sides_at_one_place_keep_both_mains_first() {
        let ours = add_test("sends a number", "200");
        let theirs = add_test("sends json", "{}");
        let m = merge("test/res.js", Language::JavaScript, SUITE, &ours, &theirs);
        let Merged::Clean(text) = &m else { panic!("{m:?}") };
        let (a, b) = (text.find("sends a number").unwrap(), text.find("sends json").unwrap());
        assert!(a < b, "{text}");
        assert_eq!(text.matches("it('").count(), 3, "{text}");
    }

    #[test]
    fn a_test_added_on_both_sides_under_one_name_is_a_conflict_naming_it() {
        let ours = add_test("sends a number", "200");
        let theirs = add_test("sends a number", "201");
        let m = merge("test/res.js", Language::JavaScript, SUITE, &ours, &theirs);
        let Merged::Conflicts { conflicts, .. } = &m else { panic!("{m:?}") };
        let want = "test/res.js::describe('res')::describe('.send()')::it('sends a number')";
        assert!(conflicts.iter().any(|c| c.unit == want), "{conflicts:?}");
    }

    #[test]
    fn hooks_and_other_statements_stay_in_order() {
        // Two hooks added at one place: order can matter, so a conflict.
        let hook = |s: &str| {
            SUITE.replace(
                "  });\n\n  describe('.send()'",
                &format!("  }});\n  before(function () {{ {s} }});\n\n  describe('.send()'"),
            )
        };
        let m = merge("test/res.js", Language::JavaScript, SUITE, &hook("a()"), &hook("b()"));
        assert!(matches!(m, Merged::Conflicts { .. }), "{m:?}");
    }

    #[test]
    fn blocks_nest_by_their_ranges_and_take_their_units_in() {
        let text = "describe('a', () => {\n  function helper() {}\n  it.only('b', () => helper());\n  it('b', () => {});\n});\nfunction top() {}\n";
        let units = crate::graph::parse_file("t.js", text.as_bytes(), Language::JavaScript).units;
        let tree = crate::merge::code::syntax_tree(Language::JavaScript, text).unwrap();
        let all = super::with_blocks("t.js", text, &tree, units.into_iter().skip(1).collect());
        let ids: Vec<(&str, &str)> =
            all.iter().map(|u| (u.id.as_str(), u.parent.as_deref().unwrap_or(""))).collect();
        assert_eq!(
            ids,
            [
                ("t.js::describe('a')", "t.js"),
                ("t.js::helper", "t.js::describe('a')"),
                ("t.js::describe('a')::it.only('b')", "t.js::describe('a')"),
                ("t.js::describe('a')::it('b')", "t.js::describe('a')"),
                ("t.js::top", "t.js"),
            ]
        );
    }
}
