//! `cortex fsck`: reads a store back whole and says what is damaged, and
//! recovers the newest intact snapshot into a new store.
//!
//! Every snapshot of main and of each session is walked: each tree must
//! load and match its hash, each file's content must be there and match its
//! hash (objects shared between snapshots are read once). The code graph
//! and the search rows must describe a snapshot that exists. A snapshot is
//! intact when everything it names is; the newest intact one of main is
//! what `recover` copies into a fresh store.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::ids::ContentHash;
use crate::store::{NewSnapshot, Snapshot, Store, View};
use crate::tree::EntryKind;

/// What a check found.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Report {
    /// Each snapshot checked, newest first per view.
    pub snapshots: Vec<SnapshotCheck>,
    /// Distinct trees and file contents read, and the contents' bytes.
    pub trees: u64,
    pub contents: u64,
    pub bytes: u64,
    /// Damage that is not one snapshot's (the graph, the search rows).
    pub problems: Vec<String>,
}

/// One snapshot's verdict.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotCheck {
    /// `main` or the session's name.
    pub view: String,
    pub id: u64,
    pub root: String,
    /// The first damage found below its root, if any.
    pub damage: Option<String>,
}

impl Report {
    /// Nothing damaged anywhere.
    pub fn clean(&self) -> bool {
        self.problems.is_empty() && self.snapshots.iter().all(|s| s.damage.is_none())
    }

    /// The newest snapshot of main with nothing damaged below it.
    pub fn newest_intact(&self) -> Option<&SnapshotCheck> {
        self.snapshots.iter().find(|s| s.view == "main" && s.damage.is_none())
    }
}

/// Objects already read, and what reading them gave.
#[derive(Default)]
struct Seen {
    trees: HashMap<ContentHash, Option<String>>,
    contents: HashMap<ContentHash, Option<String>>,
}

/// Checks every snapshot of every view of `store` (main's handle).
pub async fn check(store: &Store) -> Result<Report> {
    let mut report = Report::default();
    let mut seen = Seen::default();
    let mut views = vec![(View::Main, store.with_main().await?)];
    for info in store.sessions().list().await? {
        let view = View::Session(info.name.clone());
        views.push((view, store.sessions().session(&info.name).await?));
    }
    for (view, handle) in &views {
        for snapshot in handle.history().log(usize::MAX).await? {
            let damage = check_tree(store, snapshot.root, &mut seen, &mut report).await?;
            report.snapshots.push(SnapshotCheck {
                view: view.name().to_owned(),
                id: snapshot.id.0,
                root: snapshot.root.to_hex(),
                damage,
            });
        }
    }
    derived(store, &report.snapshots.clone(), &mut report).await?;
    Ok(report)
}

/// The first damage below `root`, reading each object once.
async fn check_tree(
    store: &Store,
    root: ContentHash,
    seen: &mut Seen,
    report: &mut Report,
) -> Result<Option<String>> {
    let mut first: Option<String> = None;
    let mut stack = vec![root];
    while let Some(hash) = stack.pop() {
        if let Some(verdict) = seen.trees.get(&hash) {
            if first.is_none() {
                first.clone_from(verdict);
            }
            // Its subtrees were walked when it was first seen.
            continue;
        }
        let tree = match store.objects().load_trees(&[hash]).await {
            Ok(mut loaded) => loaded.remove(&hash).expect("load_trees gives what it was asked"),
            Err(e) => {
                let why = e.to_string();
                seen.trees.insert(hash, Some(why.clone()));
                first.get_or_insert(why);
                continue;
            }
        };
        report.trees += 1;
        let mut unread = Vec::new();
        let mut below: Option<String> = None;
        for entry in tree.entries() {
            match &entry.kind {
                EntryKind::Dir { tree } => stack.push(*tree),
                EntryKind::File { content, .. } => match seen.contents.get(content) {
                    Some(verdict) => {
                        if below.is_none() {
                            below.clone_from(verdict);
                        }
                    }
                    None => unread.push(*content),
                },
                EntryKind::Symlink { .. } | EntryKind::Special { .. } => {}
            }
        }
        unread.sort();
        unread.dedup();
        for batch in unread.chunks(32) {
            for (hash, verdict) in read_contents(store, batch, report).await {
                if below.is_none() {
                    below.clone_from(&verdict);
                }
                seen.contents.insert(hash, verdict);
            }
        }
        seen.trees.insert(hash, below.clone());
        if first.is_none() {
            first = below;
        }
    }
    Ok(first)
}

/// Reads contents in one batch; on failure, one at a time to say which.
async fn read_contents(
    store: &Store,
    batch: &[ContentHash],
    report: &mut Report,
) -> Vec<(ContentHash, Option<String>)> {
    if let Ok(found) = store.objects().read_blobs(batch).await {
        report.contents += found.len() as u64;
        report.bytes += found.values().map(|d| d.len() as u64).sum::<u64>();
        return batch.iter().map(|h| (*h, None)).collect();
    }
    let mut out = Vec::with_capacity(batch.len());
    for hash in batch {
        match store.objects().read_blob(*hash).await {
            Ok(data) => {
                report.contents += 1;
                report.bytes += data.len() as u64;
                out.push((*hash, None));
            }
            Err(e) => out.push((*hash, Some(e.to_string()))),
        }
    }
    out
}

/// The graph and the search rows must describe one of main's snapshots,
/// and the graph's files must be files of it.
async fn derived(store: &Store, snapshots: &[SnapshotCheck], report: &mut Report) -> Result<()> {
    let roots: Vec<&str> =
        snapshots.iter().filter(|s| s.view == "main").map(|s| s.root.as_str()).collect();
    if let Some(root) = store.graph().graph_root().await? {
        if !roots.contains(&root.to_hex().as_str()) {
            report
                .problems
                .push(format!("the code graph describes {root}, which no snapshot of main has"));
        } else {
            for path in store.graph().code_paths_of(root).await?.iter() {
                match crate::snapshot::resolve(store, root, path.as_bytes()).await {
                    Ok(crate::snapshot::Resolved::Entry(e)) if matches!(e.kind, EntryKind::File { .. }) => {}
                    _ => report.problems.push(format!(
                        "the code graph has {path}, which is not a file of the snapshot it describes"
                    )),
                }
            }
        }
    }
    if let Some(root) = store.search().search_root(crate::search::window()).await?
        && !roots.contains(&root.to_hex().as_str())
    {
        report
            .problems
            .push(format!("the search rows describe {root}, which no snapshot of main has"));
    }
    Ok(())
}

/// Copies snapshot `from_snapshot` of `from` (every tree and content below
/// its root) into `into`, a fresh store, as its next snapshot.
pub async fn recover(from: &Store, from_snapshot: &Snapshot, into: &Store) -> Result<Snapshot> {
    let root = from_snapshot.root;
    let mut trees = Vec::new();
    let mut stack = vec![root];
    let mut done = std::collections::HashSet::new();
    while let Some(hash) = stack.pop() {
        if !done.insert(hash) {
            continue;
        }
        let tree = from.objects().load_tree(hash).await?;
        let mut contents = Vec::new();
        for entry in tree.entries() {
            match &entry.kind {
                EntryKind::Dir { tree } => stack.push(*tree),
                EntryKind::File { content, .. } if done.insert(*content) => contents.push(*content),
                _ => {}
            }
        }
        for content in contents {
            let data = from.objects().read_blob(content).await?;
            into.objects().put_content(content, &data).await?;
        }
        trees.push((hash, tree.encode()));
        if trees.len() >= 512 {
            into.objects().put_trees(std::mem::take(&mut trees)).await?;
        }
    }
    into.objects().put_trees(trees).await?;
    let head = into.history().head().await?;
    let changes = crate::snapshot::diff(into, head.root, root).await?;
    if changes.is_empty() {
        return Err(Error::InvalidInput("the snapshot to recover is empty".into()));
    }
    into.history()
        .commit(NewSnapshot {
            parent: head.id,
            root,
            source: "fsck".into(),
            message: format!("recovered snapshot {} by cortex fsck", from_snapshot.id),
            files: from_snapshot.files,
            bytes: from_snapshot.bytes,
            changes,
        })
        .await
}
