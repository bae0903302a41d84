//! Types as resolution reads them: a name and its generic arguments
//! (`Arc<Mutex<Inner>>`), written as text in units (a struct's fields, a
//! function's return type) and in references (a receiver's type), and
//! what the standard library's wrappers do to the type a method sees
//! (`Arc<T>` derefs to `T`; `Option<T>::unwrap()` gives `T`).

use std::fmt;

/// More steps than this in a receiver's chain (`a.b().c.d()?…`) are not
/// followed.
pub const MAX_CHAIN: usize = 6;

/// A type: its last path segment, the path written before it (`chan` of
/// `chan::Rx<T>`, which says which of several types named `Rx` it is), and
/// its type arguments. A slice or an array is named `[]`, a tuple `()`
/// (`()<A,B>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ty {
    pub name: String,
    pub scope: String,
    pub args: Vec<Ty>,
}

impl Ty {
    pub fn named(name: &str) -> Ty {
        Ty::with_args(name, Vec::new())
    }

    pub fn with_args(name: &str, args: Vec<Ty>) -> Ty {
        match name.rsplit_once("::") {
            Some((scope, last)) => Ty { name: last.to_owned(), scope: scope.to_owned(), args },
            None => Ty { name: name.to_owned(), scope: String::new(), args },
        }
    }

    /// The segments of `scope` (`crate`, `runtime`, `scheduler`).
    pub fn scope_path(&self) -> Vec<String> {
        self.scope.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect()
    }

    /// A type from outside the tree (what `std::fs::File::open()` or
    /// another crate's function gives): no method of the tree's is its own.
    pub fn external() -> Ty {
        Ty::named("?")
    }

    /// `t.0` of a tuple `(A, B)` (written `()<A,B>`).
    pub fn tuple_element(&self, field: &str) -> Option<&Ty> {
        (self.name == "()").then(|| self.args.get(field.parse::<usize>().ok()?)).flatten()
    }

    pub fn is_external(&self) -> bool {
        self.name == "?"
    }

    /// A wrapper whose `new(x)` holds x: `Arc`, `Box`, `Mutex`…
    pub fn wraps(name: &str) -> bool {
        DEREFS.contains(&name) || LOCKS.contains(&name)
    }

    /// Reads the text `Display` writes; `None` for anything else.
    pub fn parse(text: &str) -> Option<Ty> {
        let (ty, rest) = Ty::parse_prefix(text.trim())?;
        rest.trim().is_empty().then_some(ty)
    }

    fn parse_prefix(text: &str) -> Option<(Ty, &str)> {
        let end = text.find(['<', '>', ',']).unwrap_or(text.len());
        let name = text[..end].trim();
        let word = !name.is_empty()
            && !name.ends_with(':')
            && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == ':');
        if !word && !matches!(name, "[]" | "()" | "?" | "!") {
            return None;
        }
        let mut ty = Ty::named(name);
        let mut rest = &text[end..];
        if let Some(mut inner) = rest.strip_prefix('<') {
            loop {
                let (arg, after) = Ty::parse_prefix(inner.trim_start())?;
                ty.args.push(arg);
                let after = after.trim_start();
                if let Some(more) = after.strip_prefix(',') {
                    inner = more;
                } else {
                    rest = after.strip_prefix('>')?;
                    break;
                }
            }
        }
        Some((ty, rest))
    }

    /// A member's type as seen from a value of type `owner`: where owner
    /// has one type argument, a generic parameter (`T`) in this type is
    /// that argument (`Mutex<Inner>::lock()` gives `MutexGuard<Inner>`, not
    /// `MutexGuard<T>`).
    pub fn with_arguments_of(self, owner: &Ty) -> Ty {
        match owner.args.as_slice() {
            [arg] => self.substitute(arg),
            _ => self,
        }
    }

    fn substitute(self, arg: &Ty) -> Ty {
        let generic = self.args.is_empty()
            && self.scope.is_empty()
            && self.name.len() <= 2
            && self.name.chars().all(|c| c.is_ascii_uppercase());
        if generic {
            return arg.clone();
        }
        let args = self.args.into_iter().map(|a| a.substitute(arg)).collect();
        Ty { args, ..self }
    }

    /// The first type argument, if any.
    pub fn inner(&self) -> Option<&Ty> {
        self.args.first()
    }

    /// What a smart pointer or guard derefs to (`Arc<T>`: T).
    pub fn derefs_to(&self) -> Option<&Ty> {
        DEREFS.contains(&self.name.as_str()).then(|| self.inner()).flatten()
    }

    /// The type a method call on this one may reach by auto-deref: this
    /// type, then what a smart pointer or guard holds, outermost first.
    pub fn deref_chain(&self) -> Vec<&Ty> {
        let mut out = vec![self];
        let mut ty = self;
        while let Some(inner) = ty.derefs_to()
            && out.len() < 6
        {
            out.push(inner);
            ty = inner;
        }
        out
    }

    /// The standard library's answer for `x.name()` on this type where
    /// no method of the tree's says: what a wrapper hands out (`unwrap`,
    /// `lock`, `borrow`…), the same type (`clone`), or nothing known.
    /// (A method of what it derefs to is the next type of `deref_chain`.)
    pub fn std_method(&self, name: &str) -> Option<Ty> {
        let inner = || self.inner().cloned();
        let this = self.name.as_str();
        match name {
            "unwrap" | "expect" | "unwrap_unchecked" | "unwrap_or_default" | "unwrap_or"
            | "unwrap_or_else"
                if UNWRAPS.contains(&this) =>
            {
                inner()
            }
            // `Option<T>::as_ref()` is an `Option<&T>`: what a later
            // `unwrap()` gives is the same T.
            "as_ref" | "as_mut" | "as_deref" | "as_deref_mut" | "take" | "clone"
                if UNWRAPS.contains(&this) =>
            {
                Some(self.clone())
            }
            // `lock()` gave what the lock holds; its `LockResult` is
            // already opened.
            "unwrap" | "expect" => Some(self.clone()),
            "lock" | "read" | "write" | "try_lock" | "try_read" | "try_write" | "get_mut"
                if LOCKS.contains(&this) =>
            {
                inner()
            }
            "borrow" | "borrow_mut" if this == "RefCell" => inner(),
            // The pointer an `AtomicPtr<T>` holds: a T to `(*p).m()`.
            "load" | "swap" | "into_inner" | "get_mut" if this == "AtomicPtr" => inner(),
            "as_ref" | "as_mut" | "get_ref" | "get_mut" | "deref" | "deref_mut" | "as_ptr"
                if DEREFS.contains(&this) =>
            {
                inner()
            }
            "get" | "get_mut" | "first" | "last" | "first_mut" | "last_mut" | "pop"
            | "pop_front" | "pop_back" | "front" | "back"
                if SEQUENCES.contains(&this) =>
            {
                Some(Ty::with_args("Option", vec![inner()?]))
            }
            "get_unchecked" | "get_unchecked_mut" if SEQUENCES.contains(&this) => inner(),
            "get" | "get_mut" | "remove" if MAPS.contains(&this) => {
                Some(Ty::with_args("Option", vec![self.args.get(1)?.clone()]))
            }
            "clone" | "to_owned" => Some(self.clone()),
            _ => self.std_iteration(name),
        }
    }

    /// What iterating gives, as an iterator (`ITER`) of the element: a sequence's
    /// or set's `iter()`, a map's `values()`, an iterator's adapters that
    /// keep the element (`rev`, `filter`…) and those that take one out
    /// (`next`, `find`…: an `Option<T>`).
    fn std_iteration(&self, name: &str) -> Option<Ty> {
        let iter = |element: Ty| Some(Ty::with_args(ITER, vec![element]));
        let this = self.name.as_str();
        match name {
            "iter" | "iter_mut" | "into_iter" | "drain"
                if SEQUENCES.contains(&this) || SETS.contains(&this) =>
            {
                iter(self.inner()?.clone())
            }
            "values" | "values_mut" | "into_values" if MAPS.contains(&this) => {
                iter(self.args.get(1)?.clone())
            }
            "keys" | "into_keys" if MAPS.contains(&this) => iter(self.inner()?.clone()),
            "rev" | "skip" | "take" | "filter" | "peekable" | "cloned" | "copied" | "by_ref"
            | "step_by" | "skip_while" | "take_while" | "fuse" | "chain" | "cycle" | "inspect"
                if this == ITER =>
            {
                Some(self.clone())
            }
            "enumerate" if this == ITER => {
                iter(Ty::with_args("()", vec![Ty::named("usize"), self.inner()?.clone()]))
            }
            "next" | "next_back" | "last" | "nth" | "find" | "peek" | "min_by_key"
            | "max_by_key" | "min_by" | "max_by"
                if this == ITER =>
            {
                Some(Ty::with_args("Option", vec![self.inner()?.clone()]))
            }
            _ => None,
        }
    }

    /// The type the standard library hands the `i`-th parameter of a
    /// closure given to `x.name(…)`: `opt.map(|v| …)` an `Option<T>`'s T,
    /// `res.map_err(|e| …)` a `Result`'s error, `iter.for_each(|x| …)` an
    /// element, `v.retain(|x| …)` a sequence's element.
    pub fn std_closure_arg(&self, name: &str, i: usize) -> Option<Ty> {
        let this = self.name.as_str();
        let first = || self.inner().cloned();
        match (this, name, i) {
            (
                "Option",
                "map" | "and_then" | "filter" | "is_some_and" | "is_none_or" | "inspect"
                | "take_if" | "for_each",
                0,
            )
            | ("Option", "map_or" | "map_or_else", 1) => first(),
            ("Result", "map" | "and_then" | "inspect" | "is_ok_and", 0)
            | ("Result", "map_or" | "map_or_else", 1) => first(),
            (
                "Result",
                "map_err" | "or_else" | "inspect_err" | "is_err_and" | "unwrap_or_else",
                0,
            ) => self.args.get(1).cloned(),
            (
                ITER,
                "map" | "for_each" | "filter" | "filter_map" | "any" | "all" | "find" | "position"
                | "find_map" | "take_while" | "skip_while" | "inspect" | "flat_map" | "map_while"
                | "min_by_key" | "max_by_key" | "partition",
                0,
            )
            | (ITER, "fold" | "try_fold", 1) => first(),
            (_, "retain" | "retain_mut" | "sort_by_key" | "sort_unstable_by_key", 0)
            | (_, "sort_by" | "sort_unstable_by", 0 | 1)
                if SEQUENCES.contains(&this) =>
            {
                first()
            }
            _ => None,
        }
    }

    /// `x?`: what an `Option`, `Result` or `Poll` holds.
    pub fn try_op(&self) -> Option<Ty> {
        UNWRAPS.contains(&self.name.as_str()).then(|| self.inner().cloned()).flatten()
    }

    /// `x[i]`: an element of a slice, array, `Vec` or `VecDeque`; what
    /// `for x in …` binds of those, an iterator, a set or an `Option`.
    pub fn element(&self) -> Option<Ty> {
        match self.name.as_str() {
            "[]" | "Vec" | "VecDeque" | ITER | "HashSet" | "BTreeSet" | "Option" => {
                self.inner().cloned()
            }
            _ => None,
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.scope.is_empty() {
            write!(f, "{}::", self.scope)?;
        }
        f.write_str(&self.name)?;
        if !self.args.is_empty() {
            f.write_str("<")?;
            for (i, a) in self.args.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{a}")?;
            }
            f.write_str(">")?;
        }
        Ok(())
    }
}

/// Types whose methods reach their first argument's by auto-deref.
const DEREFS: &[&str] = &[
    "Box",
    "Arc",
    "Rc",
    "Pin",
    "ManuallyDrop",
    "Ref",
    "RefMut",
    "MutexGuard",
    "RwLockReadGuard",
    "RwLockWriteGuard",
    "Cow",
    "NonNull",
];

/// Locks and cells whose `lock()`, `write()`… hand out what they hold.
const LOCKS: &[&str] = &["Mutex", "RwLock", "RefCell", "UnsafeCell", "Cell"];

/// Sequences whose `get`, `first`… give an element.
const SEQUENCES: &[&str] = &["[]", "Vec", "VecDeque"];

/// An iterator over its one type argument, as the standard library's
/// iterators are seen here (a name no type of a tree can have).
const ITER: &str = "<iter>";

/// Sets, which iterate over their elements.
const SETS: &[&str] = &["HashSet", "BTreeSet", "IndexSet"];

/// Maps whose `get` gives a value (the second type argument).
const MAPS: &[&str] = &["HashMap", "BTreeMap", "IndexMap"];

/// Types that `?` and `unwrap()` open.
const UNWRAPS: &[&str] = &["Option", "Result", "Poll"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_read_back_what_they_write() {
        for text in [
            "Foo",
            "Arc<Mutex<Inner>>",
            "Result<T,Error>",
            "[]<u8>",
            "()<A,str>",
            "JoinHandle<()>",
            "Box<fn>",
            "Result<!,E>",
        ] {
            assert_eq!(Ty::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Ty::parse("HashMap< K , V >").unwrap().to_string(), "HashMap<K,V>");
        // The path before a name says which type of that name it is.
        let rx = Ty::parse("chan::Rx<T,Semaphore>").unwrap();
        assert_eq!((rx.name.as_str(), rx.scope.as_str()), ("Rx", "chan"));
        assert_eq!(rx.to_string(), "chan::Rx<T,Semaphore>");
        assert_eq!(Ty::parse("crate::a::B").unwrap().scope_path(), ["crate", "a"]);
        for bad in ["", "Foo<", "Foo<A>>", "a::", "(A, B)", "Foo()"] {
            assert_eq!(Ty::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn iterating_and_closures_get_the_elements() {
        let v = Ty::parse("Vec<Level>").unwrap();
        let iter = v.std_method("iter").unwrap();
        assert_eq!(iter.element().unwrap().name, "Level");
        let next = iter.std_method("rev").unwrap().std_method("next").unwrap();
        assert_eq!(next.to_string(), "Option<Level>");
        let pairs = iter.std_method("enumerate").unwrap().element().unwrap();
        assert_eq!(pairs.tuple_element("1").unwrap().name, "Level");
        let map = Ty::parse("HashMap<Id,Task>").unwrap();
        assert_eq!(map.std_method("values").unwrap().element().unwrap().name, "Task");
        assert_eq!(iter.std_closure_arg("for_each", 0).unwrap().name, "Level");
        assert_eq!(iter.std_closure_arg("fold", 1).unwrap().name, "Level");
        let opt = Ty::parse("Option<Context>").unwrap();
        assert_eq!(opt.std_closure_arg("and_then", 0).unwrap().name, "Context");
        assert_eq!(opt.std_closure_arg("map_or", 0), None, "map_or's closure is its second");
        let res = Ty::parse("Result<Conn,Error>").unwrap();
        assert_eq!(res.std_closure_arg("map_err", 0).unwrap().name, "Error");
        assert_eq!(v.std_closure_arg("retain", 0).unwrap().name, "Level");
        assert_eq!(Ty::named("Level").std_closure_arg("map", 0), None);
    }

    #[test]
    fn wrappers_give_what_they_hold() {
        let t = Ty::parse("Arc<Mutex<Option<Inner>>>").unwrap();
        let names = |c: Vec<&Ty>| c.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(t.deref_chain()), ["Arc", "Mutex"]);
        assert_eq!(t.std_method("lock"), None, "an Arc has no lock of its own");
        let locked = t.deref_chain()[1].std_method("lock").unwrap();
        assert_eq!(locked.to_string(), "Option<Inner>");
        assert_eq!(
            locked.std_method("as_ref").unwrap().std_method("unwrap").unwrap().name,
            "Inner"
        );
        assert_eq!(locked.try_op().unwrap().name, "Inner");
        assert_eq!(Ty::named("Inner").std_method("clone").unwrap().name, "Inner");
        assert_eq!(Ty::named("Inner").std_method("len"), None);
        assert_eq!(Ty::parse("Vec<Level>").unwrap().element().unwrap().name, "Level");
        let guard = Ty::parse("MutexGuard<T>").unwrap();
        let owner = Ty::parse("Mutex<Inner>").unwrap();
        assert_eq!(guard.with_arguments_of(&owner).to_string(), "MutexGuard<Inner>");
    }
}
