//! A file's references: what refs.scm matches, completed with the
//! receivers' types the file itself declares (fields, typed names,
//! returns), before resolution turns them into edges.

use std::collections::HashMap;

use tree_sitter::Node;

use super::*;

impl<'a> FileParser<'a> {
    /// The references of a file; for Rust, also its imports (the same
    /// query finds them).
    pub(super) fn find_refs<'t, 'm>(
        &self,
        matches: impl Iterator<Item = &'m [(&'static str, Node<'t>)]>,
        found: &[Found],
        units: &[Unit],
        imports: &mut Vec<Import>,
    ) -> Vec<Ref>
    where
        't: 'm,
    {
        let spans = Spans::of(found);
        let defining: std::collections::HashSet<usize> =
            found.iter().filter_map(|f| f.name_at).collect();
        // Keyed by the name node, so that two patterns matching one name
        // (a type with and without its path) give one reference.
        let mut by_node: HashMap<usize, Ref> = HashMap::new();
        let mut macro_args: Vec<Node> = Vec::new();
        // Rust: the scope of each function a method call is in, made once.
        let mut scopes: HashMap<usize, scope::RustScope> = HashMap::new();
        for captures in matches {
            let RefMatch { name, kind, path, receiver, decl, use_tree, mod_name, macro_args: args } =
                RefMatch::of(captures);
            macro_args.extend(args);
            self.declared_import(decl, use_tree, mod_name, imports);
            let (Some(name), Some(kind)) = (name, kind) else { continue };
            if kind == RefKind::Type && defining.contains(&name.start_byte()) {
                continue;
            }
            // `super(…)` calls the extended class's constructor.
            let text = match name.kind() {
                "super" => "constructor".to_owned(),
                _ => self.text_of(name).to_owned(),
            };
            if kind == RefKind::Call && text == "require" && self.language.is_js() {
                continue; // an import, read by js_imports
            }
            let path_segments = path.map(|p| path_segments(self.text_of(p))).unwrap_or_default();
            if kind == RefKind::Type && path.is_none() && by_node.contains_key(&name.start_byte()) {
                continue;
            }
            let from = spans.enclosing(name.start_byte());
            let receiver_type = match receiver {
                Some(node) if self.language == Language::Rust => {
                    self.rust_receiver(node, from, found, &spans, &mut scopes)
                }
                _ => None,
            };
            // `self`/`this`, or a plain name (a module bound by require).
            let receiver = receiver.and_then(|r| match r.kind() {
                // Python: `f(…).m()`, `a.g(…).m()` (`super().m()` among them).
                "call" if self.language == Language::Python => self.py_call_receiver(r),
                _ if plain_receiver(&r) => Some(self.text_of(r).to_owned()),
                _ => None,
            });
            by_node.insert(
                name.start_byte(),
                Ref {
                    from,
                    kind,
                    name: text,
                    path: path_segments,
                    receiver,
                    receiver_type,
                    line: Self::line(name),
                },
            );
        }
        imports.sort_by_key(|i| i.line);
        let refs: Vec<Ref> = by_node.into_values().collect();
        self.complete_refs(refs, macro_args, found, units, &spans, &mut scopes)
    }

    /// The references of a file made whole: those inside macro arguments
    /// and impls, receivers typed, one per target.
    fn complete_refs<'t>(
        &self,
        mut refs: Vec<Ref>,
        macro_args: Vec<Node>,
        found: &[Found<'t>],
        units: &[Unit],
        spans: &Spans,
        scopes: &mut HashMap<usize, scope::RustScope<'t>>,
    ) -> Vec<Ref> {
        // Calls inside macro arguments (`assert_eq!(f(x), 1)`): tree-sitter
        // keeps those as token trees, so they are read token by token.
        for args in macro_args {
            self.token_tree_refs(args, spans, &mut refs);
        }
        refs.extend(impl_refs(found));
        refs.retain(|r| !r.name.is_empty() && r.from < units.len());
        if self.language == Language::Rust {
            self.rust_macro_receivers(found, spans, scopes, &mut refs);
        } else {
            self.type_receivers(found, units, spans, &mut refs);
        }
        refs.sort();
        // One reference per unit, kind and target is enough for the graph
        // (a receiver of another type may be another target).
        refs.dedup_by(|b, a| {
            (a.from, a.kind, &a.name, &a.path, &a.receiver, &a.receiver_type)
                == (b.from, b.kind, &b.name, &b.path, &b.receiver, &b.receiver_type)
        });
        refs
    }

    /// Gives method calls the receiver's declared type where the code says
    /// it: a plain name (see `typed_names`), `self.field` (the field's type
    /// in the struct of this file), `super(…)` (the class extended).
    fn type_receivers(&self, found: &[Found], units: &[Unit], spans: &Spans, refs: &mut [Ref]) {
        let returns = self.return_types(found);
        let fields = own_fields(units);
        let mut typed: HashMap<usize, HashMap<String, String>> = HashMap::new();
        let module: &[(String, String)] = match self.language {
            Language::Python => units.first().map_or(&[], |f| f.fields.as_slice()),
            _ => &[],
        };
        for r in refs.iter_mut() {
            let Some(receiver) = r.receiver.clone() else { continue };
            if r.kind != RefKind::MethodCall || matches!(receiver.as_str(), "self" | "this") {
                continue;
            }
            let mut unit = r.from;
            let mut function = None;
            while unit > 0 {
                let f = &found[unit - 1];
                if matches!(f.kind, UnitKind::Function | UnitKind::Method) {
                    function = function.or(Some(f.node));
                }
                if receiver == "super" && f.kind == UnitKind::Class {
                    r.receiver_type = self.extended_class(f.node);
                    break;
                }
                // `this.field` / `self.field` in a class: the field's type.
                let own = receiver.strip_prefix("this.").or_else(|| receiver.strip_prefix("self."));
                if let (Some(field), UnitKind::Class) = (own, f.kind) {
                    r.receiver_type = fields.get(&(f.name.clone(), field.to_owned())).cloned();
                    // Python: maybe a base's field, followed while resolving.
                    if r.receiver_type.is_none() && self.language == Language::Python {
                        r.receiver_type = Some(receiver.clone());
                    }
                    break;
                }
                // Names are declared in functions; a container's would be
                // those of all its functions at once (and cost a walk of it).
                if !matches!(f.kind, UnitKind::Function | UnitKind::Method) {
                    unit = spans.parent[unit];
                    continue;
                }
                let names = typed.entry(unit).or_insert_with(|| self.typed_names(f.node, &returns));
                // Python `a.g(…).m()`: what g of a's type returns; `f(…).m()`,
                // `self.g(…).m()`: followed as they are (`py_chain_class`).
                if let Some(call) = receiver.strip_suffix("()")
                    && receiver != "super()"
                {
                    r.receiver_type = Some(match call.split_once('.') {
                        Some((var, g)) if let Some(t) = names.get(var) => format!("{t}.{g}()"),
                        _ => receiver.clone(),
                    });
                    break;
                }
                // `x.field` where x has a declared type: `Type.field`.
                if let Some((var, field)) = receiver.split_once('.')
                    && let Some(t) = names.get(var)
                {
                    // A field typed by a chain of its own class (Python's
                    // `self.m()`) is followed from `T.field` while resolving.
                    r.receiver_type = Some(
                        fields
                            .get(&(t.clone(), field.to_owned()))
                            .filter(|ty| !ty.starts_with("self."))
                            .cloned()
                            .unwrap_or_else(|| format!("{t}.{field}")),
                    );
                    break;
                }
                if let Some(t) = names.get(&receiver) {
                    r.receiver_type = Some(t.clone());
                    break;
                }
                unit = spans.parent[unit];
            }
            if r.receiver_type.is_none() {
                r.receiver_type = self.py_module_receiver(module, &receiver, function);
            }
        }
    }

    /// Python: the class of a name the module binds (`app = Flask(…)` at
    /// its top level), unless `function` binds that name itself.
    fn py_module_receiver(
        &self,
        module: &[(String, String)],
        receiver: &str,
        function: Option<Node>,
    ) -> Option<String> {
        let (_, t) = module.iter().find(|(n, _)| n == receiver)?;
        (!function.is_some_and(|f| self.py_binds(f, receiver))).then(|| t.clone())
    }

    /// Names a unit declares with a type: parameters, `let x: T`,
    /// `let x = T::new(..)` / `T { .. }`, `new T()`, JSDoc `@param {T} x`,
    /// and `const x = this.m()` / `f()` where m or f declares `@returns {T}`.
    fn typed_names(
        &self,
        unit: Node,
        returns: &HashMap<String, String>,
    ) -> HashMap<String, String> {
        let mut out = HashMap::new();
        if self.language == Language::JavaScript {
            self.jsdoc_params(unit, &mut out);
        }
        // Every node below the unit in one cursor walk, children before
        // their parent (postorder); of two declarations of a name the
        // first one seen here wins, and wins over the JSDoc.
        let mut declared = HashMap::new();
        let mut cursor = unit.walk();
        'walk: loop {
            while cursor.goto_first_child() {}
            loop {
                self.typed_name(cursor.node(), returns, &mut declared);
                if cursor.goto_next_sibling() {
                    continue 'walk;
                }
                if !cursor.goto_parent() {
                    break 'walk;
                }
            }
        }
        out.extend(declared);
        out
    }

    /// One node's part of `typed_names`, as its language declares names.
    fn typed_name(
        &self,
        node: Node,
        returns: &HashMap<String, String>,
        out: &mut HashMap<String, String>,
    ) {
        match self.language {
            // Rust's names are read by `rust_scope`.
            Language::Rust => {}
            Language::Python => self.py_typed_name(node, out),
            _ => self.js_typed_name(node, returns, out),
        }
    }

    /// What resolution reads of a unit's types, where its language says
    /// (Rust: `Self` being `self_type`).
    pub(super) fn types_of(&self, unit: &mut Unit, node: Node, self_type: Option<&str>) {
        match self.language {
            Language::Rust => self.rust_types_of(unit, node, self_type),
            Language::Python => unit.returns = self.py_returns(node),
            _ if matches!(unit.kind, UnitKind::Function | UnitKind::Method | UnitKind::Class) => {
                unit.closure_args = self.ts_closure_args(node, 0);
            }
            _ => {}
        }
    }
}

/// Where the found units are, read once (each read of a node's bytes is a
/// call into tree-sitter), with each unit's enclosing unit. Unit indices:
/// 0 is the file, i + 1 the i-th found unit.
pub(in crate::graph) struct Spans {
    starts: Vec<usize>,
    ends: Vec<usize>,
    pub(in crate::graph) parent: Vec<usize>,
}

impl Spans {
    fn of(found: &[Found]) -> Spans {
        let starts: Vec<usize> = found.iter().map(|f| f.node.start_byte()).collect();
        let ends: Vec<usize> = found.iter().map(|f| f.node.end_byte()).collect();
        let mut parent = vec![0; found.len() + 1];
        let mut stack: Vec<usize> = Vec::new();
        for i in 0..found.len() {
            while let Some(&top) = stack.last() {
                if ends[top] >= ends[i] && starts[top] <= starts[i] {
                    break;
                }
                stack.pop();
            }
            parent[i + 1] = stack.last().map_or(0, |&t| t + 1);
            stack.push(i);
        }
        Spans { starts, ends, parent }
    }

    /// The innermost unit containing byte `at` (0, the file, when none):
    /// the last unit starting at or before it, or the first of its
    /// enclosing units that reaches past it.
    pub(in crate::graph) fn enclosing(&self, at: usize) -> usize {
        let mut unit = self.starts.partition_point(|&s| s <= at);
        while unit > 0 && self.ends[unit - 1] <= at {
            unit = self.parent[unit];
        }
        unit
    }
}

/// What one match of refs.scm captured.
#[derive(Default)]
struct RefMatch<'t> {
    /// The referring name, and what kind of reference it is.
    name: Option<Node<'t>>,
    kind: Option<RefKind>,
    /// The path before the name (`a::b` of `a::b::f`).
    path: Option<Node<'t>>,
    receiver: Option<Node<'t>>,
    /// A `use` or `mod` declaration, its use tree, the module's name.
    decl: Option<Node<'t>>,
    use_tree: Option<Node<'t>>,
    mod_name: Option<Node<'t>>,
    /// Macro arguments, read token by token later.
    macro_args: Vec<Node<'t>>,
}

impl<'t> RefMatch<'t> {
    fn of(captures: &[(&'static str, Node<'t>)]) -> RefMatch<'t> {
        let mut m = RefMatch::default();
        for &(capture, node) in captures {
            let mut named = |kind| (m.name, m.kind) = (Some(node), Some(kind));
            match capture {
                "call.name" => named(RefKind::Call),
                "call.method" => named(RefKind::MethodCall),
                "call.super" => {
                    named(RefKind::MethodCall);
                    m.receiver = Some(node);
                }
                "macro.name" => named(RefKind::Macro),
                "type.name" => named(RefKind::Type),
                "extends.name" => named(RefKind::Implements),
                "macro.args" => m.macro_args.push(node),
                "use.decl" | "mod.decl" => m.decl = Some(node),
                "use.tree" => m.use_tree = Some(node),
                "mod.name" => m.mod_name = Some(node),
                "call.path" | "type.path" => m.path = Some(node),
                "call.receiver" => m.receiver = Some(node),
                other => unreachable!("capture @{other} in refs.scm"),
            }
        }
        m
    }
}

/// A receiver the graph can follow: `self`/`this`, a plain name (a module
/// bound by require, a local), or a field of one (`self.field`, Rust).
/// (And Python's `super()`, by its text.)
fn plain_receiver(r: &Node) -> bool {
    match r.kind() {
        "self" | "this" | "identifier" | "super" => true,
        // `self.field` (Python).
        "attribute" => {
            r.child_by_field_name("object").is_some_and(|o| o.kind() == "identifier")
                && r.child_by_field_name("attribute").is_some_and(|a| a.kind() == "identifier")
        }
        // `this.field` (JavaScript, TypeScript).
        "member_expression" => {
            r.child_by_field_name("object").is_some_and(|o| o.kind() == "this")
                && r.child_by_field_name("property")
                    .is_some_and(|p| p.kind() == "property_identifier")
        }
        "field_expression" => {
            r.child_by_field_name("value")
                .is_some_and(|v| matches!(v.kind(), "self" | "identifier"))
                && r.child_by_field_name("field").is_some_and(|f| f.kind() == "field_identifier")
        }
        _ => false,
    }
}

/// `impl Trait for Type`: the impl implements the trait.
fn impl_refs<'a>(found: &'a [Found<'a>]) -> impl Iterator<Item = Ref> + 'a {
    found.iter().enumerate().filter_map(|(i, f)| {
        let (name, path) = f.impl_trait.as_ref()?;
        Some(Ref {
            from: i + 1,
            kind: RefKind::Implements,
            name: name.clone(),
            path: path.clone(),
            receiver: None,
            receiver_type: None,
            line: FileParser::line(f.node),
        })
    })
}

/// The fields of a file's structs and classes, with their types, by the
/// type's name and the field's.
fn own_fields(units: &[Unit]) -> HashMap<(String, String), String> {
    units
        .iter()
        .filter(|u| matches!(u.kind, UnitKind::Struct | UnitKind::Class))
        .flat_map(|u| u.fields.iter().map(|(f, t)| ((u.name.clone(), f.clone()), t.clone())))
        .collect()
}
