//! Search on a real store with the real model: keyword (BM25, identifiers
//! split), semantic (HNSW), hybrid; filters; rows and vectors following
//! edits (re-embedding only what changed); a session's own results.

use cortex::embed::{DEFAULT_WINDOW, Model};
use cortex::index::index_head;
use cortex::search::{self, Mode, Search};
use cortex::store::{Store, View};

use crate::common::{self, write};

const UPLOAD: &str = "use std::path::Path;

/// Sends a file to the server, trying again after a network failure, up to
/// a number of attempts, waiting longer each time.
pub fn retry_upload(path: &Path, attempts: u32) -> std::io::Result<()> {
    for n in 0..attempts {
        if send_once(path).is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100 << n));
    }
    Err(std::io::Error::other(\"gave up\"))
}

fn send_once(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Reads key = value lines into a map.
pub fn parse_config(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}
";

const CART: &str = "export class ShoppingCart {
  constructor() { this.items = []; }
  addItem(item) { this.items.push(item); }
}

export function computeTotalPrice(items, taxRate) {
  const sum = items.reduce((s, i) => s + i.price * i.quantity, 0);
  return sum * (1 + taxRate);
}
";

async fn run(store: &Store, model: &Model, query: &str, mode: Mode) -> Vec<String> {
    let s = Search { query: query.into(), mode, limit: 5, ..Search::default() };
    search::search(store, Some(model), &s).await.unwrap().hits.into_iter().map(|h| h.id).collect()
}

async fn bring_up_to_date(store: &Store, model: &Model) -> usize {
    index_head(store).await.unwrap();
    search::sync(store, DEFAULT_WINDOW).await.unwrap();
    search::embed_pending(store, model, cortex::embed::Priority::Foreground, &|_| {}).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn keyword_semantic_and_hybrid_search_follow_the_tree() {
    let model = Model::load(DEFAULT_WINDOW).expect("the model (scripts/model.sh)");
    let t = common::store().await;
    let tree = tempfile::tempdir().unwrap();
    write(tree.path(), "src/upload.rs", UPLOAD.as_bytes());
    write(tree.path(), "web/cart.js", CART.as_bytes());
    common::import(&t, tree.path()).await;

    // Keyword search works before anything is embedded.
    index_head(&t).await.unwrap();
    search::sync(&t, DEFAULT_WINDOW).await.unwrap();
    let before = search::search(
        &t,
        Some(&model),
        &Search { query: "total price".into(), mode: Mode::Keyword, limit: 5, ..Search::default() },
    )
    .await
    .unwrap();
    assert_eq!(before.hits[0].id, "web/cart.js::computeTotalPrice", "camelCase is split");
    assert_eq!(before.embedded, 0);
    let units = before.units;
    assert_eq!(units, 7, "{before:?}");

    let embedded = search::embed_pending(&t, &model, cortex::embed::Priority::Foreground, &|_| {})
        .await
        .unwrap();
    assert_eq!(embedded as u64, units);
    let p = t.search().search_progress().await.unwrap();
    assert_eq!((p.units, p.embedded), (units, units));

    // snake_case split; stemming (uploads / upload).
    assert_eq!(run(&t, &model, "uploads", Mode::Keyword).await[0], "src/upload.rs::retry_upload");
    // Words the code does not use: only meaning finds it.
    let q = "send a file again when the network fails";
    assert_eq!(run(&t, &model, q, Mode::Semantic).await[0], "src/upload.rs::retry_upload");
    assert_eq!(run(&t, &model, q, Mode::Hybrid).await[0], "src/upload.rs::retry_upload");
    let q = "how much does the basket cost including tax";
    assert_eq!(run(&t, &model, q, Mode::Semantic).await[0], "web/cart.js::computeTotalPrice");

    // Filters apply before the cut: the best match outside them is not
    // returned, the best inside is.
    let filtered = |path: Option<&str>, kind: Option<&str>, language: Option<&str>| Search {
        query: "send a file again when the network fails".into(),
        mode: Mode::Semantic,
        path: path.map(str::to_owned),
        kind: kind.map(str::to_owned),
        language: language.map(str::to_owned),
        limit: 1,
    };
    for (s, want) in [
        (filtered(Some("web/**"), None, None), "web/"),
        (filtered(None, Some("class"), None), "web/cart.js::ShoppingCart"),
        (filtered(None, None, Some("javascript")), "web/"),
        (filtered(Some("src/*.rs"), Some("function"), Some("rust")), "src/upload.rs::retry_upload"),
    ] {
        for mode in [Mode::Semantic, Mode::Keyword, Mode::Hybrid] {
            let s = Search { mode, query: format!("{} cart upload", s.query), ..s.clone() };
            let hits = search::search(&t, Some(&model), &s).await.unwrap().hits;
            assert_eq!(hits.len(), 1, "{s:?}");
            assert!(hits[0].id.starts_with(want), "{s:?}: {hits:?}");
        }
    }

    // An edit: only the changed unit goes to the model; a deleted unit
    // leaves the index.
    let edited =
        UPLOAD.replace("waiting longer each time", "waiting twice as long each time").replace(
            "/// Reads key = value lines into a map.\npub fn parse_config",
            "fn parse_config_gone",
        );
    let edited = edited[..edited.find("fn parse_config_gone").unwrap()].to_owned();
    write(tree.path(), "src/upload.rs", edited.as_bytes());
    common::import(&t, tree.path()).await;
    assert_eq!(bring_up_to_date(&t, &model).await, 1, "only retry_upload's text changed");
    let all = run(&t, &model, "parse config key value lines map", Mode::Keyword).await;
    assert!(!all.iter().any(|id| id.contains("parse_config")), "{all:?}");
    let p = t.search().search_progress().await.unwrap();
    assert_eq!((p.units, p.embedded), (units - 1, units - 1));

    // A session's search is its view's: its new unit is found there, not
    // in main; its vectors for unchanged units come from the cache.
    t.sessions().create_session(&common::sn("s1"), &View::Main).await.unwrap();
    let s1 = t.sessions().session(&common::sn("s1")).await.unwrap();
    let session_tree = tempfile::tempdir().unwrap();
    write(session_tree.path(), "src/upload.rs", edited.as_bytes());
    write(session_tree.path(), "web/cart.js", CART.as_bytes());
    write(
        session_tree.path(),
        "src/zip.rs",
        b"/// Packs files into a compressed archive.\npub fn make_archive(files: &[&str]) {}\n",
    );
    common::import(&s1, session_tree.path()).await;
    assert_eq!(bring_up_to_date(&s1, &model).await, 1, "only the new unit is new to the model");
    let q = "compress several files into one archive";
    assert_eq!(run(&s1, &model, q, Mode::Hybrid).await[0], "src/zip.rs::make_archive");
    assert!(!run(&t, &model, q, Mode::Hybrid).await.iter().any(|id| id.contains("zip")));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_model_search_falls_back_to_keywords_and_says_so() {
    let t = common::store().await;
    let tree = tempfile::tempdir().unwrap();
    write(tree.path(), "web/cart.js", CART.as_bytes());
    common::import(&t, tree.path()).await;
    index_head(&t).await.unwrap();
    search::sync(&t, DEFAULT_WINDOW).await.unwrap();
    let s = Search { query: "total price".into(), limit: 3, ..Search::default() };
    let r = search::search(&t, None, &s).await.unwrap();
    assert_eq!(r.hits[0].id, "web/cart.js::computeTotalPrice");
    assert!(r.note.as_deref().unwrap().contains("scripts/model.sh"), "{r:?}");
    // Hostile query text is data, not SurrealQL.
    for q in ["'; DELETE search_unit; --", "\") OR true --", "@1@ *", ""] {
        let s = Search { query: q.into(), mode: Mode::Keyword, limit: 3, ..Search::default() };
        search::search(&t, None, &s).await.unwrap();
    }
    assert_eq!(t.search().search_progress().await.unwrap().units, 4);
}

/// A search while the rows are still being written answers from the rows
/// there are and says how far they are behind: none written yet, then
/// written, then a changed file not yet rewritten.
#[tokio::test(flavor = "multi_thread")]
async fn a_search_before_its_rows_are_written_answers_and_says_so() {
    let t = common::store().await;
    let tree = tempfile::tempdir().unwrap();
    write(tree.path(), "web/cart.js", CART.as_bytes());
    write(tree.path(), "src/upload.rs", UPLOAD.as_bytes());
    common::import(&t, tree.path()).await;
    index_head(&t).await.unwrap();
    let keyword =
        |q: &str| Search { query: q.into(), mode: Mode::Keyword, limit: 3, ..Search::default() };

    let r = search::search(&t, None, &keyword("total price")).await.unwrap();
    assert!(r.hits.is_empty(), "{r:?}");
    let note = r.note.unwrap();
    assert!(note.contains("not built yet: 2 code files are not searched"), "{note}");

    search::sync(&t, DEFAULT_WINDOW).await.unwrap();
    let r = search::search(&t, None, &keyword("total price")).await.unwrap();
    assert_eq!(r.hits[0].id, "web/cart.js::computeTotalPrice");
    assert_eq!(r.note, None, "{r:?}");

    write(tree.path(), "web/cart.js", CART.replace("computeTotalPrice", "grandTotal").as_bytes());
    common::import(&t, tree.path()).await;
    index_head(&t).await.unwrap();
    let r = search::search(&t, None, &keyword("total price")).await.unwrap();
    assert_eq!(r.hits[0].id, "web/cart.js::computeTotalPrice", "the rows as they were");
    assert!(r.note.unwrap().contains("catching up: 1 changed files"));
    assert_eq!(search::sync(&t, DEFAULT_WINDOW).await.unwrap(), 1);
    let r = search::search(&t, None, &keyword("grand total")).await.unwrap();
    assert_eq!(r.hits[0].id, "web/cart.js::grandTotal");
    assert_eq!(r.note, None);
}

/// A million units take hours to embed: the ones a search likeliest wants
/// come first (public API, then the rest of the code, then tests).
#[tokio::test(flavor = "multi_thread")]
async fn public_api_is_embedded_before_private_code_and_tests() {
    let t = common::store().await;
    let tree = tempfile::tempdir().unwrap();
    let lib = "fn helper() {}\n\n#[test]\nfn checks() {}\n\npub fn api() {}\n";
    write(tree.path(), "src/lib.rs", lib.as_bytes());
    common::import(&t, tree.path()).await;
    index_head(&t).await.unwrap();
    search::sync(&t, DEFAULT_WINDOW).await.unwrap();
    let order = |n: usize| {
        let t = &t;
        async move {
            let pending = t.search().pending_vectors(n).await.unwrap();
            pending.into_iter().map(|p| p.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(order(10).await, ["src/lib.rs::api", "src/lib.rs::helper", "src/lib.rs::checks"]);
    assert_eq!(order(1).await, ["src/lib.rs::api"]);
    assert_eq!(order(2).await, ["src/lib.rs::api", "src/lib.rs::helper"]);
}

/// Writers racing on the same rows (two embedders, or SurrealDB's own index
/// compaction, which runs every few seconds) conflict; a conflicted write is
/// tried again, and each vector still counts once.
#[tokio::test(flavor = "multi_thread")]
async fn racing_vector_writes_all_land_and_count_once() {
    let t = common::store().await;
    let tree = tempfile::tempdir().unwrap();
    for n in 0..20 {
        write(tree.path(), &format!("src/m{n}.rs"), UPLOAD.as_bytes());
    }
    common::import(&t, tree.path()).await;
    index_head(&t).await.unwrap();
    search::sync(&t, DEFAULT_WINDOW).await.unwrap();
    let pending = t.search().pending_vectors(1000).await.unwrap();
    assert_eq!(pending.len(), 60);
    let vectors: Vec<(String, Vec<f32>)> = pending
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut v = vec![0.0f32; 384];
            v[i % 384] = 1.0;
            (p.id.clone(), v)
        })
        .collect();
    let write = || t.search().set_vectors(&pending, &vectors);
    let (a, b, c, d) = tokio::join!(write(), write(), write(), write());
    for r in [a, b, c, d] {
        r.unwrap();
    }
    let p = t.search().search_progress().await.unwrap();
    assert_eq!((p.units, p.embedded), (60, 60));
    assert!(t.search().pending_vectors(1000).await.unwrap().is_empty());
}

/// Ranking knows code: of units with the same text, public API comes
/// before private code, and a test after both unless the query is about
/// tests; a unit written once per `#[cfg]` is listed once.
#[tokio::test(flavor = "multi_thread")]
async fn ranking_prefers_public_code_demotes_tests_and_lists_variants_once() {
    let t = common::store().await;
    let tree = tempfile::tempdir().unwrap();
    let body = "(text: &str) -> usize {\n    text.lines().filter(|l| l.contains('=')).count()\n}\n";
    let doc = "/// Counts the settings lines of a configuration text.\n";
    let lib = format!(
        "{doc}fn count_settings_private{body}\n{doc}pub fn count_settings{body}\n\
         #[cfg(unix)]\npub fn watch_settings() {{}}\n#[cfg(not(unix))]\npub fn watch_settings() {{}}\n"
    );
    write(tree.path(), "src/lib.rs", lib.as_bytes());
    write(
        tree.path(),
        "tests/settings.rs",
        format!("{doc}#[test]\nfn count_settings_test{body}").as_bytes(),
    );
    common::import(&t, tree.path()).await;
    index_head(&t).await.unwrap();
    search::sync(&t, DEFAULT_WINDOW).await.unwrap();
    let keyword =
        |q: &str| Search { query: q.into(), mode: Mode::Keyword, limit: 10, ..Search::default() };
    let ids = |r: search::Results| r.hits.into_iter().map(|h| h.id).collect::<Vec<_>>();

    let found = ids(search::search(&t, None, &keyword("count settings lines")).await.unwrap());
    let at = |id: &str| {
        found.iter().position(|f| f == id).unwrap_or_else(|| panic!("{id} in {found:?}"))
    };
    assert!(
        at("src/lib.rs::count_settings") < at("src/lib.rs::count_settings_private"),
        "{found:?}"
    );
    assert!(
        at("src/lib.rs::count_settings_private") < at("tests/settings.rs::count_settings_test"),
        "{found:?}"
    );
    // Asked about tests, the test is not held back.
    let found =
        ids(search::search(&t, None, &keyword("test counting settings lines")).await.unwrap());
    let at = |id: &str| {
        found.iter().position(|f| f == id).unwrap_or_else(|| panic!("{id} in {found:?}"))
    };
    assert!(
        at("tests/settings.rs::count_settings_test") < at("src/lib.rs::count_settings_private"),
        "{found:?}"
    );

    let found = ids(search::search(&t, None, &keyword("watch settings")).await.unwrap());
    let variants = found.iter().filter(|id| id.starts_with("src/lib.rs::watch_settings")).count();
    assert_eq!(variants, 1, "{found:?}");
}

/// Public API, as embedding order and ranking read it: Rust `pub` without
/// a restriction and the methods of trait impls; Python's and JavaScript's
/// methods of exported classes unless named private.
#[tokio::test(flavor = "multi_thread")]
async fn public_api_is_what_a_user_of_the_code_can_reach() {
    let t = common::store().await;
    let tree = tempfile::tempdir().unwrap();
    let lib = "pub struct Sheet;\n\
               impl std::fmt::Display for Sheet {\n    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result { Ok(()) }\n}\n\
               impl Sheet {\n    pub fn open() {}\n    pub(crate) fn reload() {}\n    fn cells() {}\n}\n";
    write(tree.path(), "src/lib.rs", lib.as_bytes());
    let py = "class Client:\n    def __init__(self):\n        pass\n\n    def send(self):\n        pass\n\n    def _retry(self):\n        pass\n";
    write(tree.path(), "pkg/client.py", py.as_bytes());
    common::import(&t, tree.path()).await;
    index_head(&t).await.unwrap();
    search::sync(&t, DEFAULT_WINDOW).await.unwrap();
    let order: Vec<String> =
        t.search().pending_vectors(100).await.unwrap().into_iter().map(|p| p.id).collect();
    let at = |id: &str| {
        order.iter().position(|o| o == id).unwrap_or_else(|| panic!("{id} in {order:?}"))
    };
    let public = [
        "src/lib.rs::Sheet",
        "src/lib.rs::Sheet::open",
        "pkg/client.py::Client",
        "pkg/client.py::Client::send",
        "pkg/client.py::Client::__init__",
    ];
    let private =
        ["src/lib.rs::Sheet::reload", "src/lib.rs::Sheet::cells", "pkg/client.py::Client::_retry"];
    let last_public = public.iter().map(|id| at(id)).max().unwrap();
    let first_private = private.iter().map(|id| at(id)).min().unwrap();
    assert!(last_public < first_private, "{order:?}");
    let fmt = order.iter().find(|id| id.ends_with("::fmt")).expect("the trait impl's method");
    assert!(at(fmt) < first_private, "{order:?}");
}

/// The counts a search shows while rows are written move by each batch's
/// rows (no table is counted until the last batch), and the last batch
/// counts them exactly.
#[tokio::test(flavor = "multi_thread")]
async fn row_counts_move_by_each_batch_and_are_counted_at_the_end() {
    use cortex::store::search::SearchRow;
    let t = common::store().await;
    let row = |file: &str, name: &str| SearchRow {
        id: format!("{file}::{name}"),
        file: file.into(),
        kind: "function".into(),
        lang: "rust".into(),
        line: 1,
        signature: format!("fn {name}()"),
        text: format!("function {name}"),
        embed: format!("function {name}"),
        key: format!("key-{file}-{name}"),
        tier: 0,
    };
    let search = t.search();
    let (a, b) = ("src/a.rs".to_owned(), "src/b.rs".to_owned());
    let first = [row(&a, "one"), row(&a, "two"), row(&b, "three")];
    search.replace_search_rows(&[a.clone(), b.clone()], &first, true, None, 1).await.unwrap();
    assert_eq!(search.search_progress().await.unwrap().units, 3);
    // a.rs now has one unit: two rows go, one comes.
    search
        .replace_search_rows(std::slice::from_ref(&a), &[row(&a, "four")], false, None, 1)
        .await
        .unwrap();
    assert_eq!(search.search_progress().await.unwrap().units, 2);
    let root = cortex::ids::ContentHash::of(b"root");
    let c = "src/c.rs".to_owned();
    search
        .replace_search_rows(std::slice::from_ref(&c), &[row(&c, "five")], false, Some(root), 1)
        .await
        .unwrap();
    assert_eq!(search.search_progress().await.unwrap().units, 3);
    assert_eq!(search.search_root(1).await.unwrap(), Some(root));
    let found = async |q: &str| -> Vec<String> {
        let hits = search.keyword_search(q, &Default::default(), 10).await.unwrap();
        hits.into_iter().map(|h| h.0).collect()
    };
    assert_eq!(found("four").await, ["src/a.rs::four"]);
    // The replaced units' postings went with their rows.
    assert!(found("one two").await.is_empty());
    assert_eq!(found("three five four").await.len(), 3);
    assert_eq!(found("three five").await, ["src/b.rs::three", "src/c.rs::five"]);
}

/// The keyword index's filters apply before the cut: with a thousand
/// units matching better elsewhere, the one unit a filter admits is still
/// found, and a word every unit holds ranks the shortest texts first.
#[tokio::test(flavor = "multi_thread")]
async fn keyword_filters_apply_before_the_cut_over_many_matches() {
    use cortex::store::search::{SearchQuery, SearchRow};
    let t = common::store().await;
    let row = |file: &str, name: &str, kind: &str, lang: &str, text: String| SearchRow {
        id: format!("{file}::{name}"),
        file: file.into(),
        kind: kind.into(),
        lang: lang.into(),
        line: 1,
        signature: String::new(),
        text,
        embed: String::new(),
        key: format!("key-{file}-{name}"),
        tier: 0,
    };
    let mut rows: Vec<SearchRow> = (0..1000)
        .map(|i| row("src/a.rs", &format!("f{i}"), "function", "rust", "widget widget".into()))
        .collect();
    rows.push(row(
        "lib/b.py",
        "Widget",
        "class",
        "python",
        format!("widget {}", "pad ".repeat(40)),
    ));
    let paths = ["src/a.rs".to_owned(), "lib/b.py".to_owned()];
    let search = t.search();
    search.replace_search_rows(&paths, &rows, true, None, 1).await.unwrap();
    let find = async |filters: SearchQuery| -> Vec<String> {
        let hits = search.keyword_search("widget", &filters, 10).await.unwrap();
        hits.into_iter().map(|h| h.0).collect()
    };
    let all = find(SearchQuery::default()).await;
    assert_eq!(all.len(), 10);
    assert!(all.iter().all(|id| id.starts_with("src/a.rs::")), "{all:?}");
    let only = ["lib/b.py::Widget".to_owned()];
    let by_path =
        SearchQuery { path_regex: Some(search::glob_regex("lib/**")), ..Default::default() };
    assert_eq!(find(by_path).await, only);
    assert_eq!(find(SearchQuery { kind: Some("class".into()), ..Default::default() }).await, only);
    let by_lang = SearchQuery { language: Some("python".into()), ..Default::default() };
    assert_eq!(find(by_lang).await, only);
    let none = SearchQuery { language: Some("javascript".into()), ..Default::default() };
    assert!(find(none).await.is_empty());
}
