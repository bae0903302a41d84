//! The Rust side of the code graph: receivers typed as the compiler would
//! and re-exports followed, on small trees resolved together.

use std::collections::BTreeSet;

use super::graph::calls_of;

/// A Rust method call's receiver is typed as the compiler would where the
/// code says: through struct fields (also of tuple structs), enum variants'
/// payloads, declared return types, type aliases, smart pointers, locks and
/// `unwrap`/`?`, `let` and `if let` bindings, and what a function hands the
/// closure it takes; of several types of one name, the one the code names;
/// a type from elsewhere has no method here.
#[test]
fn rust_receivers_are_typed_like_the_compiler_would() {
    let a = "use std::sync::{Arc, Mutex};\n\
        pub struct Queue { items: Vec<u32> }\n\
        impl Queue { pub fn push(&mut self, x: u32) {} pub fn len(&self) -> usize { 0 } }\n\
        pub struct Stats;\n\
        impl Stats { pub fn bump(&self) {} }\n\
        pub struct Shared { pub queue: Mutex<Queue>, pub stats: Stats }\n\
        pub type Handle = Arc<Shared>;\n\
        pub fn shared() -> Handle { todo!() }\n\
        pub enum Kind { Local(Queue), Remote(Stats) }\n\
        pub struct Wrapper(pub Queue);\n\
        impl Stats { pub fn with<R>(&self, f: impl FnOnce(&Queue) -> R) -> R { todo!() } }\n\
        impl Stats { pub fn each<F>(&self, f: F) where F: FnMut(Queue, u8) {} }\n";
    // The same names elsewhere: a call by name alone would be a guess.
    let b = "pub struct Queue;\n\
        impl Queue { pub fn push(&mut self, x: u32) {} }\n\
        pub struct Other;\n\
        impl Other { pub fn bump(&self) {} pub fn len(&self) -> usize { 0 } }\n";
    let c = "use crate::a::{shared, Kind, Shared, Wrapper};\n\
        pub fn run(s: &Shared, k: Kind, w: Wrapper) {\n\
            s.queue.lock().unwrap().push(1);\n\
            shared().stats.bump();\n\
            let h = shared();\n\
            assert!(h.queue.lock().unwrap().len() == 0);\n\
            if let Kind::Remote(st) = k { st.bump(); }\n\
            w.0.push(2);\n\
            s.stats.with(|q| q.len());\n\
            s.stats.each(|mut q, _| q.push(3));\n\
            let v: Vec<u32> = Vec::new();\n\
            v.len();\n\
            std::fs::File::open(\"x\").unwrap().len();\n\
        }\n";
    let calls = calls_of(&[("src/a.rs", a), ("src/b.rs", b), ("src/c.rs", c)]);
    let from_run: BTreeSet<&str> = calls
        .iter()
        .filter_map(|e| e.strip_prefix("src/c.rs::run -> "))
        .filter(|e| !e.contains("::shared"))
        .collect();
    let want: BTreeSet<&str> = [
        "src/a.rs::Queue::push (resolved)",
        "src/a.rs::Queue::len (resolved)",
        "src/a.rs::Stats::bump (resolved)",
        "src/a.rs::Stats::with (resolved)",
        "src/a.rs::Stats::each (resolved)",
    ]
    .into_iter()
    .collect();
    assert_eq!(from_run, want, "{calls:#?}");
}

/// A `thread_local!` static `X: T` is a `LocalKey<T>`: the closure its
/// `with` / `try_with` take gets a `&T`, also where X is imported.
#[test]
fn rust_thread_local_closures_get_the_static_type() {
    let ctx = "pub struct Scheduler;\n\
        impl Scheduler { pub fn set(&self) {} }\n\
        pub struct Context { pub scheduler: Scheduler }\n\
        thread_local! {\n\
            pub static CONTEXT: Context = const { Context { scheduler: Scheduler } };\n\
        }\n\
        pub fn enter() { CONTEXT.with(|c| c.scheduler.set()); }\n";
    let other = "use crate::ctx::CONTEXT;\n\
        pub struct Other;\n\
        impl Other { pub fn set(&self) {} }\n\
        pub fn try_enter() { let _ = CONTEXT.try_with(|c| c.scheduler.set()); }\n";
    let calls = calls_of(&[("src/ctx.rs", ctx), ("src/other.rs", other)]);
    for want in [
        "src/ctx.rs::enter -> src/ctx.rs::Scheduler::set (resolved)",
        "src/other.rs::try_enter -> src/ctx.rs::Scheduler::set (resolved)",
    ] {
        assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    }
    assert!(!calls.iter().any(|c| c.contains("Other::set")), "{calls:#?}");
}

/// What the standard library hands a closure or a loop (`opt.and_then(|c|
/// …)`, `for x in v.iter()`), a struct pattern's fields (also of an enum's
/// struct-like variant), the path written before a type's name (`chan::Rx`
/// among two `Rx`), a method written once per `#[cfg]`, and a type taken
/// from std although the tree has one of that name.
#[test]
fn rust_loops_closures_patterns_and_paths_give_types() {
    let chan = "pub struct Rx;\nimpl Rx { pub fn len(&self) -> usize { 0 } }\n";
    let list = "pub struct Rx;\nimpl Rx { pub fn len(&self) -> usize { 1 } }\n";
    let lib = "mod chan;\nmod list;\nmod lock;\n\
        pub struct Level;\n\
        impl Level {\n\
            #[cfg(unix)] pub fn next(&self) {}\n\
            #[cfg(not(unix))] pub fn next(&self) {}\n\
            pub fn len(&self) -> usize { 0 }\n\
        }\n\
        pub struct Wheel { levels: Vec<Level>, rx: chan::Rx }\n\
        pub enum State { Idle, Busy { level: Level, n: usize } }\n\
        fn with_level<R>(f: impl FnOnce(Option<&Level>) -> R) -> R { f(None) }\n\
        impl Wheel {\n\
            pub fn each(&self) { for l in self.levels.iter() { l.next(); } }\n\
            pub fn each_ref(&self, from: usize) { for (i, l) in self.levels[from..].iter().enumerate() { l.len(); } }\n\
            pub fn first(&self) -> Option<usize> { with_level(|o| o.map(|l| l.len())) }\n\
            pub fn state(&self, s: State) { match s { State::Busy { level, .. } => level.next(), State::Idle => {} } }\n\
            pub fn pending(&self) -> usize { self.rx.len() }\n\
        }\n";
    let lock = "use std::sync::Mutex;\n\
        pub struct Mutex2;\n\
        pub struct Guarded { m: Mutex<u32> }\n\
        impl Guarded { pub fn get(&self) { let _ = self.m.lock(); } }\n";
    let tree_mutex = "pub struct Mutex;\nimpl Mutex { pub fn lock(&self) {} }\n";
    let calls = calls_of(&[
        ("src/lib.rs", lib),
        ("src/chan.rs", chan),
        ("src/list.rs", list),
        ("src/lock.rs", lock),
        ("src/sync.rs", tree_mutex),
    ]);
    for want in [
        "src/lib.rs::Wheel::each -> src/lib.rs::Level::next (resolved)",
        "src/lib.rs::Wheel::each -> src/lib.rs::Level::next#2 (resolved)",
        "src/lib.rs::Wheel::each_ref -> src/lib.rs::Level::len (resolved)",
        "src/lib.rs::Wheel::first -> src/lib.rs::Level::len (resolved)",
        "src/lib.rs::Wheel::state -> src/lib.rs::Level::next (resolved)",
        "src/lib.rs::Wheel::pending -> src/chan.rs::Rx::len (resolved)",
    ] {
        assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    }
    assert!(!calls.iter().any(|c| c.contains("list.rs::Rx::len")), "{calls:#?}");
    assert!(!calls.iter().any(|c| c.contains("Guarded::get ->")), "std's lock: {calls:#?}");
}

/// A field's type keeps the path its file imported it by, so code in
/// another file calling through the field reaches the type that file
/// meant, or none where it is std's.
#[test]
fn rust_field_types_keep_the_import_they_came_by() {
    let lib = "mod sync;\nmod other;\nmod a;\nmod b;\n";
    let sync = "pub struct Mutex;\nimpl Mutex { pub fn lock(&self) {} }\n";
    let other = "pub struct Mutex;\nimpl Mutex { pub fn lock(&self) {} }\n";
    let a = "use crate::sync::Mutex;\n\
        pub struct Shared { pub m: Mutex }\n\
        pub struct Plain { pub m: std::sync::Mutex<u32> }\n\
        mod inner { use std::sync::Mutex; pub struct Std { pub m: Mutex<u32> } }\n";
    let b = "use crate::a::{Shared, Plain};\n\
        pub fn take(s: &Shared) { s.m.lock(); }\n\
        pub fn plain(p: &Plain) { let _ = p.m.lock(); }\n";
    let calls = calls_of(&[
        ("src/lib.rs", lib),
        ("src/sync.rs", sync),
        ("src/other.rs", other),
        ("src/a.rs", a),
        ("src/b.rs", b),
    ]);
    let want = "src/b.rs::take -> src/sync.rs::Mutex::lock (resolved)";
    assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    assert!(!calls.iter().any(|c| c.contains("other.rs")), "{calls:#?}");
    assert!(!calls.iter().any(|c| c.starts_with("src/b.rs::plain ->")), "std's: {calls:#?}");
}

/// Items inside item-level macros nested in one another (`cfg_test_util!
/// { cfg_rt! { fn with_clock … } }`, tokio's way) are units, and their
/// calls are typed as anywhere else.
#[test]
fn rust_items_in_nested_item_macros_are_units() {
    let lib = "macro_rules! outer { ($($i:item)*) => { $($i)* } }\n\
        macro_rules! inner { ($($i:item)*) => { $($i)* } }\n\
        pub struct Clock;\n\
        impl Clock { pub fn pause(&self) {} }\n\
        pub fn pause() {}\n\
        outer! {\n\
            inner! {\n\
                fn with_clock<R>(f: impl FnOnce(Option<&Clock>) -> R) -> R { f(None) }\n\
            }\n\
            pub fn stop() {\n\
                with_clock(|maybe| match maybe { Some(clock) => clock.pause(), None => {} });\n\
            }\n\
        }\n";
    let calls = calls_of(&[("src/lib.rs", lib)]);
    for want in [
        "src/lib.rs::stop -> src/lib.rs::with_clock (resolved)",
        "src/lib.rs::stop -> src/lib.rs::Clock::pause (resolved)",
    ] {
        assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    }
}

/// `pub use` re-exports are followed as the compiler would: renames,
/// groups, globs, chains through several modules, and those inside
/// item-level macros; a module's name is not taken for the function it
/// re-exports; names imported from std are nobody's in the tree.
#[test]
fn rust_reexports_are_followed() {
    let calls = calls_of(&[
        (
            "src/lib.rs",
            "pub mod task;\npub mod rt;\npub use task::spawn;\npub use task::prelude::*;\n",
        ),
        (
            "src/task/mod.rs",
            "mod spawn;\npub use spawn::spawn;\nmod blocking;\npub use self::blocking::{spawn_blocking as blocking_spawn};\npub mod prelude;\nmacro_rules! cfg_rt { ($($i:item)*) => { $($i)* } }\ncfg_rt! {\n    mod local;\n    pub use local::spawn_local;\n}\n",
        ),
        ("src/task/spawn.rs", "pub fn spawn() {}\n"),
        ("src/task/blocking.rs", "pub fn spawn_blocking() {}\n"),
        ("src/task/local.rs", "pub fn spawn_local() {}\n"),
        ("src/task/prelude.rs", "pub use super::blocking::*;\n"),
        (
            "src/rt/mod.rs",
            "use std::thread::spawn_local;\npub fn run() { crate::task::spawn(); crate::spawn(); super::task::blocking_spawn(); crate::task::spawn_local(); crate::spawn_blocking(); }\npub fn other() { spawn_local(); }\nfn spawn() {}\n",
        ),
    ]);
    for want in [
        "src/rt/mod.rs::run -> src/task/spawn.rs::spawn (resolved)",
        "src/rt/mod.rs::run -> src/task/blocking.rs::spawn_blocking (resolved)",
        "src/rt/mod.rs::run -> src/task/local.rs::spawn_local (resolved)",
    ] {
        assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    }
    // One edge per pair, and nothing else from `run`; `other` calls std's.
    let from_run = calls.iter().filter(|c| c.starts_with("src/rt/mod.rs::run ")).count();
    assert_eq!(from_run, 3, "{calls:#?}");
    assert!(!calls.iter().any(|c| c.starts_with("src/rt/mod.rs::other ")), "{calls:#?}");
}

/// Types with `()`, `!`, function pointers and `dyn A + B` among their
/// arguments are types all the same (`HashMap<usize, JoinHandle<()>>`,
/// `RefCell<VecDeque<Box<dyn FnOnce() + Send>>>`: std's, so their methods
/// are not the tree's), and an indexed receiver in a macro's tokens
/// (`debug_assert!(self.levels[i].next() == 0)`) is its element; `fn
/// f(…)` in an item macro's tokens is no call of `f`.
#[test]
fn rust_unit_fn_and_bounded_types_and_indexing_in_macros_are_typed() {
    let wheel = "use std::cell::RefCell;\n\
        use std::collections::{HashMap, VecDeque};\n\
        use std::thread::JoinHandle;\n\
        pub struct Level;\n\
        impl Level { pub fn next(&self) -> u32 { 0 } }\n\
        pub struct Wheel {\n\
            levels: Box<[Level; 4]>,\n\
            handles: HashMap<usize, JoinHandle<()>>,\n\
            tasks: RefCell<VecDeque<Box<dyn FnOnce() + Send>>>,\n\
        }\n\
        impl Wheel {\n\
            pub fn run(&self, i: usize, h: JoinHandle<()>) {\n\
                debug_assert!(self.levels[i].next() == 0);\n\
                self.handles.insert(1, h);\n\
                self.tasks.borrow().len();\n\
            }\n\
        }\n\
        cfg_x! { impl Level { pub fn make(v: u64) -> Level { Level } } }\n";
    // Methods of the same names elsewhere: a guess by name would find them.
    let other = "pub struct Other;\n\
        impl Other {\n\
            pub fn next(&self) -> u32 { 1 }\n\
            pub fn insert(&self, k: usize, v: u8) {}\n\
            pub fn len(&self) -> usize { 0 }\n\
        }\n\
        pub fn make() -> u32 { 1 }\n";
    let calls = calls_of(&[("src/wheel.rs", wheel), ("src/other.rs", other)]);
    let from_run: BTreeSet<&str> =
        calls.iter().filter_map(|e| e.strip_prefix("src/wheel.rs::Wheel::run -> ")).collect();
    assert_eq!(from_run, BTreeSet::from(["src/wheel.rs::Level::next (resolved)"]), "{calls:#?}");
    // A function declared in an item macro's tokens does not call itself
    // by name.
    assert!(!calls.iter().any(|c| c.starts_with("src/wheel.rs::Level::make ->")), "{calls:#?}");
}

/// A type's own method wins over a trait's method of the same name that
/// the type implements (`impl UdpSocket { fn as_socket }` beside `impl
/// AsSocket for UdpSocket { fn as_socket }`), as the compiler picks it:
/// for the call and for the type the call gives.
#[test]
fn rust_inherent_methods_come_before_trait_methods() {
    let sock = "pub struct Socket;\n\
        pub struct Raw;\n\
        impl Raw { pub fn bind(&self) {} }\n\
        pub struct Other;\n\
        impl Other { pub fn bind(&self) {} }\n\
        impl Socket {\n\
            fn as_raw(&self) -> Raw { Raw }\n\
            pub fn bind(&self) { self.as_raw().bind() }\n\
        }\n\
        pub trait AsRaw { fn as_raw(&self) -> Other; }\n\
        impl AsRaw for Socket { fn as_raw(&self) -> Other { Other } }\n";
    let calls = calls_of(&[("src/sock.rs", sock)]);
    let from_bind: BTreeSet<&str> =
        calls.iter().filter_map(|e| e.strip_prefix("src/sock.rs::Socket::bind -> ")).collect();
    let want = BTreeSet::from([
        "src/sock.rs::Socket::as_raw (resolved)",
        "src/sock.rs::Raw::bind (resolved)",
    ]);
    assert_eq!(from_bind, want, "{calls:#?}");
}

/// A value bound by `ref` / `ref mut` in a pattern is typed like any
/// other binding, and a path through another crate's import (`use
/// io_uring::opcode;` then `opcode::Statx::new()`) gives that crate's
/// type, not the tree's type of the same name.
#[test]
fn rust_ref_patterns_and_other_crates_paths_are_typed() {
    let lib = "mod file;\nmod statx;\n";
    let statx = "pub struct Statx;\n\
        impl Statx { pub fn new() -> Statx { Statx } pub fn mask(self, m: u32) -> Statx { self } pub fn build(self) {} }\n";
    let file = "use io_uring::opcode;\n\
        pub struct Buf;\n\
        impl Buf { pub fn take(&mut self) {} }\n\
        pub enum State { Idle(Option<Buf>), Busy }\n\
        pub struct Inner { state: State }\n\
        pub fn set_len(inner: &mut Inner) {\n\
            match inner.state { State::Idle(ref mut cell) => { cell.take(); } _ => {} }\n\
        }\n\
        pub fn statx() { opcode::Statx::new().mask(1).build(); }\n";
    let calls = calls_of(&[("src/lib.rs", lib), ("src/statx.rs", statx), ("src/file.rs", file)]);
    for from in ["src/file.rs::set_len ->", "src/file.rs::statx ->"] {
        assert!(!calls.iter().any(|c| c.starts_with(from)), "{from} {calls:#?}");
    }
}

/// `self.as_mut()` of a `self: Pin<&mut Self>` and `clone()` of a type
/// that derives `Clone` keep the type, so what follows them is typed.
#[test]
fn rust_pinned_self_and_derived_clone_keep_the_type() {
    let fut = "use std::pin::Pin;\n\
        pub struct Inner;\n\
        impl Inner { pub fn wake(&self) {} }\n\
        pub struct Fut { buf: Vec<u8>, inner: Inner }\n\
        impl Fut {\n\
            pub fn poll(mut self: Pin<&mut Self>) { self.as_mut().inner.wake(); }\n\
        }\n\
        #[derive(Clone)]\n\
        pub struct Tx { inner: Inner }\n\
        pub fn send(tx: &Tx) { tx.clone().inner.wake(); }\n";
    let other = "pub struct Other;\nimpl Other { pub fn wake(&self) {} }\n";
    let calls = calls_of(&[("src/fut.rs", fut), ("src/other.rs", other)]);
    for want in [
        "src/fut.rs::Fut::poll -> src/fut.rs::Inner::wake (resolved)",
        "src/fut.rs::send -> src/fut.rs::Inner::wake (resolved)",
    ] {
        assert!(calls.contains(want), "missing {want}\n{calls:#?}");
    }
    assert!(!calls.iter().any(|c| c.contains("Other::wake")), "{calls:#?}");
}

/// A method call on a receiver the graph cannot type guesses among the
/// methods of that name, never a free function of that name.
#[test]
fn rust_untyped_method_calls_never_guess_free_functions() {
    let a = "pub struct Task;\nimpl Task { pub fn run(&self) {} }\n\
        pub fn go(f: impl Fn() -> Task) { let t = make(); t.run(); }\n";
    let b = "pub fn run() {}\n";
    let calls = calls_of(&[("src/a.rs", a), ("src/b.rs", b)]);
    assert!(!calls.iter().any(|c| c.contains("src/b.rs::run")), "{calls:#?}");
}
