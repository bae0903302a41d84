//! Callbacks: the untyped parameters of a function handed to another by
//! name are typed by what that one declares of its callback's parameters
//! (TypeScript's `init: (source: Observable<T>, subscriber: Subscriber<T>)
//! => void`). `parse` records both sides (`Unit::closure_args`, and a
//! parameter's type as `=>callee#j`); `resolve` joins them.

use std::collections::HashMap;

use tree_sitter::Node;

use super::UnitKind;
use super::parse::FileParser;
use super::resolve::{Confidence, FileContext};

impl<'a> FileParser<'a> {
    /// The parameter types of the callback a TypeScript function takes
    /// (its first parameter typed `(a: A, b: B) => R`; a class's: its
    /// constructor's), `this:` left out, "" where a type is not a class.
    pub(super) fn ts_closure_args(&self, node: Node, depth: u8) -> Vec<String> {
        let generic = self.type_parameters(node);
        let node = match node.kind() {
            "variable_declarator" | "public_field_definition" => {
                match node.child_by_field_name("value") {
                    Some(v) => v,
                    None => return Vec::new(),
                }
            }
            "class_declaration" | "class" | "abstract_class_declaration" if depth == 0 => {
                let Some(body) = node.child_by_field_name("body") else { return Vec::new() };
                let mut cursor = body.walk();
                let constructor = body.named_children(&mut cursor).find(|m| {
                    m.kind() == "method_definition"
                        && m.child_by_field_name("name")
                            .is_some_and(|n| self.text_of(n) == "constructor")
                });
                let args = constructor.map_or_else(Vec::new, |c| self.ts_closure_args(c, 1));
                return args
                    .into_iter()
                    .map(|t| if generic.contains(&t.as_str()) { String::new() } else { t })
                    .collect();
            }
            _ => node,
        };
        let generic = [generic, self.type_parameters(node)].concat();
        let Some(params) = node.child_by_field_name("parameters") else { return Vec::new() };
        let mut cursor = params.walk();
        let callback = params.named_children(&mut cursor).find_map(|p| {
            let ty = p.child_by_field_name("type")?.named_child(0)?;
            (ty.kind() == "function_type").then_some(ty)
        });
        let Some(params) = callback.and_then(|f| f.child_by_field_name("parameters")) else {
            return Vec::new();
        };
        let mut cursor = params.walk();
        params
            .named_children(&mut cursor)
            .filter(|p| p.child_by_field_name("pattern").is_none_or(|n| self.text_of(n) != "this"))
            .map(|p| p.child_by_field_name("type").and_then(|t| self.ts_type(t)))
            .map(|t| t.filter(|t| !generic.contains(&t.as_str())).unwrap_or_default())
            .collect()
    }

    /// The names of a declaration's type parameters (`T`, `R` of `f<T, R>`).
    fn type_parameters(&self, node: Node) -> Vec<&'a str> {
        let Some(params) = node.child_by_field_name("type_parameters") else { return Vec::new() };
        let mut cursor = params.walk();
        params
            .named_children(&mut cursor)
            .filter_map(|p| p.child_by_field_name("name"))
            .map(|n| self.text_of(n))
            .collect()
    }

    /// The untyped parameters of a callback handed to a function or a
    /// constructor by name (`operate((source, subscriber) => …)`, `new
    /// Observable((subscriber) => …)`), as the first callback argument:
    /// each typed `=>callee#j`, its callee's `closure_args[j]` (see
    /// `FileContext::js_callback_arg`).
    pub(super) fn callback_parameters(&self, node: Node, out: &mut HashMap<String, String>) {
        let Some(arguments) = node.parent().filter(|a| a.kind() == "arguments") else { return };
        let Some(call) = arguments.parent() else { return };
        let callee = match call.kind() {
            "call_expression" => call.child_by_field_name("function"),
            "new_expression" => call.child_by_field_name("constructor"),
            _ => None,
        };
        let Some(callee) = callee.filter(|c| c.kind() == "identifier") else { return };
        let mut cursor = arguments.walk();
        let first = arguments.named_children(&mut cursor).find(|a| is_function_node(*a));
        if first != Some(node) {
            return;
        }
        let callee = self.text_of(callee);
        if let Some(p) = node.child_by_field_name("parameter") {
            out.entry(self.text_of(p).to_owned()).or_insert(format!("=>{callee}#0"));
            return;
        }
        let Some(params) = node.child_by_field_name("parameters") else { return };
        let mut cursor = params.walk();
        for (j, p) in params.named_children(&mut cursor).enumerate() {
            let pattern = p.child_by_field_name("pattern").filter(|n| n.kind() == "identifier");
            if let Some(name) = pattern.filter(|_| p.child_by_field_name("type").is_none()) {
                out.entry(self.text_of(name).to_owned()).or_insert(format!("=>{callee}#{j}"));
            }
        }
    }
}

impl FileContext<'_> {
    /// The class a callback's parameter is typed by (`=>callee#j`, see
    /// `FileParser::callback_parameters`): `closure_args[j]` of what the
    /// callee names, when all its definitions agree.
    pub(super) fn js_callback_arg(&self, spec: &str) -> Option<String> {
        let (callee, j) = spec.strip_prefix("=>")?.rsplit_once('#')?;
        let j: usize = j.parse().ok()?;
        let found = self.plain_name(callee, |k| matches!(k, UnitKind::Function | UnitKind::Class));
        if found.iter().any(|(_, c)| *c != Confidence::Resolved) {
            return None;
        }
        let mut agreed: Option<&String> = None;
        for (id, _) in &found {
            let ty = self.symbol_by_id(id)?.closure_args.get(j).filter(|t| !t.is_empty())?;
            match agreed {
                Some(a) if a != ty => return None,
                _ => agreed = Some(ty),
            }
        }
        agreed.cloned()
    }
}

/// An arrow function or a function expression.
pub(super) fn is_function_node(node: Node) -> bool {
    matches!(node.kind(), "arrow_function" | "function_expression" | "function")
}
