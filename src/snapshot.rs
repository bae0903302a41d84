//! Reading a snapshot: resolving paths, listing, walking, and comparing two.
//!
//! A snapshot is a root tree hash; everything here loads tree objects from
//! the store on demand. Comparing two snapshots descends only into
//! subdirectories whose hashes differ, so its cost grows with what changed,
//! not with the size of the tree.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::ids::ContentHash;
use crate::store::{Change, ChangeOp, Snapshot, Store};
use crate::tree::{Entry, EntryKind, Tree};

/// Splits a tree path (`a/b/c`, leading and trailing slashes and `.` allowed)
/// into components. `..` is refused: paths never leave the tree.
pub fn split_path(path: &[u8]) -> Result<Vec<&[u8]>> {
    let mut parts = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => continue,
            b".." => {
                return Err(Error::InvalidInput(format!(
                    "path {:?} leaves the tree",
                    String::from_utf8_lossy(path)
                )));
            }
            _ => parts.push(part),
        }
    }
    Ok(parts)
}

/// Joins a directory path and a name with `/`.
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut out = Vec::with_capacity(dir.len() + 1 + name.len());
    out.extend_from_slice(dir);
    out.push(b'/');
    out.extend_from_slice(name);
    out
}

/// What a path resolves to: the root directory, or an entry in a directory.
#[derive(Clone, Debug)]
pub enum Resolved {
    Root(Tree),
    Entry(Entry),
}

/// Resolves `path` in the snapshot whose root tree is `root`. Symlinks are
/// not followed: a symlink is an entry like any other.
pub async fn resolve(store: &Store, root: ContentHash, path: &[u8]) -> Result<Resolved> {
    let parts = split_path(path)?;
    let mut tree = store.objects().load_tree(root).await?;
    let Some((last, dirs)) = parts.split_last() else {
        return Ok(Resolved::Root(tree));
    };
    let shown = || String::from_utf8_lossy(path).into_owned();
    for part in dirs {
        let entry = tree.get(part).ok_or_else(|| Error::NotFound(shown()))?;
        let EntryKind::Dir { tree: sub } = entry.kind else {
            return Err(Error::NotFound(shown()));
        };
        tree = store.objects().load_tree(sub).await?;
    }
    tree.get(last).cloned().map(Resolved::Entry).ok_or_else(|| Error::NotFound(shown()))
}

/// What `ls PATH` shows: a directory's entries (with their paths), or the
/// one entry PATH names.
pub async fn list(store: &Store, root: ContentHash, path: &[u8]) -> Result<Vec<(Vec<u8>, Entry)>> {
    let base: Vec<u8> = split_path(path)?.join(&b'/');
    Ok(match resolve(store, root, path).await? {
        Resolved::Root(tree) => {
            tree.into_entries().into_iter().map(|e| (e.name.clone(), e)).collect()
        }
        Resolved::Entry(entry) => match entry.kind {
            EntryKind::Dir { tree } => store
                .objects()
                .load_tree(tree)
                .await?
                .into_entries()
                .into_iter()
                .map(|e| (join(&base, &e.name), e))
                .collect(),
            _ => vec![(base, entry)],
        },
    })
}

/// A file's bytes. Directories and symlinks are refused with a reason.
pub async fn read_file(store: &Store, root: ContentHash, path: &[u8]) -> Result<Vec<u8>> {
    let shown = String::from_utf8_lossy(path).into_owned();
    match resolve(store, root, path).await? {
        Resolved::Entry(Entry { kind: EntryKind::File { content, .. }, .. }) => {
            store.objects().read_blob(content).await
        }
        Resolved::Entry(Entry { kind: EntryKind::Symlink { target }, .. }) => {
            Err(Error::WrongKind(format!(
                "{shown}: is a symlink to {}; cat its target instead",
                String::from_utf8_lossy(&target)
            )))
        }
        _ => Err(Error::WrongKind(format!("{shown}: is a directory"))),
    }
}

/// Every entry of a snapshot, depth first in name order, with its path.
/// Loads each level's subtrees in one batch.
pub async fn walk(store: &Store, root: ContentHash) -> Result<Vec<(Vec<u8>, Entry)>> {
    let mut out = Vec::new();
    let mut by_path: BTreeMap<Vec<u8>, Entry> = BTreeMap::new();
    let mut level: Vec<(Vec<u8>, ContentHash)> = vec![(Vec::new(), root)];
    while !level.is_empty() {
        let hashes: Vec<ContentHash> = level.iter().map(|(_, h)| *h).collect();
        let trees = store.objects().load_trees(&hashes).await?;
        let mut next = Vec::new();
        for (dir, hash) in &level {
            for entry in trees[hash].entries() {
                let path = join(dir, &entry.name);
                if let EntryKind::Dir { tree } = entry.kind {
                    next.push((path.clone(), tree));
                }
                by_path.insert(path, entry.clone());
            }
        }
        level = next;
    }
    out.extend(by_path);
    Ok(out)
}

/// The content changes from snapshot `old` to `new`: files and symlinks
/// added, modified (content, target, kind or permission bits) or deleted.
/// A directory's own appearance or removal is implied by its contents;
/// empty directories are reported as entries too.
pub async fn diff(store: &Store, old: ContentHash, new: ContentHash) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    let mut stack: Vec<(Vec<u8>, Option<ContentHash>, Option<ContentHash>)> =
        vec![(Vec::new(), Some(old), Some(new))];
    while let Some((dir, a, b)) = stack.pop() {
        if a == b {
            continue;
        }
        // Both sides in one read.
        let wanted: Vec<ContentHash> = a.into_iter().chain(b).collect();
        let mut loaded = store.objects().load_trees(&wanted).await?;
        let mut side =
            |h: Option<ContentHash>| h.and_then(|h| loaded.remove(&h)).unwrap_or_default();
        let (a_tree, b_tree) = (side(a), side(b));
        for (name, (x, y)) in pair_entries(&a_tree, &b_tree) {
            let path = join(&dir, name);
            let sub = |e: Option<&Entry>| match e.map(|e| &e.kind) {
                Some(EntryKind::Dir { tree }) => Some(*tree),
                _ => None,
            };
            let (x_dir, y_dir) = (sub(x), sub(y));
            // Non-directory side of the pair, compared by content.
            let x_leaf = x.filter(|e| !e.is_dir());
            let y_leaf = y.filter(|e| !e.is_dir());
            match (x_leaf, y_leaf) {
                (Some(p), Some(q)) if !p.same_content(q) => {
                    changes.push(Change { op: ChangeOp::Modify, path: path.clone() })
                }
                (Some(_), None) => {
                    changes.push(Change { op: ChangeOp::Delete, path: path.clone() })
                }
                (None, Some(_)) => changes.push(Change { op: ChangeOp::Add, path: path.clone() }),
                _ => {}
            }
            // An empty directory appearing or vanishing is a change of its own.
            let empty = Tree::default().hash();
            if x_dir.is_none() && y_dir == Some(empty) {
                changes.push(Change { op: ChangeOp::Add, path: path.clone() });
            } else if y_dir.is_none() && x_dir == Some(empty) {
                changes.push(Change { op: ChangeOp::Delete, path: path.clone() });
            }
            if x_dir.is_some() || y_dir.is_some() {
                stack.push((path, x_dir, y_dir));
            }
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(changes)
}

/// Pairs the entries of two trees by name.
fn pair_entries<'a>(
    a: &'a Tree,
    b: &'a Tree,
) -> BTreeMap<&'a [u8], (Option<&'a Entry>, Option<&'a Entry>)> {
    let mut pairs: BTreeMap<&[u8], (Option<&Entry>, Option<&Entry>)> = BTreeMap::new();
    for e in a.entries() {
        pairs.entry(&e.name).or_default().0 = Some(e);
    }
    for e in b.entries() {
        pairs.entry(&e.name).or_default().1 = Some(e);
    }
    pairs
}

/// Applies `edits` (a path to its new entry, or to `None` to remove it) to
/// the snapshot `root`, writing only the directories on the edited paths:
/// the cost follows the edits, not the tree. A directory left empty by
/// removals goes too; directories on the way to a new entry are made.
/// Returns the new root.
pub async fn apply(
    store: &Store,
    root: ContentHash,
    edits: &BTreeMap<Vec<u8>, Option<Entry>>,
) -> Result<ContentHash> {
    let mut trees = Vec::new();
    let new = apply_dir(store, Some(root), edits, &[], &mut trees).await?;
    store.objects().put_trees(trees).await?;
    Ok(new.unwrap_or_else(|| Tree::default().hash()))
}

/// Whether every edit below `start` (a directory's path and a slash)
/// removes.
fn only_removals(edits: &BTreeMap<Vec<u8>, Option<Entry>>, start: &[u8]) -> bool {
    edits
        .range(start.to_vec()..)
        .take_while(|(p, _)| p.starts_with(start))
        .all(|(_, e)| e.is_none())
}

/// Makes the edits of a directory's own entries (paths `start` + a name)
/// in `entries`; answers the names of entries with edits below them.
fn edit_entries(
    edits: &BTreeMap<Vec<u8>, Option<Entry>>,
    start: &[u8],
    entries: &mut BTreeMap<Vec<u8>, Entry>,
) -> std::collections::BTreeSet<Vec<u8>> {
    let mut below = std::collections::BTreeSet::new();
    for (path, edit) in edits.range(start.to_vec()..) {
        let Some(rest) = path.strip_prefix(start) else { break };
        match (rest.iter().position(|&b| b == b'/'), edit) {
            (None, Some(e)) => {
                let mut e = e.clone();
                e.name = rest.to_vec();
                entries.insert(rest.to_vec(), e);
            }
            (None, None) => {
                entries.remove(rest);
            }
            (Some(i), _) => {
                below.insert(rest[..i].to_vec());
            }
        }
    }
    below
}

/// `apply` below directory `dir` (path `prefix`): its new hash, or None when
/// removals left it empty (then it goes).
fn apply_dir<'a>(
    store: &'a Store,
    dir: Option<ContentHash>,
    edits: &'a BTreeMap<Vec<u8>, Option<Entry>>,
    prefix: &'a [u8],
    trees: &'a mut Vec<(ContentHash, Vec<u8>)>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Option<ContentHash>>> + Send + 'a>> {
    Box::pin(async move {
        let start = if prefix.is_empty() { Vec::new() } else { join(prefix, b"") };
        // Removals below a directory the tree does not have: nothing to do
        // (no directory is made for them).
        if dir.is_none() && !prefix.is_empty() && only_removals(edits, &start) {
            return Ok(None);
        }
        let tree = match dir {
            Some(h) => store.objects().load_tree(h).await?,
            None => Tree::default(),
        };
        let was_empty = tree.entries().is_empty();
        let mut entries: BTreeMap<Vec<u8>, Entry> =
            tree.into_entries().into_iter().map(|e| (e.name.clone(), e)).collect();
        // Edits of this directory's entries made; those deeper, by the
        // entry they are below.
        let below = edit_entries(edits, &start, &mut entries);
        let mut removed_any = edits
            .range(start.clone()..)
            .take_while(|(p, _)| p.starts_with(&start))
            .any(|(_, e)| e.is_none());
        for name in &below {
            let sub = match entries.get(name).map(|e| &e.kind) {
                Some(EntryKind::Dir { tree }) => Some(*tree),
                Some(_) => {
                    return Err(Error::WrongKind(format!(
                        "{} is not a directory",
                        String::from_utf8_lossy(&join(prefix, name))
                    )));
                }
                None => None,
            };
            let path = join(prefix, name);
            match apply_dir(store, sub, edits, &path, trees).await? {
                Some(hash) => {
                    let entry = entries.entry(name.clone()).or_insert_with(|| Entry {
                        name: name.clone(),
                        kind: EntryKind::Dir { tree: hash },
                        mode: 0o755,
                        mtime: crate::tree::Timestamp::now(),
                        owner: None,
                        xattrs: Vec::new(),
                    });
                    entry.kind = EntryKind::Dir { tree: hash };
                }
                None => {
                    entries.remove(name);
                    removed_any = true;
                }
            }
        }
        if entries.is_empty() && removed_any && !was_empty && !prefix.is_empty() {
            return Ok(None);
        }
        let tree = Tree::new(entries.into_values().collect())?;
        let hash = tree.hash();
        trees.push((hash, tree.encode()));
        Ok(Some(hash))
    })
}

/// The entry at `path` of the snapshot `root`, if there is one.
pub async fn entry_at(store: &Store, root: ContentHash, path: &[u8]) -> Result<Option<Entry>> {
    match resolve(store, root, path).await {
        Ok(Resolved::Entry(e)) => Ok(Some(e)),
        Ok(Resolved::Root(_)) | Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Main's count of files and bytes once `edits` are made to `head`.
pub async fn counts_after(
    store: &Store,
    head: &Snapshot,
    edits: &BTreeMap<Vec<u8>, Option<Entry>>,
) -> Result<(u64, u64)> {
    let (mut files, mut bytes) = (head.files as i64, head.bytes as i64);
    for (path, new) in edits {
        let old = entry_at(store, head.root, path).await?;
        for (e, sign) in [(old.as_ref(), -1i64), (new.as_ref(), 1)] {
            match e.map(|e| &e.kind) {
                Some(EntryKind::File { size, .. }) => {
                    files += sign;
                    bytes += sign * *size as i64;
                }
                Some(EntryKind::Dir { .. }) | None => {}
                Some(_) => files += sign,
            }
        }
    }
    Ok((files.max(0) as u64, bytes.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_paths() {
        assert_eq!(split_path(b"/a//b/./c/").unwrap(), vec![&b"a"[..], b"b", b"c"]);
        assert!(split_path(b"").unwrap().is_empty());
        assert!(split_path(b"a/../b").is_err());
    }
}
