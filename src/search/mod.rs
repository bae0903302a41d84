//! Semantic and keyword search over code units: what a unit's searchable
//! text is, how ranked lists are fused, and how the search rows follow the
//! code graph and get their vectors. The SurrealQL is `store::search`'s.
//!
//! Rows follow the graph in the background: `sync` brings a view's rows
//! from the snapshot they describe (`meta:search_root`) to the graph's,
//! re-reading only files whose contents changed; vectors come from a cache
//! shared by every view (keyed by model, window and text), so a unit is
//! embedded once whatever its file, session or history, and only units
//! whose text changed go to the model (`embed_pending`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::embed::{DEFAULT_WINDOW, Model, Precision};
use crate::error::{Error, Result};
use crate::graph::Unit;
use crate::snapshot;
use crate::store::Store;
use crate::store::search::{HitRow, SearchQuery, SearchRow, tier_of};

pub mod rank;

/// Files whose search rows are written at a time.
const SYNC_FILES: usize = 500;

/// Vectors written per step of `embed_pending`.
const EMBED_STEP: usize = 256;

/// How results are ranked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Keyword and semantic ranks fused (reciprocal rank fusion).
    #[default]
    Hybrid,
    /// Nearest vectors to the query's.
    Semantic,
    /// BM25 over names, identifiers, signatures and docs.
    Keyword,
}

/// A search and its filters (applied before the top-k cut).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Search {
    pub query: String,
    pub mode: Mode,
    /// A glob over file paths (`src/**/*.rs`).
    pub path: Option<String>,
    pub kind: Option<String>,
    pub language: Option<String>,
    pub limit: usize,
}

impl Search {
    /// The longest query accepted, in bytes.
    pub const QUERY_MAX: usize = 4096;

    /// Refuses filters that name nothing and queries that say nothing, with
    /// what would be accepted.
    pub fn check(&self) -> Result<()> {
        if let Some(kind) = &self.kind
            && crate::graph::UnitKind::parse(kind).is_none()
        {
            let kinds: Vec<&str> =
                crate::graph::ALL_KINDS[1..].iter().map(|k| k.as_str()).collect();
            return Err(Error::InvalidInput(format!(
                "unknown kind {kind:?}: one of {}",
                kinds.join(", ")
            )));
        }
        if let Some(language) = &self.language
            && !crate::graph::Language::ALL.iter().any(|l| l.as_str() == language)
        {
            let names: Vec<&str> = crate::graph::Language::ALL.iter().map(|l| l.as_str()).collect();
            return Err(Error::InvalidInput(format!(
                "unknown language {language:?}: one of {}",
                names.join(", ")
            )));
        }
        if self.query.trim().is_empty() {
            return Err(Error::InvalidInput("an empty query: say what to look for".into()));
        }
        if self.query.len() > Self::QUERY_MAX {
            return Err(Error::InvalidInput(format!(
                "a query of {} bytes: at most {}",
                self.query.len(),
                Self::QUERY_MAX
            )));
        }
        Ok(())
    }
}

/// One ranked unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Hit {
    pub id: String,
    pub kind: String,
    pub file: String,
    pub line: u32,
    pub signature: String,
    /// The ranking's score (`rank`): higher ranks first; comparable
    /// within one answer only.
    pub score: f64,
}

/// Results and how much of the view they cover.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Results {
    pub hits: Vec<Hit>,
    pub units: u64,
    pub embedded: u64,
    /// Set when semantic ranking was asked for and could not be done (no
    /// model: keyword results are given instead), or when the search rows
    /// are still being written (the results come from those there are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

pub use crate::store::search::Progress;

/// What goes into a unit's searchable text, after its kind and qualified
/// name, in this order. `scripts/bench-search.sh` measures the choices
/// (README, "Search": the ablation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextParts {
    /// The qualified name again as lowercase words (`Value::as_f64`:
    /// "value as f64"): the model's vocabulary has words, not camelCase.
    pub words: bool,
    /// The file's path.
    pub path: bool,
    pub signature: bool,
    pub doc: Doc,
    /// Bytes of the body's start (its first identifiers).
    pub body: usize,
}

/// How much of a doc comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Doc {
    None,
    /// Its first paragraph.
    Summary,
    Whole,
}

/// What the keyword index reads: everything that names the unit, and the
/// start of its body. More body ranks worse for questions in words
/// (MRR@10 over the bench questions, keyword alone: 1,200 bytes 0.285 /
/// 0.567, 300 bytes 0.325 / 0.598, none 0.239 / 0.663 on semver / express).
pub const KEYWORD_TEXT: TextParts =
    TextParts { words: false, path: false, signature: true, doc: Doc::Whole, body: 300 };

/// What the model reads: the name, signature and doc say what a unit is
/// for; a long body costs tokens (the model's time grows with them) and
/// mostly adds identifiers, which the keyword side has.
pub const EMBED_TEXT: TextParts =
    TextParts { words: false, path: false, signature: true, doc: Doc::Summary, body: 0 };

impl TextParts {
    /// `self`, or what `var` says (for measuring): a comma list of `words`,
    /// `path`, `sig`, `doc`, `fulldoc`, `body=N`.
    fn or_env(self, var: &str) -> TextParts {
        let Ok(spec) = std::env::var(var) else { return self };
        let mut t =
            TextParts { words: false, path: false, signature: false, doc: Doc::None, body: 0 };
        for part in spec.split(',').map(str::trim) {
            match part {
                "words" => t.words = true,
                "path" => t.path = true,
                "sig" => t.signature = true,
                "doc" => t.doc = Doc::Summary,
                "fulldoc" => t.doc = Doc::Whole,
                p => match p.strip_prefix("body=").and_then(|n| n.parse().ok()) {
                    Some(n) => t.body = n,
                    None => tracing::warn!(part = p, "{var}: unknown text part"),
                },
            }
        }
        t
    }
}

/// What the keyword index reads of a unit (`KEYWORD_TEXT`, or
/// `CORTEX_KEYWORD_TEXT` when measuring).
pub fn keyword_text(unit: &Unit, file: &str, source: &[u8]) -> String {
    unit_text(unit, file, source, KEYWORD_TEXT.or_env("CORTEX_KEYWORD_TEXT"))
}

/// What the model reads of a unit (`EMBED_TEXT`, or `CORTEX_EMBED_TEXT`).
pub fn embed_text(unit: &Unit, file: &str, source: &[u8]) -> String {
    unit_text(unit, file, source, EMBED_TEXT.or_env("CORTEX_EMBED_TEXT"))
}

fn unit_text(unit: &Unit, file: &str, source: &[u8], parts: TextParts) -> String {
    let mut text = format!("{} {}\n", unit.kind.as_str(), unit.qname);
    if parts.words {
        let words: Vec<String> =
            crate::store::terms::term_parts(&unit.qname).into_iter().map(|(_, w)| w).collect();
        text.push_str(&words.join(" "));
        text.push('\n');
    }
    if parts.path {
        text.push_str(file);
        text.push('\n');
    }
    if parts.signature && !unit.signature.is_empty() {
        text.push_str(&unit.signature);
        text.push('\n');
    }
    let doc = match parts.doc {
        Doc::None => "",
        Doc::Summary => unit.doc.split("\n\n").next().unwrap_or_default(),
        Doc::Whole => unit.doc.as_str(),
    };
    if !doc.is_empty() {
        text.push_str(doc);
        text.push('\n');
    }
    let (s, e) = (unit.start_byte as usize, (unit.end_byte as usize).min(source.len()));
    if s < e && parts.body > 0 {
        let body = &source[s..e];
        let cut = floor_char_boundary(body, parts.body);
        text.push_str(&String::from_utf8_lossy(&body[..cut]));
    }
    text
}

fn floor_char_boundary(bytes: &[u8], at: usize) -> usize {
    if at >= bytes.len() {
        return bytes.len();
    }
    let mut i = at;
    while i > 0 && (bytes[i] & 0xC0) == 0x80 {
        i -= 1;
    }
    i
}

/// The cache key of a text's vector (by the model at the precision this
/// process runs it at).
pub fn vector_key(text: &str, window: usize) -> String {
    let mut h = blake3::Hasher::new();
    h.update(Precision::configured().model_id().as_bytes());
    h.update(&(window as u64).to_le_bytes());
    h.update(text.as_bytes());
    h.finalize().to_hex().to_string()
}

/// A path glob as a regular expression: `**` any path, `*` any name part,
/// `?` one character; everything else literal.
pub fn glob_regex(glob: &str) -> String {
    let mut re = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                    re.push_str("(?:.*/)?");
                } else {
                    re.push_str(".*");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' => re.push(c),
            c => {
                re.push('\\');
                re.push(c);
            }
        }
    }
    re.push('$');
    re
}

/// What a view's search rows lack: the files whose rows must be written
/// again to describe the graph's snapshot.
#[derive(Debug, Clone)]
pub struct Pending {
    graph_root: crate::ids::ContentHash,
    /// The snapshot the rows describe; none if they were never written.
    synced: Option<crate::ids::ContentHash>,
    /// Every code file on a first sync, else the files that differ.
    pub paths: Vec<String>,
}

/// What a view's search rows lack, or `None` when they describe its graph.
pub async fn pending(store: &Store, window: usize) -> Result<Option<Pending>> {
    let Some(graph_root) = store.graph().graph_root().await? else { return Ok(None) };
    let synced = store.search().search_root(window).await?;
    if synced == Some(graph_root) {
        return Ok(None);
    }
    let paths: Vec<String> = match synced {
        None => store.graph().code_paths().await?,
        Some(old) => snapshot::diff(store, old, graph_root)
            .await?
            .into_iter()
            .filter_map(|c| String::from_utf8(c.path).ok())
            .collect(),
    };
    Ok(Some(Pending { graph_root, synced, paths }))
}

/// Brings a view's search rows to its graph's snapshot: rows of files
/// whose contents changed are replaced, with vectors from the cache where
/// the text was embedded before. Returns how many files were re-read.
pub async fn sync(store: &Store, window: usize) -> Result<usize> {
    match pending(store, window).await? {
        Some(p) => sync_pending(store, p, window).await,
        None => Ok(0),
    }
}

/// Writes the rows `p` names (see [`sync`]).
pub async fn sync_pending(store: &Store, p: Pending, window: usize) -> Result<usize> {
    let Pending { graph_root, synced, paths } = p;
    // By batches of files, so that a first build over a large tree holds
    // one batch's sources and rows at a time; the rows record `graph_root`
    // once the last batch is in.
    let batches: Vec<&[String]> =
        if paths.is_empty() { vec![&[]] } else { paths.chunks(SYNC_FILES).collect() };
    let last = batches.len() - 1;
    for (n, batch) in batches.into_iter().enumerate() {
        let rows = rows_of(store, batch, window).await?;
        let fresh = synced.is_none() && n == 0;
        let done = (n == last).then_some(graph_root);
        store.search().replace_search_rows(batch, &rows, fresh, done, window).await?;
    }
    Ok(paths.len())
}

/// The search rows of the code files `paths`.
async fn rows_of(store: &Store, paths: &[String], window: usize) -> Result<Vec<SearchRow>> {
    let files = store.graph().code_files(paths).await?;
    let contents =
        store.objects().read_blobs(&files.iter().map(|f| f.content).collect::<Vec<_>>()).await?;
    let mut rows = Vec::new();
    for f in &files {
        let source = contents.get(&f.content).map(|b| b.as_slice()).unwrap_or_default();
        let by_id: HashMap<&str, &Unit> =
            f.parsed.units.iter().map(|u| (u.id.as_str(), u)).collect();
        for u in f.parsed.units.iter().skip(1) {
            let parent = u.parent.as_deref().and_then(|p| by_id.get(p).copied());
            let text = keyword_text(u, &f.path, source);
            let embed = embed_text(u, &f.path, source);
            rows.push(SearchRow {
                id: u.id.clone(),
                file: f.path.clone(),
                kind: u.kind.as_str().to_owned(),
                lang: f.language.as_str().to_owned(),
                line: u.start_line,
                signature: u.signature.clone(),
                key: vector_key(&embed, window),
                text,
                embed,
                tier: tier_of(is_public(u, parent), u.is_test),
            });
        }
    }
    Ok(rows)
}

/// Public API: what its module exports (in Rust, `pub` without a
/// restriction), and the members of what it exports that are not named private (`_x`, `#x`; `__init__` is public),
/// including a trait's and a trait impl's methods (Rust's `pub` is not
/// written on those).
fn is_public(unit: &Unit, parent: Option<&Unit>) -> bool {
    use crate::graph::UnitKind;
    if unit.exported {
        // Rust's `pub(crate)` and `pub(super)` are the crate's own.
        return !unit.signature.starts_with("pub(");
    }
    let Some(parent) = parent else { return false };
    let private_name = unit.name.starts_with('#')
        || (unit.name.starts_with('_')
            && !(unit.name.starts_with("__") && unit.name.ends_with("__")));
    let open = match parent.kind {
        UnitKind::Impl => parent.signature.contains(" for "),
        UnitKind::Class | UnitKind::Interface | UnitKind::Trait => parent.exported,
        _ => false,
    };
    open && !private_name
}

/// Brings a view's graph and search rows to its head (vectors follow in
/// `embed_pending`).
pub async fn update(store: &Store) -> Result<crate::index::IndexReport> {
    let report = crate::index::index_head(store).await?;
    sync(store, window()).await?;
    Ok(report)
}

/// The model at the default window, or why there is none.
pub fn load_model() -> std::result::Result<Model, crate::embed::EmbedError> {
    Model::load(window())
}

/// Embeds the view's units that have no vector yet, a step at a time, and
/// reports progress after each step. Returns how many were embedded.
///
/// A step's vectors are written while the next step is embedded: with the
/// 8-bit model, writing them one after the other left the cores idle a
/// fifth of the time (perf of `cortex index --wait`: 0.81 of two cores
/// busy).
pub async fn embed_pending(
    store: &Store,
    model: &Model,
    priority: crate::embed::Priority,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<usize> {
    let mut total = 0;
    let mut written: Option<Embedded> = None;
    loop {
        // Units of the step being written are still waiting in the table.
        let writing: std::collections::HashSet<&str> =
            written.iter().flat_map(|w| w.pending.iter().map(|p| p.id.as_str())).collect();
        let mut pending = store.search().pending_vectors(EMBED_STEP + writing.len()).await?;
        pending.retain(|p| !writing.contains(p.id.as_str()));
        drop(writing);
        if pending.is_empty() {
            let Some(last) = written.take() else { return Ok(total) };
            total += last.write(store).await?;
            progress(store.search().search_progress().await?);
            continue;
        }
        // The cache may have them (another view, an earlier text).
        let keys: Vec<String> = pending.iter().map(|p| p.key.clone()).collect();
        let mut known = store.search().cached_vectors(&keys).await?;
        let mut unique: Vec<&str> = pending
            .iter()
            .filter(|p| !known.contains_key(&p.key))
            .map(|p| p.embed.as_str())
            .collect();
        unique.sort_unstable();
        unique.dedup();
        let previous = written.take();
        let (vectors, wrote) = tokio::task::block_in_place(|| {
            std::thread::scope(|s| {
                let embedding = s.spawn(|| match unique.is_empty() {
                    true => Ok(Vec::new()),
                    false => model.embed_as(&unique, priority, &|_| {}),
                });
                let wrote = previous.map(|p| {
                    tokio::runtime::Handle::current().block_on(async {
                        let n = p.write(store).await?;
                        progress(store.search().search_progress().await?);
                        Ok::<usize, Error>(n)
                    })
                });
                (embedding.join().expect("the embedding thread does not panic"), wrote)
            })
        });
        total += wrote.transpose()?.unwrap_or(0);
        let vectors = vectors.map_err(Error::from)?;
        let by_text: HashMap<&str, Vec<f32>> = unique.into_iter().zip(vectors).collect();
        let mut fresh = Vec::new();
        for p in &pending {
            if let (false, Some(v)) = (known.contains_key(&p.key), by_text.get(p.embed.as_str())) {
                fresh.push((p.key.clone(), v.clone()));
                known.insert(p.key.clone(), v.clone());
            }
        }
        let done = pending.iter().map(|p| (p.id.clone(), known[&p.key].clone())).collect();
        written = Some(Embedded { pending, done, fresh });
    }
}

/// A step's vectors, to be written.
struct Embedded {
    pending: Vec<crate::store::search::Pending>,
    /// Each unit's vector, by unit id.
    done: Vec<(String, Vec<f32>)>,
    /// Vectors the cache did not have, by key.
    fresh: Vec<(String, Vec<f32>)>,
}

impl Embedded {
    /// Caches the new vectors and gives the units theirs; how many.
    async fn write(self, store: &Store) -> Result<usize> {
        store.search().cache_vectors(&self.fresh).await?;
        store.search().set_vectors(&self.pending, &self.done).await?;
        Ok(self.done.len())
    }
}

/// What the semantic side, the keyword side and the counts answered.
type Sides = (Option<Result<Vec<(String, f64)>>>, Result<Vec<(String, f64)>>, Result<Progress>);

/// The two sides of a search at once: the keyword search and the counts
/// on a thread of their own while this one computes the query's vector and
/// asks for the nearest units (the two take about as long). The model runs
/// here, on a thread that lives on, not on a fresh one per search: its
/// matrix kernels keep work buffers per thread (measured at 100,000 units:
/// the query's vector took 25-34 ms p50 on a fresh thread, 18-23 ms here).
fn both_sides(
    store: &Store,
    model: Option<&Model>,
    query: &str,
    filters: &SearchQuery,
    depth: usize,
    wants_keyword: bool,
) -> Sides {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let other = {
                let runtime = runtime.clone();
                scope.spawn(move || {
                    runtime.block_on(async {
                        // Every candidate: ranking may lift one BM25 put low.
                        let keyword = if wants_keyword {
                            store.search().keyword_search(query, filters, usize::MAX).await
                        } else {
                            Ok(Vec::new())
                        };
                        (keyword, store.search().search_progress().await)
                    })
                })
            };
            let semantic = model.map(|m| -> Result<Vec<(String, f64)>> {
                let vector = m.embed_one(query)?;
                runtime.block_on(store.search().vector_search(&vector, filters, depth))
            });
            let (keyword, progress) = other.join().expect("the keyword search thread");
            (semantic, keyword, progress)
        })
    })
}

/// What a search found before ranking: its lists, best first each, and
/// what is known of their units.
pub struct Found {
    pub lists: rank::Lists,
    /// Units by BM25, all candidates the keyword side scored.
    pub keyword: Vec<(String, f64)>,
    /// Units by cosine similarity, as deep as hybrid ranking looks.
    pub semantic: Vec<(String, f64)>,
    pub facts: HashMap<String, rank::Facts>,
    rows: HashMap<String, HitRow>,
    progress: Progress,
    note: Option<String>,
}

/// Runs a search on a view whose rows are synced. `model` is needed for
/// semantic and hybrid ranking; without it those fall back to keywords.
#[tracing::instrument(name = "search", level = "debug", skip_all, fields(mode = ?s.mode))]
pub async fn search(store: &Store, model: Option<&Model>, s: &Search) -> Result<Results> {
    let found = find(store, model, s).await?;
    Ok(answer(&s.query, found, &rank::SHIPPED, s.limit))
}

/// The lists of a search and what ranking needs, unranked.
pub async fn find(store: &Store, model: Option<&Model>, s: &Search) -> Result<Found> {
    let limit = s.limit.clamp(1, 200);
    // Rows still being written: answer from those there are, and say so.
    let lag = pending(store, window()).await?.map(|p| (p.synced.is_none(), p.paths.len()));
    let filters = SearchQuery {
        path_regex: s.path.as_deref().map(glob_regex),
        kind: s.kind.clone(),
        language: s.language.clone(),
    };
    let mut note = None;
    let mode = match (s.mode, model) {
        (Mode::Keyword, _) => Mode::Keyword,
        (m, Some(_)) => m,
        (_, None) => {
            note = Some(
                "no embedding model: keyword results (install it with scripts/model.sh)".to_owned(),
            );
            Mode::Keyword
        }
    };
    // Hybrid looks deeper into each list than it returns.
    let depth = if mode == Mode::Hybrid { (limit * 5).max(50) } else { limit };
    let wants_keyword = matches!(mode, Mode::Keyword | Mode::Hybrid);
    let model = model.filter(|_| matches!(mode, Mode::Semantic | Mode::Hybrid));
    let (semantic, keyword, progress) =
        both_sides(store, model, &s.query, &filters, depth, wants_keyword);
    let (keyword, progress) = (keyword?, progress?);
    let semantic = semantic.transpose()?.unwrap_or_default();
    tracing::debug!(keyword = keyword.len(), semantic = semantic.len(), "found");
    let mut ids: Vec<String> = keyword.iter().chain(&semantic).map(|(id, _)| id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let rows = store.search().search_rows(&ids).await?;
    let facts = rows
        .iter()
        .map(|(id, r)| (id.clone(), rank::Facts { kind: r.kind.clone(), tier: r.tier }))
        .collect();
    let lists = match mode {
        Mode::Keyword => rank::Lists::Keyword,
        Mode::Semantic => rank::Lists::Semantic,
        Mode::Hybrid => rank::Lists::Both,
    };
    Ok(Found { lists, keyword, semantic, facts, rows, progress, note: lag_note(lag, note) })
}

/// The ranked answer to `query` from what `find` found.
#[tracing::instrument(name = "search.rank", level = "debug", skip_all)]
pub fn answer(query: &str, found: Found, weights: &rank::Weights, limit: usize) -> Results {
    let limit = limit.clamp(1, 200);
    let ranked = rank::rank(
        &rank::Query::new(query),
        found.lists,
        &found.keyword,
        &found.semantic,
        &found.facts,
        weights,
        limit,
    );
    let hits = ranked
        .into_iter()
        .filter_map(|(id, score)| {
            let r = found.rows.get(&id)?;
            Some(Hit {
                id,
                kind: r.kind.clone(),
                file: r.file.clone(),
                line: r.line,
                signature: r.signature.clone(),
                score,
            })
        })
        .collect();
    Results {
        hits,
        units: found.progress.units,
        embedded: found.progress.embedded,
        note: found.note,
    }
}

/// The note on results from rows still being written (`lag`: a first
/// build, and how many files), after `note` if there is one.
fn lag_note(lag: Option<(bool, usize)>, note: Option<String>) -> Option<String> {
    let Some((first, files)) = lag else { return note };
    let lag = if first {
        format!("the search index is not built yet: {files} code files are not searched")
    } else {
        format!("the search index is catching up: {files} changed files are searched as they were")
    };
    let lag = format!("{lag} (a mount's daemon builds it in the background; `cortex index` now)");
    Some(note.map_or(lag.clone(), |n| format!("{n}; {lag}")))
}

/// The default window, overridable for measurement (`CORTEX_EMBED_WINDOW`).
pub fn window() -> usize {
    std::env::var("CORTEX_EMBED_WINDOW")
        .ok()
        .and_then(|w| w.parse().ok())
        .filter(|w| (8..=512).contains(w))
        .unwrap_or(DEFAULT_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_become_anchored_regexes() {
        assert_eq!(glob_regex("src/**/*.rs"), r"^src/(?:.*/)?[^/]*\.rs$");
        assert_eq!(glob_regex("lib/?.js"), r"^lib/[^/]\.js$");
        assert_eq!(glob_regex("a+b(c)"), r"^a\+b\(c\)$");
        assert_eq!(glob_regex("tests/**"), r"^tests/.*$");
    }
}
