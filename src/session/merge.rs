//! Bringing a session back into main: a three-way merge between the
//! session's base, main now (ours) and the session (theirs). Files changed
//! on one side are taken, files changed on both are merged (code by unit,
//! other text by lines; binaries conflict), renames follow edits, and main
//! moves in one commit that fails if main moved meanwhile (then the merge
//! is computed again).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{text_at, text_path};
use crate::error::{Error, Result};
use crate::graph::Language;
use crate::ids::{ContentHash, SessionName};
use crate::merge::code::{self, Merged};
use crate::merge::dangling::{Changed, DanglingCall, Side, dangling_calls, removed};
use crate::merge::moves::follow_moves;
use crate::merge::{ConflictKind, ConflictRecord, Merge, Rule, merge_file};
use crate::snapshot::{self, Resolved};
use crate::store::{ChangeOp, Main, NewSnapshot, Store};
use crate::tree::{Entry, EntryKind};

/// How a merge settles conflicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    /// Merge what merges; conflicts stop the merge.
    #[default]
    Auto,
    /// Conflicts keep main's side.
    Ours,
    /// Conflicts take the session's side.
    Theirs,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeOptions {
    pub dry_run: bool,
    pub strategy: Strategy,
    /// Keep the session after a clean merge, rebased on the new main.
    pub keep: bool,
    /// Calls left to units one side removed are conflicts, not warnings.
    #[serde(default)]
    pub strict: bool,
}

/// What a merge did (or, dry, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MergeReport {
    pub session: String,
    /// Paths taken from the session as they are.
    pub taken: Vec<String>,
    /// Paths changed on both sides and merged.
    pub merged: Vec<String>,
    /// How each merged path was merged (lines, units, insertions, moved,
    /// settled): the ones beyond lines are worth a person's review.
    #[serde(default)]
    pub rules: BTreeMap<String, Rule>,
    /// Conflicts left (none when the merge completed).
    pub conflicts: Vec<ConflictRecord>,
    /// Calls the merge keeps to functions or methods one side removed or
    /// renamed (the merge completes; `strict` makes them conflicts).
    #[serde(default)]
    pub warnings: Vec<DanglingCall>,
    /// Main's new snapshot, when main moved.
    pub snapshot: Option<u64>,
    pub dry_run: bool,
    /// The session was removed (a clean merge without `keep`).
    pub closed: bool,
    /// Files the merge did not write back into watched directories
    /// (`cortex watch --pull`): changed there since Cortex last saw them.
    /// By directory, paths relative to it.
    #[serde(default)]
    pub left_in_watched: Vec<(String, Vec<String>)>,
}

impl MergeReport {
    /// Complete: nothing left to resolve.
    pub fn complete(&self) -> bool {
        self.conflicts.is_empty()
    }
}

/// Moves a kept session's head onto the merged main: `committed`, with
/// whatever the session wrote since the merge read it at `merged_from`
/// (its mount may be flushing as the merge lands) applied over it. Tried
/// again if the session moves meanwhile.
async fn rebase_kept(
    store: &Store,
    session: &Store,
    merged_from: ContentHash,
    committed: &crate::store::Snapshot,
) -> Result<()> {
    loop {
        let head = session.history().head().await?;
        let root = if head.root == merged_from {
            committed.root
        } else {
            let mut edits = BTreeMap::new();
            for change in snapshot::diff(store, merged_from, head.root).await? {
                let entry = match change.op {
                    ChangeOp::Delete => None,
                    _ => match snapshot::resolve(store, head.root, &change.path).await? {
                        Resolved::Entry(e) => Some(e),
                        Resolved::Root(_) => continue,
                    },
                };
                edits.insert(change.path, entry);
            }
            snapshot::apply(store, committed.root, &edits).await?
        };
        if root == head.root {
            return Ok(());
        }
        let changes = snapshot::diff(store, head.root, root).await?;
        let rebased = session
            .history()
            .commit(NewSnapshot {
                parent: head.id,
                root,
                source: "rebase".into(),
                message: format!("rebased on main {}", committed.id),
                files: committed.files,
                bytes: committed.bytes,
                changes,
            })
            .await;
        match rebased {
            Ok(_) => return Ok(()),
            Err(Error::HeadMoved { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Merges the session `name` into main.
pub async fn merge(main: &Main, name: &SessionName, options: MergeOptions) -> Result<MergeReport> {
    merge_with(main, name, options, None).await
}

/// [`merge`], saying why: `message` goes into main's snapshot message
/// (`merge session NAME: MESSAGE`). The session's notes join main's.
pub async fn merge_with(
    main: &Main,
    name: &SessionName,
    options: MergeOptions,
    message: Option<&str>,
) -> Result<MergeReport> {
    if let Some(why) = message {
        crate::notes::check_text(why, "a merge message")?;
    }
    let store: &Store = main;
    let session = store.sessions().session(name).await?;
    let mut tries = 0;
    loop {
        // After a few tries against a main that keeps moving, the turn
        // alone: the writers' flushes wait for this one commit.
        tries += 1;
        let _turn = if tries > crate::store::TRIES_BEFORE_ALONE && !options.dry_run {
            Some(store.main_turn(crate::store::Turn::Alone).await)
        } else {
            None
        };
        let info = store.sessions().session_info(name).await?;
        let main_head = store.history().head().await?;
        let theirs = session.history().head().await?.root;
        let (base, ours) = (info.base_root, main_head.root);
        let settled: code::Settled = session
            .sessions()
            .conflicts()
            .await?
            .into_iter()
            .filter_map(|c| Some((c.unit, (c.main_hash?, c.session_hash?))))
            .collect();
        let roots = Merge { base, ours, theirs };
        let mut plan = plan(store, &session, roots, options.strategy, &settled).await?;
        let mut report = report_of(name, &mut plan, &options);
        if options.dry_run {
            return Ok(report);
        }
        session.sessions().set_conflicts(report.conflicts.clone()).await?;
        if !report.complete() {
            return Ok(report);
        }
        let root = snapshot::apply(store, ours, &plan.edits).await?;
        let changes = snapshot::diff(store, ours, root).await?;
        let (files, bytes) = snapshot::counts_after(store, &main_head, &plan.edits).await?;
        let new = NewSnapshot {
            parent: main_head.id,
            root,
            source: "merge".into(),
            message: match message {
                Some(why) => format!("merge session {name}: {why}"),
                None => format!("merge session {name}: {} changes", changes.len()),
            },
            files,
            bytes,
            changes,
        };
        let committed = match store.history().commit(new).await {
            Ok(s) => s,
            // Main moved while we merged: again, against the new main.
            Err(Error::HeadMoved { .. }) => {
                tracing::info!(session = %name, tries, "main moved during the merge; merging again");
                continue;
            }
            Err(e) => return Err(e),
        };
        report.snapshot = Some(committed.id.0);
        report.closed = !options.keep;
        crate::notes::carry(&session, store).await?;
        after_merge(store, (name, &session), theirs, &committed, options.keep).await?;
        return Ok(report);
    }
}

/// What a merge planned says, before it is committed (the plan keeps its
/// edits).
fn report_of(name: &SessionName, plan: &mut Plan, options: &MergeOptions) -> MergeReport {
    let mut report = MergeReport {
        session: name.to_string(),
        taken: std::mem::take(&mut plan.taken),
        merged: std::mem::take(&mut plan.merged),
        rules: std::mem::take(&mut plan.rules),
        conflicts: std::mem::take(&mut plan.conflicts),
        dry_run: options.dry_run,
        ..MergeReport::default()
    };
    let warnings = std::mem::take(&mut plan.warnings);
    if options.strict {
        report.conflicts.extend(warnings.iter().map(dangling_conflict));
    } else {
        report.warnings = warnings;
    }
    report
}

/// The session after its merge into `committed`: kept, rebased on it
/// (`theirs` was its root as merged), or removed.
async fn after_merge(
    store: &Store,
    (name, session): (&SessionName, &Store),
    theirs: ContentHash,
    committed: &crate::store::Snapshot,
    keep: bool,
) -> Result<()> {
    if !keep {
        return store.sessions().remove_session(name).await;
    }
    rebase_kept(store, session, theirs, committed).await?;
    // The base moves only once the session's head is on the merged main: a
    // base ahead of its head would read, at the next merge, as the session
    // deleting all main gained meanwhile.
    store.sessions().rebase_session(name, committed.id, committed.root).await
}

/// The edits that bring the session's changes into main.
#[derive(Default)]
struct Plan {
    edits: BTreeMap<Vec<u8>, Option<Entry>>,
    taken: Vec<String>,
    merged: Vec<String>,
    rules: BTreeMap<String, Rule>,
    conflicts: Vec<ConflictRecord>,
    warnings: Vec<DanglingCall>,
    /// Paths already settled (by a rename), not to be planned again.
    done: BTreeSet<Vec<u8>>,
}

/// What a merge is planned from: the three roots, how conflicts settle,
/// and the conflicts the user settled already.
struct Planner<'a> {
    store: &'a Store,
    roots: Merge<ContentHash>,
    strategy: Strategy,
    settled: &'a code::Settled,
}

async fn plan(
    store: &Store,
    session: &Store,
    roots: Merge<ContentHash>,
    strategy: Strategy,
    settled: &code::Settled,
) -> Result<Plan> {
    let ch_theirs = snapshot::diff(store, roots.base, roots.theirs).await?;
    let ch_ours = snapshot::diff(store, roots.base, roots.ours).await?;
    let planner = Planner { store, roots, strategy, settled };
    let mut plan = Plan {
        warnings: planner.dangling(session, &ch_ours, &ch_theirs).await?,
        ..Plan::default()
    };
    planner.carry_renames(&ch_ours, &ch_theirs, &mut plan).await?;
    planner.carry_moved_units(&ch_ours, &ch_theirs, &mut plan).await?;
    let ours_changed = changed_paths(&ch_ours);
    for change in &ch_theirs {
        if plan.done.contains(&change.path) {
            continue;
        }
        planner.plan_path(&change.path, ours_changed.contains_key(&change.path), &mut plan).await?;
    }
    Ok(plan)
}

/// One side of a merge as the actor (renaming, moving), the other as the
/// side whose edits follow.
struct Sided<'c> {
    changes: &'c [crate::store::Change],
    other_changed: BTreeMap<Vec<u8>, ChangeOp>,
    root: ContentHash,
    other_root: ContentHash,
    /// The actor is main.
    ours: bool,
}

/// Main as the actor, then the session.
fn both_ways<'c>(
    roots: &Merge<ContentHash>,
    ch_ours: &'c [crate::store::Change],
    ch_theirs: &'c [crate::store::Change],
) -> [Sided<'c>; 2] {
    [
        Sided {
            changes: ch_ours,
            other_changed: changed_paths(ch_theirs),
            root: roots.ours,
            other_root: roots.theirs,
            ours: true,
        },
        Sided {
            changes: ch_theirs,
            other_changed: changed_paths(ch_ours),
            root: roots.theirs,
            other_root: roots.ours,
            ours: false,
        },
    ]
}

fn changed_paths(changes: &[crate::store::Change]) -> BTreeMap<Vec<u8>, ChangeOp> {
    changes.iter().map(|c| (c.path.clone(), c.op)).collect()
}

/// A file's content as the settled conflicts name it: its hash, `special`
/// for what is not a file, empty for nothing.
fn content_id(entry: Option<&Entry>) -> String {
    match entry.map(|e| &e.kind) {
        Some(EntryKind::File { content, .. }) => content.to_hex(),
        Some(_) => "special".into(),
        None => String::new(),
    }
}

/// A dangling call as the conflict `--strict` makes of it.
fn dangling_conflict(d: &DanglingCall) -> ConflictRecord {
    ConflictRecord {
        path: d.path.clone(),
        unit: d.caller.clone(),
        kind: ConflictKind::DanglingCall,
        sides: Merge { base: None, ours: None, theirs: None },
        main_hash: None,
        session_hash: Some(format!("calls {} (removed by {})", d.callee, d.removed_by.as_str())),
    }
}

impl Planner<'_> {
    /// Calls one side's changes make to functions or methods the other
    /// side removed, unless a unit of that name is still defined in
    /// either side's graph.
    async fn dangling(
        &self,
        session: &Store,
        ch_ours: &[crate::store::Change],
        ch_theirs: &[crate::store::Change],
    ) -> Result<Vec<DanglingCall>> {
        let mut texts: Vec<(String, Option<String>, Option<String>, Side)> = Vec::new();
        for (changes, root, side) in
            [(ch_ours, self.roots.ours, Side::Main), (ch_theirs, self.roots.theirs, Side::Session)]
        {
            for c in changes.iter().filter(|c| Language::of_path(&c.path).is_some()) {
                let (base, now) =
                    (self.entry(self.roots.base, &c.path).await?, self.entry(root, &c.path).await?);
                let base = text_at(self.store, base.as_ref()).await?;
                let now = text_at(self.store, now.as_ref()).await?;
                texts.push((text_path(&c.path), base, now, side));
            }
        }
        let of_side = |side: Side| -> Vec<Changed> {
            texts
                .iter()
                .filter(|t| t.3 == side)
                .map(|(path, base, now, _)| Changed {
                    path,
                    base: base.as_deref(),
                    side: now.as_deref(),
                })
                .collect()
        };
        let (main, theirs) = (of_side(Side::Main), of_side(Side::Session));
        let names: Vec<String> =
            removed(&main).into_keys().chain(removed(&theirs).into_keys()).collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut defined: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for view in [self.store, session] {
            for s in view.graph().symbols_named(&names).await? {
                defined.entry(s.name).or_default().insert(s.id);
            }
        }
        Ok(dangling_calls(&main, &theirs, |name, gone| {
            defined.get(name).is_some_and(|ids| ids.iter().any(|id| !gone.contains(id)))
        }))
    }

    async fn entry(&self, root: ContentHash, path: &[u8]) -> Result<Option<Entry>> {
        snapshot::entry_at(self.store, root, path).await
    }

    /// Renames (same content moved): a rename on one side carries the
    /// other side's edit of the old path to the new one.
    async fn carry_renames(
        &self,
        ch_ours: &[crate::store::Change],
        ch_theirs: &[crate::store::Change],
        plan: &mut Plan,
    ) -> Result<()> {
        let roots = &self.roots;
        let [ours_side, theirs_side] = both_ways(roots, ch_ours, ch_theirs);
        for side in [theirs_side, ours_side] {
            let Sided {
                changes: side_changes, root: renamer_root, other_root: edited_root, ..
            } = side;
            let other_changed = &side.other_changed;
            let of_op = |op| side_changes.iter().filter(move |c| c.op == op).map(|c| &c.path);
            let added: Vec<&Vec<u8>> = of_op(ChangeOp::Add).collect();
            for old in of_op(ChangeOp::Delete) {
                if other_changed.get(old) != Some(&ChangeOp::Modify) {
                    continue;
                }
                let Some(base_entry) = self.entry(roots.base, old).await? else { continue };
                for new in &added {
                    let Some(moved) = self.entry(renamer_root, new).await? else { continue };
                    if !moved.same_content(&base_entry) || other_changed.contains_key(*new) {
                        continue;
                    }
                    // old → new on one side, old edited on the other: the
                    // edit goes to new, old goes.
                    let edited = self.entry(edited_root, old).await?;
                    plan.edits.insert((*new).clone(), edited);
                    plan.edits.insert(old.clone(), None);
                    let shown = format!("{} -> {}", text_path(old), text_path(new));
                    plan.rules.insert(shown.clone(), Rule::Moved);
                    plan.merged.push(shown);
                    plan.done.insert(old.clone());
                    plan.done.insert((*new).clone());
                    break;
                }
            }
        }
        Ok(())
    }

    async fn text(&self, root: ContentHash, path: &[u8]) -> Result<Option<String>> {
        text_at(self.store, self.entry(root, path).await?.as_ref()).await
    }

    /// Units moved to another file on one side and edited on the other:
    /// the edit goes where the unit went (`merge::moves`).
    async fn carry_moved_units(
        &self,
        ch_ours: &[crate::store::Change],
        ch_theirs: &[crate::store::Change],
        plan: &mut Plan,
    ) -> Result<()> {
        let roots = &self.roots;
        for side in both_ways(roots, ch_ours, ch_theirs) {
            let Sided { changes: mover_changes, root: mover_root, other_root: editor_root, .. } =
                side;
            let (editor_changed, mover_is_ours) = (&side.other_changed, side.ours);
            let both = mover_changes.iter().filter(|c| {
                c.op == ChangeOp::Modify && editor_changed.get(&c.path) == Some(&ChangeOp::Modify)
            });
            for c in both {
                if plan.done.contains(&c.path) {
                    continue;
                }
                let Some(language) = Language::of_path(&c.path) else { continue };
                let texts = (
                    self.text(roots.base, &c.path).await?,
                    self.text(mover_root, &c.path).await?,
                    self.text(editor_root, &c.path).await?,
                );
                let (Some(base), Some(mover), Some(editor)) = texts else { continue };
                // The mover's other changed files the editor left alone.
                let mut elsewhere = Vec::new();
                for d in mover_changes {
                    let same_language = Language::of_path(&d.path) == Some(language);
                    if d.path == c.path
                        || d.op == ChangeOp::Delete
                        || editor_changed.contains_key(&d.path)
                        || !same_language
                    {
                        continue;
                    }
                    if let Some(t) = self.text(mover_root, &d.path).await? {
                        elsewhere.push((text_path(&d.path), t));
                    }
                }
                let path = text_path(&c.path);
                let three = Merge { base: base.as_str(), ours: &mover, theirs: &editor };
                let Some(followed) = follow_moves(&path, language, three, &elsewhere) else {
                    continue;
                };
                let (ours, theirs) = if mover_is_ours {
                    (mover.as_str(), followed.editor_text.as_str())
                } else {
                    (followed.editor_text.as_str(), mover.as_str())
                };
                let (Merged::Clean(text), _) = merge_file(&path, &base, ours, theirs, self.settled)
                else {
                    continue; // planned as any other file: its conflicts stand
                };
                let mut files = vec![(path, text)];
                files.extend(followed.destinations);
                for (p, text) in files {
                    let like = self.entry(mover_root, p.as_bytes()).await?;
                    let entry = with_content(self.store, like.as_ref(), &text).await?;
                    plan.edits.insert(p.as_bytes().to_vec(), Some(entry));
                    plan.done.insert(p.as_bytes().to_vec());
                    plan.rules.insert(p.clone(), Rule::Moved);
                    plan.merged.push(p);
                }
            }
        }
        Ok(())
    }

    /// Plans one path the session changed (`ours_changed`: main did too).
    async fn plan_path(&self, path: &[u8], ours_changed: bool, plan: &mut Plan) -> Result<()> {
        let roots = &self.roots;
        let theirs = self.entry(roots.theirs, path).await?;
        if !ours_changed {
            plan.edits.insert(path.to_vec(), theirs);
            plan.taken.push(text_path(path));
            return Ok(());
        }
        let entries = Merge {
            base: self.entry(roots.base, path).await?,
            ours: self.entry(roots.ours, path).await?,
            theirs,
        };
        match (&entries.ours, &entries.theirs) {
            (None, None) => Ok(()),
            (Some(x), Some(y)) if x.same_content(y) => Ok(()),
            _ => self.plan_both(path, entries, plan).await,
        }
    }

    /// Plans a path both sides changed, differently: merged where it
    /// merges, else as the strategy says, else a conflict.
    async fn plan_both(
        &self,
        path: &[u8],
        entries: Merge<Option<Entry>>,
        plan: &mut Plan,
    ) -> Result<()> {
        let shown = text_path(path);
        let hashes = (content_id(entries.ours.as_ref()), content_id(entries.theirs.as_ref()));
        // The user settled the whole file's conflict before, for this
        // version of main's side.
        let file_settled =
            self.settled.get(&shown).is_some_and(|(m, s)| *m == hashes.0 && *s != hashes.1);
        let texts = Merge {
            base: text_at(self.store, entries.base.as_ref()).await?,
            ours: text_at(self.store, entries.ours.as_ref()).await?,
            theirs: text_at(self.store, entries.theirs.as_ref()).await?,
        };
        // The whole file as one conflict, of `kind`.
        let whole = |kind: ConflictKind, sides: Merge<Option<String>>| ConflictRecord {
            path: shown.clone(),
            unit: shown.clone(),
            kind,
            sides,
            main_hash: Some(hashes.0.clone()),
            session_hash: Some(hashes.1.clone()),
        };
        let based = entries.base.is_some();
        let take_theirs = |plan: &mut Plan| {
            plan.edits.insert(path.to_vec(), entries.theirs.clone());
        };
        if based && (entries.ours.is_none() || entries.theirs.is_none()) {
            match self.strategy {
                Strategy::Ours => {}
                Strategy::Theirs => take_theirs(plan),
                Strategy::Auto if file_settled => take_theirs(plan),
                Strategy::Auto => plan.conflicts.push(whole(ConflictKind::DeleteModify, texts)),
            }
            return Ok(());
        }
        let merged = match (&texts.base, &texts.ours, &texts.theirs) {
            (Some(bt), Some(ot), Some(tt)) => Some(merge_file(&shown, bt, ot, tt, self.settled)),
            (None, Some(ot), Some(tt)) if !based => {
                Some(merge_file(&shown, "", ot, tt, self.settled))
            }
            _ => None,
        };
        match (merged, self.strategy) {
            (Some((Merged::Clean(text), rule)), _) => {
                let like = entries.ours.as_ref().or(entries.theirs.as_ref());
                let entry = with_content(self.store, like, &text).await?;
                plan.edits.insert(path.to_vec(), Some(entry));
                plan.rules.insert(shown.clone(), rule);
                plan.merged.push(shown);
            }
            (_, Strategy::Ours) => {}
            (_, Strategy::Theirs) => take_theirs(plan),
            // Of content as the merge saw it; add/add where the file has
            // no base.
            (Some((Merged::Conflicts { conflicts, .. }, _)), Strategy::Auto) => {
                let kind = if based { ConflictKind::Content } else { ConflictKind::AddAdd };
                plan.conflicts.extend(conflicts.into_iter().map(|c| ConflictRecord { kind, ..c }))
            }
            (None, Strategy::Auto) if file_settled => take_theirs(plan),
            (None, Strategy::Auto) => plan.conflicts.push(whole(ConflictKind::Binary, texts)),
        }
        Ok(())
    }
}

/// `like` with its content replaced by `text` (stored first).
async fn with_content(store: &Store, like: Option<&Entry>, text: &str) -> Result<Entry> {
    let hash = ContentHash::of(text.as_bytes());
    store.objects().put_content(hash, text.as_bytes()).await?;
    let mut entry =
        like.cloned().ok_or_else(|| Error::Internal("merged a file with no side".into()))?;
    entry.kind = EntryKind::File { content: hash, size: text.len() as u64 };
    Ok(entry)
}
