//! The names a Rust function binds, for typing method receivers
//! (`receivers`): parameters, `let` (also of tuples and structs), `if let`
//! and `while let`, match arms, `for` loops and closures' parameters, each
//! with the bytes it is in force over.

use std::collections::HashMap;

use tree_sitter::Node;

use super::UnitKind;
use super::parse::{self, FileParser, Spans};
use super::rust::path_segments;

/// What a name in a function is bound to, for typing method receivers.
#[derive(Clone)]
pub(super) enum Binding<'t> {
    /// A declared type (a parameter's, `let x: T`).
    Type(Node<'t>),
    /// The value it was given (`let x = …`).
    Value(Node<'t>),
    /// What `Some(x)` or `Ok(x)` opens of a value (`if let Some(x) = …`).
    Opened(Node<'t>),
    /// An enum variant's payload (`Kind::Std(x) =>`): `Kind.Std`.
    Variant(String),
    /// One element of a tuple a value is (`let (a, b) = f();`).
    Element(Node<'t>, usize),
    /// The i-th parameter of a closure passed to a call (`x.with(|c| …)`):
    /// what the called function says it hands its closure.
    ClosureArg(Node<'t>, usize),
    /// What `for x in value` binds: one element (of a tuple element, for
    /// `for (i, x) in …`).
    Iterated(Node<'t>, Option<usize>),
}

/// The nodes that bind names for `rust_scope`.
const BINDS: &[&str] = &[
    "parameter",
    "let_declaration",
    "let_condition",
    "match_arm",
    "closure_expression",
    "for_expression",
];

/// The names of one Rust function and the type `Self` is there.
pub(super) struct RustScope<'t> {
    pub(super) self_type: Option<String>,
    /// Each name's bindings in source order, with the bytes they are in
    /// force over (from the end of a `let` to the end of its block).
    bindings: HashMap<String, Vec<(std::ops::Range<usize>, Binding<'t>)>>,
}

impl<'t> RustScope<'t> {
    /// The binding of `name` in force where it is used, somewhere in
    /// the bytes `at` (one byte, or a line of a macro's tokens): the last
    /// one made whose block holds them (`let x = x.unwrap();` shadows).
    pub(super) fn binding(&self, name: &str, at: std::ops::Range<usize>) -> Option<&Binding<'t>> {
        let all = self.bindings.get(name)?;
        all.iter().rev().find(|(r, _)| r.start < at.end && at.start < r.end).map(|(_, b)| b)
    }
}

impl<'a> FileParser<'a> {
    /// A function's names: its parameters, `let` bindings (also of
    /// tuples), `if let Some(x)` / `while let Ok(x)` patterns and match
    /// arms' enum variants.
    fn rust_scope<'t>(&self, function: Node<'t>, self_type: Option<String>) -> RustScope<'t> {
        let mut bindings: HashMap<String, Vec<(std::ops::Range<usize>, Binding<'t>)>> =
            HashMap::new();
        // Every named node below the function, in source order, without
        // allocating: a cursor's preorder walk.
        // (`Node::parent` walks down from the root: the ancestors are kept.)
        let mut cursor = function.walk();
        let mut ancestors: Vec<Node<'t>> = Vec::new();
        'walk: loop {
            let node = cursor.node();
            if BINDS.contains(&node.kind()) {
                self.bind_in(node, &ancestors, function, &mut bindings);
            }
            if cursor.goto_first_child() {
                ancestors.push(node);
                continue;
            }
            while !cursor.goto_next_sibling() {
                if !cursor.goto_parent() {
                    break 'walk;
                }
                ancestors.pop();
            }
        }
        RustScope { self_type, bindings }
    }

    /// What one node of `BINDS` binds, into `bindings`.
    fn bind_in<'t>(
        &self,
        node: Node<'t>,
        ancestors: &[Node<'t>],
        function: Node<'t>,
        bindings: &mut HashMap<String, Vec<(std::ops::Range<usize>, Binding<'t>)>>,
    ) {
        let span = binding_span(node, ancestors, function);
        let grandparent = ancestors.len().checked_sub(2).map(|i| ancestors[i]);
        let mut bind = |name: String, b: Binding<'t>| {
            bindings.entry(name).or_default().push((span.clone(), b));
        };
        let pattern = node.child_by_field_name("pattern");
        let value = node.child_by_field_name("value");
        let bound = match node.kind() {
            "parameter" => node.child_by_field_name("type").map(Binding::Type),
            "let_declaration" => {
                node.child_by_field_name("type").map(Binding::Type).or(value.map(Binding::Value))
            }
            _ => None,
        };
        if let (Some(name), Some(b)) = (pattern.and_then(|p| self.bound_name(p)), bound) {
            bind(name, b);
        }
        // `let (a, b) = value;`
        if node.kind() == "let_declaration"
            && let (Some(p), Some(v)) = (pattern, value)
            && p.kind() == "tuple_pattern"
        {
            let mut cursor = p.walk();
            for (i, element) in p.named_children(&mut cursor).enumerate() {
                if let Some(name) = self.bound_name(element) {
                    bind(name, Binding::Element(v, i));
                }
            }
        }
        // A match arm's pattern opens the value matched.
        let value = match node.kind() {
            "match_arm" => grandparent.and_then(|m| m.child_by_field_name("value")),
            _ => value,
        };
        if matches!(node.kind(), "let_condition" | "match_arm")
            && let Some((name, b)) = pattern.and_then(|p| self.pattern_binding(p, value))
        {
            bind(name, b);
        }
        if matches!(node.kind(), "let_condition" | "match_arm" | "let_declaration")
            && let Some(p) = pattern
        {
            for (name, chain) in self.struct_pattern_fields(p) {
                bind(name, Binding::Variant(chain));
            }
        }
        if node.kind() == "for_expression"
            && let (Some(p), Some(v)) = (pattern, value)
        {
            for (name, b) in self.loop_bindings(p, v) {
                bind(name, b);
            }
        }
        if node.kind() == "closure_expression"
            && let Some(call) = grandparent
            && call.kind() == "call_expression"
            && let Some(params) = node.child_by_field_name("parameters")
        {
            let mut cursor = params.walk();
            for (i, p) in params.named_children(&mut cursor).enumerate() {
                if let Some(name) = self.bound_name(p) {
                    bind(name, Binding::ClosureArg(call, i));
                }
            }
        }
    }

    /// What `for pattern in value` binds: `x`, or `(i, x)`'s elements.
    fn loop_bindings<'t>(&self, pattern: Node, value: Node<'t>) -> Vec<(String, Binding<'t>)> {
        if pattern.kind() != "tuple_pattern" {
            let name = self.bound_name(pattern);
            return name.map(|n| (n, Binding::Iterated(value, None))).into_iter().collect();
        }
        let mut cursor = pattern.walk();
        let elements: Vec<Node> = pattern.named_children(&mut cursor).collect();
        let named = elements
            .into_iter()
            .enumerate()
            .filter_map(|(i, e)| Some((self.bound_name(e)?, Binding::Iterated(value, Some(i)))));
        named.collect()
    }

    /// `x`, `mut x`, `ref x` or `ref mut x`.
    fn bound_name(&self, pattern: Node) -> Option<String> {
        match pattern.kind() {
            "identifier" => Some(self.text_of(pattern).to_owned()),
            "mut_pattern" | "ref_pattern" => {
                self.bound_name(pattern.named_child(pattern.named_child_count().checked_sub(1)?)?)
            }
            _ => None,
        }
    }

    /// The names a struct pattern binds, each with the field it is:
    /// `Point { x, y: b, .. }` gives `x` as `Point.x` and `b` as `Point.y`;
    /// an enum's struct-like variant, `Kind::Big { len, .. }`, gives `len`
    /// as `Kind.Big::len`.
    fn struct_pattern_fields(&self, pattern: Node) -> Vec<(String, String)> {
        let pattern = match pattern.kind() {
            "match_pattern" => match pattern.named_child(0) {
                Some(p) => p,
                None => return Vec::new(),
            },
            _ => pattern,
        };
        let Some(ty) =
            pattern.child_by_field_name("type").filter(|_| pattern.kind() == "struct_pattern")
        else {
            return Vec::new();
        };
        let owner = match path_segments(self.text_of(ty)).as_slice() {
            [.., owner, variant]
                if variant.starts_with(char::is_uppercase)
                    && owner.starts_with(char::is_uppercase) =>
            {
                format!("{owner}.{variant}::")
            }
            [.., name] => format!("{name}."),
            [] => return Vec::new(),
        };
        let mut out = Vec::new();
        let mut cursor = pattern.walk();
        for field in pattern.named_children(&mut cursor).filter(|f| f.kind() == "field_pattern") {
            let Some(name) = field.child_by_field_name("name") else { continue };
            let bound = match field.child_by_field_name("pattern") {
                Some(p) => self.bound_name(p),
                None => Some(self.text_of(name).to_owned()),
            };
            if let Some(bound) = bound {
                out.push((bound, format!("{owner}{}", self.text_of(name))));
            }
        }
        out
    }

    /// The name a one-field pattern binds: `Some(x)` / `Ok(x)` (what the
    /// value holds), `Kind::Std(x)` (the variant's payload).
    fn pattern_binding<'t>(
        &self,
        pattern: Node<'t>,
        value: Option<Node<'t>>,
    ) -> Option<(String, Binding<'t>)> {
        let pattern = match pattern.kind() {
            "match_pattern" => pattern.named_child(0)?,
            _ => pattern,
        };
        if pattern.kind() != "tuple_struct_pattern" || pattern.named_child_count() != 2 {
            return None;
        }
        let name = self.bound_name(pattern.named_child(1)?)?;
        let ty = self.text_of(pattern.child_by_field_name("type")?);
        if matches!(ty, "Some" | "Ok") {
            return Some((name, Binding::Opened(value?)));
        }
        match path_segments(ty).as_slice() {
            [.., owner, variant] => Some((name, Binding::Variant(format!("{owner}.{variant}")))),
            _ => None,
        }
    }

    /// The scope around unit `unit` (an index of `spans`): its innermost
    /// function's names, and the type of the impl around that.
    pub(super) fn rust_scope_at<'t>(
        &self,
        found: &[parse::Found<'t>],
        spans: &Spans,
        unit: usize,
    ) -> RustScope<'t> {
        let mut function = None;
        let mut self_type = None;
        let mut at = unit;
        while at > 0 {
            let f = &found[at - 1];
            match f.kind {
                UnitKind::Function | UnitKind::Method if function.is_none() => {
                    function = Some(f.node)
                }
                UnitKind::Impl => {
                    self_type = f.impl_type.clone();
                    break;
                }
                _ => {}
            }
            at = spans.parent[at];
        }
        match function {
            Some(node) => self.rust_scope(node, self_type),
            None => RustScope { self_type, bindings: HashMap::new() },
        }
    }
}

/// The bytes over which what `node` binds is in force: a parameter's
/// function, from the end of a `let` to the end of its block, an `if let`'s
/// or `while let`'s body, a `for` loop's body, a match arm, a closure.
fn binding_span(node: Node, ancestors: &[Node], function: Node) -> std::ops::Range<usize> {
    match node.kind() {
        "parameter" => node.start_byte()..function.end_byte(),
        "let_declaration" => {
            node.end_byte()..ancestors.last().map_or(function.end_byte(), |p| p.end_byte())
        }
        "for_expression" => node.child_by_field_name("body").map_or(0..0, |b| b.byte_range()),
        "let_condition" => {
            let outer = ancestors
                .iter()
                .rev()
                .find(|a| matches!(a.kind(), "if_expression" | "while_expression"));
            node.end_byte()..outer.map_or(function.end_byte(), |o| o.end_byte())
        }
        _ => node.start_byte()..node.end_byte(),
    }
}
