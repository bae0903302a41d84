//! Rust receivers typed as the compiler would where the code says: a
//! method call's receiver is written down while parsing as a chain from
//! what the code names (`Arc<Shared>.queue.lock().?`, `Handle::current()`,
//! a binding's value) and followed while resolving, through the fields,
//! return types and type aliases of the tree's units and what the standard
//! library's wrappers hand out (`types::Ty`), to the type whose method is
//! called. `rust` calls into this; `rust_macro_receivers` types the
//! receivers read from macro arguments.

use std::collections::HashMap;

use tree_sitter::Node;

use super::parse::{self, FileParser, Spans};
use super::resolve::{
    Confidence, FileContext, Found, MAX_AMBIGUOUS, Symbol, is_std, one, one_definition,
};
use super::rust::{path_segments, rust_package_dir};
use super::scope::{Binding, RustScope};
use super::types::{MAX_CHAIN, Ty};
use super::{ImportKind, Ref, RefKind, Unit, UnitKind};

impl<'a> FileParser<'a> {
    /// Method calls read from macro arguments (`assert!(x.is_ok())`) have
    /// a plain receiver's text only: typed from the scope's names.
    pub(super) fn rust_macro_receivers<'t>(
        &self,
        found: &[parse::Found<'t>],
        spans: &Spans,
        scopes: &mut HashMap<usize, RustScope<'t>>,
        refs: &mut [Ref],
    ) {
        let untyped = |r: &Ref| {
            r.kind == RefKind::MethodCall && r.receiver.is_some() && r.receiver_type.is_none()
        };
        if !refs.iter().any(untyped) {
            return;
        }
        let line_starts: Vec<usize> =
            std::iter::once(0).chain(self.text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        for r in refs.iter_mut().filter(|r| r.kind == RefKind::MethodCall) {
            let Some(receiver) = r.receiver.take() else { continue };
            if r.receiver_type.is_some() {
                r.receiver = Some(receiver);
                continue;
            }
            let scope =
                scopes.entry(r.from).or_insert_with(|| self.rust_scope_at(found, spans, r.from));
            let (first, rest) = match receiver.split_once('.') {
                Some((first, rest)) => (first, Some(rest)),
                None => (receiver.as_str(), None),
            };
            // The tokens' bytes are not kept: the call's line.
            let line = |n: usize| line_starts.get(n).copied().unwrap_or(self.text.len());
            let at = line((r.line as usize).saturating_sub(1))..line(r.line as usize);
            let base = match first.strip_suffix("()") {
                Some(_) => Some(first.to_owned()),
                None => self.rust_named(first, at, scope, 0),
            };
            r.receiver_type = match (base, rest) {
                (Some(base), Some(rest)) => Some(format!("{base}.{rest}")),
                (base, _) => base,
            };
            // Only a plain name is a receiver to the rest of resolution.
            if rest.is_none() && !first.ends_with("()") {
                r.receiver = Some(first.to_owned());
            }
        }
    }

    /// The chain of a method call's receiver (see `rust_chain`), in the
    /// scope of unit `from`, made once per unit.
    pub(super) fn rust_receiver<'t>(
        &self,
        receiver: Node,
        from: usize,
        found: &[parse::Found<'t>],
        spans: &Spans,
        scopes: &mut HashMap<usize, RustScope<'t>>,
    ) -> Option<String> {
        let scope = scopes.entry(from).or_insert_with(|| self.rust_scope_at(found, spans, from));
        self.rust_chain(receiver, scope, 0)
    }

    /// A method call's receiver as resolution follows it: a type
    /// (`types::Ty` text), a static (`$NAME`) or a call (`path::f()`), then
    /// steps: `.field`, `.method()`, `.?`, `.[]`. `None` where the code
    /// does not say (a closure's parameter, a tuple, a macro).
    pub(super) fn rust_chain(&self, node: Node, scope: &RustScope, depth: u32) -> Option<String> {
        if depth > 8 {
            return None;
        }
        let field = |f: &str| node.child_by_field_name(f);
        let step = |inner: Node, step: &str| -> Option<String> {
            let base = self.rust_chain(inner, scope, depth + 1)?;
            (base.matches('.').count() < MAX_CHAIN).then(|| format!("{base}.{step}"))
        };
        match node.kind() {
            "self" => scope.self_type.clone(),
            "identifier" => self.rust_named(self.text_of(node), node.byte_range(), scope, depth),
            "field_expression" => step(field("value")?, self.text_of(field("field")?)),
            "call_expression" => {
                let mut function = field("function")?;
                if function.kind() == "generic_function" {
                    function = function.child_by_field_name("function")?;
                }
                if function.kind() == "field_expression" {
                    let name = self.text_of(function.child_by_field_name("field")?);
                    return step(function.child_by_field_name("value")?, &format!("{name}()"));
                }
                self.rust_call_chain(function, field("arguments"), scope, depth)
            }
            "try_expression" => step(node.named_child(0)?, "?"),
            // `v[a..]` is a slice of the same elements; `v[i]`, one.
            "index_expression"
                if node.named_child(1).is_some_and(|i| i.kind() == "range_expression") =>
            {
                self.rust_chain(node.named_child(0)?, scope, depth + 1)
            }
            "index_expression" => step(node.named_child(0)?, "[]"),
            "await_expression" | "parenthesized_expression" => {
                self.rust_chain(node.named_child(0)?, scope, depth + 1)
            }
            "reference_expression" => self.rust_chain(field("value")?, scope, depth + 1),
            // The first arm or branch that gives a type.
            "match_expression" => {
                let block = field("body")?;
                let mut cursor = block.walk();
                let arms: Vec<Node> = block.named_children(&mut cursor).collect();
                arms.into_iter().find_map(|arm| {
                    self.rust_chain(arm.child_by_field_name("value")?, scope, depth + 1)
                })
            }
            "if_expression" => {
                let then = self.rust_chain(field("consequence")?, scope, depth + 1);
                then.or_else(|| {
                    let alternative = field("alternative")?.named_child(0)?;
                    self.rust_chain(alternative, scope, depth + 1)
                })
            }
            // `unsafe { x.as_ref() }`, `{ a; b }`: the block's value.
            "unsafe_block" | "block" => {
                let block = match node.kind() {
                    "unsafe_block" => node.named_child(0)?,
                    _ => node,
                };
                let last = block.named_child(block.named_child_count().checked_sub(1)?)?;
                self.rust_chain(last, scope, depth + 1)
            }
            "unary_expression" if self.text_of(node).starts_with('*') => {
                self.rust_chain(node.named_child(0)?, scope, depth + 1)
            }
            "struct_expression" => {
                let name = path_segments(self.text_of(field("name")?)).pop()?;
                match name.as_str() {
                    "Self" => scope.self_type.clone(),
                    _ => Some(name),
                }
            }
            _ => None,
        }
    }

    /// A call by name or path (`f()`, `a::Type::new()`) as a chain's start.
    fn rust_call_chain(
        &self,
        function: Node,
        arguments: Option<Node>,
        scope: &RustScope,
        depth: u32,
    ) -> Option<String> {
        if !matches!(function.kind(), "identifier" | "scoped_identifier") {
            return None;
        }
        let mut path = path_segments(self.text_of(function));
        if path.first().is_some_and(|s| s == "Self") {
            path[0] = scope.self_type.clone()?;
        }
        if let Some(wrapped) = self.rust_wrapped(&path, arguments, scope, depth) {
            return Some(wrapped);
        }
        Some(format!("{}()", path.join("::")))
    }

    /// `Arc::new(x)`, `Box::pin(x)`, `Some(x)`…: the wrapper of x's type,
    /// where that is a type (`Arc<Shared>`, not a chain).
    fn rust_wrapped(
        &self,
        path: &[String],
        arguments: Option<Node>,
        scope: &RustScope,
        depth: u32,
    ) -> Option<String> {
        let wrapper = match path {
            [w, f] if matches!(f.as_str(), "new" | "pin") && Ty::wraps(w) => w.as_str(),
            [w] if matches!(w.as_str(), "Some" | "Ok") => "Option",
            _ => return None,
        };
        let argument = arguments?.named_child(0)?;
        let inner = self.rust_chain(argument, scope, depth + 1)?;
        Ty::parse(&inner)?;
        Some(format!("{wrapper}<{inner}>"))
    }

    /// What a plain name is: a binding of the scope, or a static
    /// (`SCREAMING_CASE`, looked up by resolution).
    fn rust_named(
        &self,
        name: &str,
        at: std::ops::Range<usize>,
        scope: &RustScope,
        depth: u32,
    ) -> Option<String> {
        match scope.binding(name, at) {
            Some(Binding::Type(t)) => {
                self.rust_ty(*t, scope.self_type.as_deref()).map(|t| t.to_string())
            }
            Some(Binding::Value(v)) => self.rust_chain(*v, scope, depth + 1),
            Some(Binding::Opened(v)) => {
                let base = self.rust_chain(*v, scope, depth + 1)?;
                Some(format!("{base}.?"))
            }
            Some(Binding::ClosureArg(call, i)) => {
                // The call's chain with its last `()` as `(|i)`.
                let chain = self.rust_chain(*call, scope, depth + 1)?;
                Some(format!("{}(|{i})", chain.strip_suffix("()")?))
            }
            Some(Binding::Iterated(v, i)) => {
                let base = self.rust_chain(*v, scope, depth + 1)?;
                match i {
                    Some(i) => Some(format!("{base}.[].{i}")),
                    None => Some(format!("{base}.[]")),
                }
            }
            Some(Binding::Element(v, i)) => {
                let base = self.rust_chain(*v, scope, depth + 1)?;
                Some(format!("{base}.{i}"))
            }
            Some(Binding::Variant(chain)) => match chain.strip_prefix("Self.") {
                Some(variant) => Some(format!("{}.{variant}", scope.self_type.as_deref()?)),
                None => Some(chain.clone()),
            },
            None if name == "self" => scope.self_type.clone(),
            None if name.chars().all(|c| c.is_uppercase() || c == '_' || c.is_ascii_digit()) => {
                Some(format!("${name}"))
            }
            None => None,
        }
    }

    /// A type node as `types::Ty`: paths cut to their last segment,
    /// references, pointers, lifetimes, `dyn` and `impl` dropped, generic
    /// arguments kept; `Self` is `self_type` where given. `None` for a
    /// tuple, a function pointer, a macro.
    pub(super) fn rust_ty(&self, node: Node, self_type: Option<&str>) -> Option<Ty> {
        let field = |f: &str| node.child_by_field_name(f);
        match node.kind() {
            "type_identifier" | "primitive_type" => {
                let name = self.text_of(node);
                Some(Ty::named(if name == "Self" { self_type.unwrap_or(name) } else { name }))
            }
            "scoped_type_identifier" => {
                let mut ty = self.rust_ty(field("name")?, self_type)?;
                ty.scope = field("path").map(|p| self.text_of(p).to_owned()).unwrap_or_default();
                Some(ty)
            }
            "generic_type" => {
                let mut ty = self.rust_ty(field("type")?, self_type)?;
                if let Some(args) = field("type_arguments") {
                    let mut cursor = args.walk();
                    for arg in args.named_children(&mut cursor) {
                        if !matches!(arg.kind(), "lifetime" | "type_binding" | "trait_bounds") {
                            ty.args.push(self.rust_ty(arg, self_type)?);
                        }
                    }
                }
                Some(ty)
            }
            "reference_type" | "pointer_type" => self.rust_ty(field("type")?, self_type),
            "tuple_type" if node.named_child_count() > 0 => {
                let mut cursor = node.walk();
                let args: Option<Vec<Ty>> =
                    node.named_children(&mut cursor).map(|t| self.rust_ty(t, self_type)).collect();
                Some(Ty::with_args("()", args?))
            }
            "dynamic_type" | "abstract_type" => self.rust_ty(field("trait")?, self_type),
            // `()`, `!`: no type of the tree's. A function pointer or an
            // `Fn(…)` bound: called, never a receiver of the tree's methods.
            "unit_type" => Some(Ty::named("()")),
            "never_type" => Some(Ty::named("!")),
            "function_type" => Some(Ty::named("fn")),
            // `dyn FnOnce() + Send`: the first bound.
            "bounded_type" => {
                let mut cursor = node.walk();
                let first = node.named_children(&mut cursor).find(|c| c.kind() != "lifetime");
                self.rust_ty(first?, self_type)
            }
            "array_type" => {
                Some(Ty::with_args("[]", vec![self.rust_ty(field("element")?, self_type)?]))
            }
            _ => None,
        }
    }

    /// What resolution reads of a Rust unit's types: a function's return
    /// type and its closure's arguments, a static's type, an alias's
    /// target; `Self` being `self_type`.
    pub(super) fn rust_types_of(&self, unit: &mut Unit, node: Node, self_type: Option<&str>) {
        unit.returns = self.rust_returns(unit.kind, node, self_type);
        if matches!(unit.kind, UnitKind::Function | UnitKind::Method) {
            unit.closure_args = self.rust_closure_args(node, self_type);
        }
    }

    /// The parameter types of the closure a Rust function takes (its first
    /// parameter of type `impl FnOnce(A, B)`, or `F` with `F: Fn(A, B)`
    /// among its bounds), as `types::Ty` writes them.
    pub(super) fn rust_closure_args(&self, node: Node, self_type: Option<&str>) -> Vec<String> {
        let Some(params) = node.child_by_field_name("parameters") else { return Vec::new() };
        // `F: Fn(…)` bounds, by the parameter's name.
        let mut bounds: HashMap<&str, Node> = HashMap::new();
        let mut stack: Vec<Node> = ["type_parameters", "where_clause"]
            .iter()
            .filter_map(|f| node.child_by_field_name(f))
            .chain(node.named_children(&mut node.walk()).filter(|c| c.kind() == "where_clause"))
            .collect();
        while let Some(n) = stack.pop() {
            let name = n.child_by_field_name("left").or_else(|| n.child_by_field_name("name"));
            if let (Some(name), Some(b)) = (name, n.child_by_field_name("bounds")) {
                let mut cursor = b.walk();
                if let Some(f) = b.named_children(&mut cursor).find(|c| c.kind() == "function_type")
                {
                    bounds.insert(self.text_of(name), f);
                }
            }
            let mut cursor = n.walk();
            stack.extend(n.named_children(&mut cursor));
        }
        let mut cursor = params.walk();
        let closure = params.named_children(&mut cursor).find_map(|p| {
            let ty = p.child_by_field_name("type")?;
            match ty.kind() {
                "abstract_type" => {
                    ty.child_by_field_name("trait").filter(|t| t.kind() == "function_type")
                }
                "type_identifier" => bounds.get(self.text_of(ty)).copied(),
                _ => None,
            }
        });
        let Some(params) = closure.and_then(|f| f.child_by_field_name("parameters")) else {
            return Vec::new();
        };
        let mut cursor = params.walk();
        params
            .named_children(&mut cursor)
            .map(|t| self.rust_ty(t, self_type).map_or_else(String::new, |t| t.to_string()))
            .collect()
    }

    /// A Rust function's declared return type, `Self` being `self_type`;
    /// a static's or const's declared type; what a type alias stands for.
    pub(super) fn rust_returns(
        &self,
        kind: UnitKind,
        node: Node,
        self_type: Option<&str>,
    ) -> String {
        use UnitKind::*;
        if !matches!(kind, Function | Method | Static | Const | Type) {
            return String::new();
        }
        let declared = match node.kind() {
            "static_item" | "const_item" | "type_item" => node.child_by_field_name("type"),
            _ => node.child_by_field_name("return_type"),
        };
        declared
            .and_then(|t| self.rust_ty(t, self_type))
            .map_or_else(String::new, |t| t.to_string())
    }
}

// --- Resolution: method calls by the receiver's type ---------------------

/// A type met while following a receiver's chain, and the file whose code
/// named it (which of several types of one name it is depends on that
/// file's scope).
#[derive(Clone)]
pub(super) struct Typed {
    ty: Ty,
    origin: String,
}

impl FileContext<'_> {
    /// `x.name()` where the receiver's chain (see `FileParser::rust_chain`)
    /// gives its type: that type's method (through auto-deref), else a
    /// trait's method of that name, else nothing (a type from elsewhere
    /// has no method here). `None` when the type is not known.
    pub(super) fn rust_method_call(&self, from: &Unit, r: &Ref) -> Option<Found> {
        let chain = r.receiver_type.as_deref()?;
        // Receivers repeat (`self.inner`): each chain is followed once per
        // file, from the unit it starts in.
        let key = (from.id.clone(), chain.to_owned());
        let cached = self.receivers.borrow().get(&key).cloned();
        let typed = match cached {
            Some(typed) => typed,
            None => {
                let typed = self.rust_eval(from, chain);
                self.receivers.borrow_mut().insert(key, typed.clone());
                typed
            }
        };
        tracing::trace!(path = self.path, line = r.line, chain, ty = ?typed.as_ref().map(|t| t.ty.to_string()), "receiver");
        Some(self.rust_type_method(&typed?, &r.name))
    }

    /// The type a receiver's chain leads to, step by step.
    fn rust_eval(&self, from: &Unit, chain: &str) -> Option<Typed> {
        let mut steps = chain.split('.').peekable();
        let base = steps.next()?;
        let typed = if let Some((call, gives)) = call_step(base) {
            self.rust_call_type(from, call, gives)?
        } else if let Some(name) = base.strip_prefix('$') {
            let statics =
                self.plain_name(name, |k| matches!(k, UnitKind::Static | UnitKind::Const));
            let typed = self.agreed_type(&statics, name, None, Gives::Returns)?;
            // A `thread_local!` static `X: T` is a `LocalKey<T>`, whose
            // `with` / `try_with` hand their closure a `&T` (unless T has
            // such a method itself).
            match steps.next_if(|s| matches!(*s, "with(|0)" | "try_with(|0)")) {
                Some(step) => {
                    let method = step.trim_end_matches("(|0)");
                    match self.type_methods(&typed.ty.name, method).is_empty() {
                        true => typed,
                        false => self.rust_method_type(&typed, method, Gives::ClosureArg(0))?,
                    }
                }
                None => typed,
            }
        } else {
            Typed { ty: Ty::parse(base)?, origin: self.path.to_owned() }
        };
        self.rust_eval_steps(typed, steps)
    }

    /// The rest of `rust_eval`: each step from `typed`.
    fn rust_eval_steps<'s>(
        &self,
        mut typed: Typed,
        steps: impl Iterator<Item = &'s str>,
    ) -> Option<Typed> {
        for step in steps {
            if typed.ty.is_external() {
                continue; // what a value from elsewhere gives is from elsewhere
            }
            typed = match step {
                "?" => Typed { ty: typed.ty.try_op()?, ..typed },
                "[]" => {
                    let element = self.deref_chain(&typed.ty).iter().find_map(|t| t.element())?;
                    Typed { ty: element, ..typed }
                }
                _ => match call_step(step) {
                    Some((method, gives)) => self.rust_method_type(&typed, method, gives)?,
                    None => self.rust_field_type(&typed, step)?,
                },
            };
        }
        Some(typed)
    }

    /// What `path::f()` gives: f's declared return type; a struct's
    /// constructor (`Foo(..)`), the struct.
    fn rust_call_type(&self, from: &Unit, call: &str, gives: Gives) -> Option<Typed> {
        let mut path: Vec<String> = call.split("::").map(str::to_owned).collect();
        let name = path.pop()?;
        let call = Ref {
            from: 0,
            kind: RefKind::Call,
            name: name.clone(),
            path,
            receiver: None,
            receiver_type: None,
            line: 0,
        };
        let found = self.resolve_ref(from, &call);
        tracing::trace!(call = ?call.path, name, ?found, "receiver call");
        if found.is_empty() && self.rust_external(&call.path) {
            // Made elsewhere: its methods are not the tree's.
            return Some(Typed { ty: Ty::external(), origin: self.path.to_owned() });
        }
        self.agreed_type(&found, &name, None, gives)
    }

    /// `Type::f` (or `a::Type::f`) where the path does not lead to f but
    /// leads to the type: the type's method f, in the type's file or its
    /// module's (an impl of one `Handle` among several types of that name).
    pub(super) fn rust_type_call(&self, path: &[String], name: &str) -> Option<Found> {
        let (ty, init) = path.split_last()?;
        let types = match init {
            [] => self.plain_name(ty, UnitKind::is_type),
            _ => self.rust_path(init, ty, UnitKind::is_type)?,
        };
        let [(id, Confidence::Resolved)] = types.as_slice() else { return None };
        let t = self.named(ty).iter().find(|s| &s.id == id)?;
        let methods = self.type_methods(ty, name);
        let of_it: Vec<&&Symbol> = methods.iter().filter(|s| s.path == t.path).collect();
        if let [s] = of_it.as_slice() {
            return Some(one(s));
        }
        let module = module_dir(&t.path);
        match methods.iter().filter(|s| s.path.starts_with(&module)).collect::<Vec<_>>()[..] {
            [s] => Some(one(s)),
            _ => None,
        }
    }

    /// A call the tree has no unit for whose path leads out of it: the
    /// standard library, a name imported from it, another crate, a type
    /// the tree does not have (`Arc::new`, a mock a macro makes).
    fn rust_external(&self, path: &[String]) -> bool {
        let Some(first) = path.first() else { return false };
        if self.imports_other_crate(first) {
            return true; // `use io_uring::opcode;` then `opcode::Statx::new()`
        }
        if path.last().is_some_and(|t| t.starts_with(char::is_uppercase)) {
            return !self.type_known(path.last().unwrap());
        }
        if is_std(first) || matches!(first.as_str(), "crate" | "self" | "super") {
            return is_std(first);
        }
        match self.import_named(first) {
            Some(import) => import.path.first().is_some_and(|c| is_std(c)),
            None => !self.imports.iter().any(|i| i.kind == ImportKind::Mod && &i.local == first),
        }
    }

    /// The one type the units found give (a function's return type, a
    /// static's type, a struct itself), `Self` being `owner`.
    fn agreed_type(
        &self,
        found: &Found,
        name: &str,
        owner: Option<&Ty>,
        gives: Gives,
    ) -> Option<Typed> {
        let mut agreed: Option<Typed> = None;
        for (id, _) in found {
            let s = self.named(name).iter().find(|s| &s.id == id)?;
            let ty = match gives {
                Gives::Returns if s.kind.is_type() => Ty::named(&s.name),
                Gives::Returns => Ty::parse(&s.returns)?,
                Gives::ClosureArg(i) => Ty::parse(s.closure_args.get(i)?)?,
            };
            let ty = match owner {
                Some(owner) if ty.name == "Self" => owner.clone(),
                Some(owner) => ty.with_arguments_of(owner),
                None => ty,
            };
            match &agreed {
                Some(a) if a.ty != ty => return None,
                _ => agreed = Some(Typed { ty, origin: s.path.clone() }),
            }
        }
        agreed
    }

    /// What `x.method()` gives on a receiver of type `typed`.
    fn rust_method_type(&self, typed: &Typed, method: &str, gives: Gives) -> Option<Typed> {
        let chain = self.deref_chain(&typed.ty);
        for t in &chain {
            let methods = self.methods_of(t, &typed.origin, method);
            tracing::trace!(ty = %t, method, methods = methods.len(), "receiver step");
            if !methods.is_empty() {
                let found = self.of_type(t, &typed.origin, &methods);
                return self.agreed_type(&found, method, Some(t), gives);
            }
            let std = match gives {
                Gives::Returns => t.std_method(method),
                Gives::ClosureArg(i) => t.std_closure_arg(method, i),
            };
            if let Some(ty) = std {
                return Some(Typed { ty, origin: typed.origin.clone() });
            }
        }
        let ours = chain.iter().find(|t| self.is_ours(t, &typed.origin));
        match ours {
            _ if gives != Gives::Returns && ours.is_some() => None,
            // `#[pin_project]`'s `project()`: a struct of the same fields;
            // `self.as_mut()` of a `Pin<&mut Self>`, `clone()` of a derived
            // `Clone`: the same type.
            Some(t)
                if matches!(
                    method,
                    "project" | "project_ref" | "as_mut" | "as_ref" | "get_mut" | "clone"
                ) =>
            {
                Some(Typed { ty: t.clone(), origin: typed.origin.clone() })
            }
            // A method the tree's type does not show (made by a macro).
            Some(_) => None,
            None => Some(Typed { ty: Ty::external(), origin: typed.origin.clone() }),
        }
    }

    /// The type of `x.field` on a receiver of type `typed`: the field of
    /// the struct that type names where it was named.
    fn rust_field_type(&self, typed: &Typed, field: &str) -> Option<Typed> {
        for t in &self.deref_chain(&typed.ty) {
            if let Some(element) = t.tuple_element(field) {
                return Some(Typed { ty: element.clone(), origin: typed.origin.clone() });
            }
            let structs: Vec<&Symbol> = self
                .named(&t.name)
                .iter()
                .filter(|s| matches!(s.kind, UnitKind::Struct | UnitKind::Enum))
                .filter(|s| s.fields.iter().any(|(f, _)| f == field))
                .collect();
            let Some(s) = self.type_symbol(t, &typed.origin, &structs) else { continue };
            let (_, ty) = s.fields.iter().find(|(f, _)| f == field)?;
            return Some(Typed { ty: Ty::parse(ty)?.with_arguments_of(t), origin: s.path.clone() });
        }
        // A field of a type from elsewhere is from elsewhere.
        let chain = self.deref_chain(&typed.ty);
        let ours = chain.iter().any(|t| self.type_known(&t.name));
        (!ours).then(|| Typed { ty: Ty::external(), origin: typed.origin.clone() })
    }

    /// The method `name` of a receiver of type `typed`: its own (or what
    /// it derefs to); else, for a type with no method of that name, a
    /// trait's method of that name, which it may implement.
    fn rust_type_method(&self, typed: &Typed, name: &str) -> Found {
        for t in &self.deref_chain(&typed.ty) {
            let methods = self.methods_of(t, &typed.origin, name);
            if !methods.is_empty() {
                return self.of_type(t, &typed.origin, &methods);
            }
            if self.is_ours(t, &typed.origin) {
                break;
            }
            if t.std_method(name).is_some() {
                return Vec::new(); // `Option::take`, `Mutex::lock`
            }
        }
        let traits: Vec<&Symbol> = self.named(name).iter().filter(|s| s.in_trait).collect();
        match traits.as_slice() {
            [s] => vec![(s.id.clone(), Confidence::NameMatched)],
            all if all.len() <= MAX_AMBIGUOUS => {
                all.iter().map(|s| (s.id.clone(), Confidence::Ambiguous)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// `Ty::deref_chain`, with the tree's type aliases (`type Lists<T> =
    /// Mutex<Inner<T>>`) replaced by what they stand for.
    fn deref_chain(&self, ty: &Ty) -> Vec<Ty> {
        let mut out = vec![self.unalias(ty.clone())];
        while out.len() < 6
            && let Some(inner) =
                out.last().and_then(|t| t.derefs_to().cloned().or_else(|| self.derefs_in_tree(t)))
        {
            out.push(self.unalias(inner));
        }
        out
    }

    /// What a type of the tree derefs to by its own `impl Deref`
    /// (`CachePadded<T>`: `type Target = T;`, so T).
    fn derefs_in_tree(&self, t: &Ty) -> Option<Ty> {
        let imp = self.named(&format!("impl Deref for {}", t.name)).first()?;
        let qname = format!("{}::Target", t.name);
        let target = self
            .named("Target")
            .iter()
            .find(|s| s.kind == UnitKind::Type && s.path == imp.path && s.qname == qname)?;
        let ty = Ty::parse(&target.returns)?;
        (ty.name != t.name).then(|| ty.with_arguments_of(t))
    }

    /// A type alias's target, its parameter given the alias's argument.
    fn unalias(&self, mut ty: Ty) -> Ty {
        for _ in 0..3 {
            // An alias that is one `#[cfg]`'s choice beside a type of that
            // name (`type IoHandle = UnparkThread;` or `enum IoHandle`)
            // stays the name.
            let named = self.named(&ty.name);
            let aliases: Vec<&Symbol> = named.iter().filter(|s| s.kind == UnitKind::Type).collect();
            let target = match aliases.as_slice() {
                [a] if named.iter().all(|s| !s.kind.is_type() || s.kind == UnitKind::Type) => {
                    Ty::parse(&a.returns)
                }
                _ => None,
            };
            match target {
                Some(target) if target.name != ty.name => ty = target.with_arguments_of(&ty),
                _ => break,
            }
        }
        ty
    }

    /// The methods `name` of type `t` as `origin`'s code names it: none
    /// for a type it takes from the standard library (`use
    /// std::sync::Mutex;`, `std::sync::Mutex<T>`) although the tree has a
    /// type of that name.
    fn methods_of(&self, t: &Ty, origin: &str, name: &str) -> Vec<&Symbol> {
        match self.names_std_type(t, origin) {
            true => Vec::new(),
            false => self.type_methods(&t.name, name),
        }
    }

    /// True when `t` is one of the tree's types, as `origin` names it.
    fn is_ours(&self, t: &Ty, origin: &str) -> bool {
        self.type_known(&t.name) && !self.names_std_type(t, origin)
    }

    fn names_std_type(&self, t: &Ty, origin: &str) -> bool {
        if let Some(first) = t.scope_path().first() {
            return is_std(first);
        }
        origin == self.path
            && !self.named(&t.name).iter().any(|s| s.path == self.path && s.kind.is_type())
            && self.imports_std(&t.name)
    }

    /// The methods `Type::name` of the tree (impls anywhere).
    fn type_methods(&self, ty: &str, name: &str) -> Vec<&Symbol> {
        let qualified = format!("{ty}::{name}");
        let nested = format!("::{qualified}");
        self.named(name)
            .iter()
            .filter(|s| matches!(s.kind, UnitKind::Method | UnitKind::Function))
            .filter(|s| s.qname == qualified || s.qname.ends_with(&nested))
            .collect()
    }

    /// Of the methods of types named `ty` (types of one name in several
    /// modules): those of the type named where `origin`'s code names it,
    /// in its file or its module's files; else all, `ambiguous`. One method
    /// written once per `#[cfg]` (`f`, `f#2`), or a type whose import leads
    /// to one definition per `#[cfg]` (`loom::sync::Mutex`: std's or
    /// parking_lot's), is resolved to each.
    fn of_type(&self, ty: &Ty, origin: &str, methods: &[&Symbol]) -> Found {
        if let Some(found) = one_definition(methods) {
            return found;
        }
        let types: Vec<&Symbol> =
            self.named(&ty.name).iter().filter(|s| s.kind.is_type()).collect();
        if let Some(t) = self.type_symbol(ty, origin, &types) {
            let module = module_dir(&t.path);
            for keep in [&|s: &Symbol| s.path == t.path, &|s: &Symbol| s.path.starts_with(&module)]
                as [&dyn Fn(&Symbol) -> bool; 2]
            {
                let of_it: Vec<&Symbol> = methods.iter().filter(|s| keep(s)).copied().collect();
                if let Some(found) = one_definition(&of_it) {
                    return found;
                }
            }
        } else if let Some(found) = self.cfg_alternatives(ty, origin, &types, methods) {
            return found;
        }
        if methods.len() > MAX_AMBIGUOUS {
            return Vec::new();
        }
        methods.iter().map(|s| (s.id.clone(), Confidence::Ambiguous)).collect()
    }

    /// Where `origin`'s imports lead `ty` to several types, each resolved
    /// (one per `#[cfg]`: re-exports that the build's features choose
    /// between), the methods of those types, one each: resolved to each.
    fn cfg_alternatives(
        &self,
        ty: &Ty,
        origin: &str,
        types: &[&Symbol],
        methods: &[&Symbol],
    ) -> Option<Found> {
        let found = self.types_named(ty, origin);
        tracing::trace!(ty = %ty, ?found, "cfg alternatives");
        let sure = found.len() > 1 && found.iter().all(|(_, c)| *c == Confidence::Resolved);
        let files: Vec<&str> = found
            .iter()
            .filter_map(|(id, _)| types.iter().find(|t| &t.id == id).map(|t| t.path.as_str()))
            .collect();
        if !sure || files.len() != found.len() {
            return None;
        }
        let of_them: Vec<&&Symbol> =
            methods.iter().filter(|m| files.contains(&m.path.as_str())).collect();
        (of_them.len() == files.len())
            .then(|| of_them.iter().map(|s| (s.id.clone(), Confidence::Resolved)).collect())
    }

    /// The types `ty` names as `origin`'s code wrote it, where this file
    /// can tell: in `origin` itself, through its imports or the path
    /// before the name; elsewhere, through a path from the crate's root
    /// (a field's type its file imported, `crate::loom::sync::Mutex`).
    fn types_named(&self, ty: &Ty, origin: &str) -> Found {
        let scope = ty.scope_path();
        let same_crate = rust_package_dir(origin) == rust_package_dir(self.path);
        match scope.first().map(String::as_str) {
            None if origin == self.path => self.plain_name(&ty.name, UnitKind::is_type),
            Some(_) if origin == self.path => {
                self.rust_path(&scope, &ty.name, UnitKind::is_type).unwrap_or_default()
            }
            Some("crate") if same_crate => {
                self.rust_path(&scope, &ty.name, UnitKind::is_type).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    /// Of `candidates`, types named as `ty` is, the one `origin`'s code
    /// means: the one its imports or the path written before the name
    /// (`chan::Rx`) lead to (in this file); else the one whose module that
    /// path ends with; else the one nearest it in the tree (Rust's modules
    /// follow its directories).
    fn type_symbol<'s>(
        &'s self,
        ty: &Ty,
        origin: &str,
        candidates: &[&'s Symbol],
    ) -> Option<&'s Symbol> {
        if let [s] = candidates {
            return Some(s);
        }
        let scope = ty.scope_path();
        if let [(id, Confidence::Resolved)] = self.types_named(ty, origin).as_slice()
            && let Some(s) = candidates.iter().find(|s| &s.id == id)
        {
            return Some(s);
        }
        if let Some(module) =
            scope.last().filter(|m| !matches!(m.as_str(), "self" | "super" | "crate"))
        {
            let inline = format!("{module}::{}", ty.name);
            let named = |s: &&&Symbol| {
                s.qname == inline || module_dir(&s.path).ends_with(&format!("/{module}/"))
            };
            if let [s] = candidates.iter().filter(named).collect::<Vec<_>>().as_slice() {
                return Some(s);
            }
        }
        let shared = |s: &Symbol| {
            s.path.split('/').zip(origin.split('/')).take_while(|(a, b)| a == b).count()
        };
        let best = candidates.iter().map(|s| shared(s)).max()?;
        match candidates.iter().filter(|s| shared(s) == best).collect::<Vec<_>>().as_slice() {
            [s] => Some(s),
            _ => None,
        }
    }
}

/// The directory of a Rust file's module and its children: `a/b.rs` and
/// `a/b/mod.rs` → `a/b/`.
fn module_dir(path: &str) -> String {
    let stem = path.trim_end_matches(".rs");
    match stem.strip_suffix("/mod").or_else(|| stem.strip_suffix("/lib")) {
        Some(dir) => format!("{dir}/"),
        None => format!("{stem}/"),
    }
}

/// What a call step of a chain asks of the function it calls.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Gives {
    /// `f()`: its return type.
    Returns,
    /// `f(|i)`: the type of its closure's i-th parameter.
    ClosureArg(usize),
}

/// A chain's call step: `name()` or `name(|i)`.
fn call_step(step: &str) -> Option<(&str, Gives)> {
    if let Some(name) = step.strip_suffix("()") {
        return Some((name, Gives::Returns));
    }
    let (name, i) = step.strip_suffix(')')?.split_once("(|")?;
    Some((name, Gives::ClosureArg(i.parse().ok()?)))
}
