//! Catching a view up with main after main moved under it (a merge, an
//! import), keeping the view's unflushed writes over the new head.

use std::collections::BTreeMap;

use super::*;
use crate::ids::InodeNo;
use crate::snapshot;
use crate::store::{ChangeOp, Snapshot};
use crate::tree::Entry;

impl Vfs {
    /// Catches up with main after it moved under the view (an import, later
    /// a merge): the view becomes the new head, keeping the inode numbers of
    /// paths that still exist, contents already read, and contents written
    /// through the mount and not yet flushed. Returns what the kernel must
    /// forget from its caches.
    pub async fn refresh(&self) -> VfsResult<Vec<Invalidation>> {
        let _one_at_a_time = self.flushing.lock().await;
        let mut out = std::mem::take(&mut *self.stashed.lock().unwrap_or_else(|p| p.into_inner()));
        out.extend(self.refresh_held().await?);
        out.sort_by_key(|i| format!("{i:?}"));
        out.dedup();
        Ok(out)
    }

    /// `refresh`, the flush lock held by the caller.
    pub(super) async fn refresh_held(&self) -> VfsResult<Vec<Invalidation>> {
        let new_head = self.store.history().head().await?;
        let old_head = self.lock().head.clone();
        if new_head.id == old_head.id {
            return Ok(Vec::new());
        }
        // What this view changed and no flush committed yet is carried over:
        // applied over the new head (a path both changed takes this view's
        // version, as a later write would), and flushed next time.
        let edits = self.unflushed_edits(&old_head).await?;
        let root = if edits.is_empty() {
            new_head.root
        } else {
            snapshot::apply(&self.store, new_head.root, &edits).await?
        };
        let entries = snapshot::walk(&self.store, root).await?;
        let changes = snapshot::diff(&self.store, old_head.root, new_head.root).await?;
        let mut state = self.lock();
        let old_paths = state.paths();
        let mut rebuilt =
            State::build(new_head, root, entries, Some(&state), self.config.content_cache);
        rebuilt.changed |= !edits.is_empty();
        let new_paths = rebuilt.paths();
        let mut out = Vec::new();
        for change in &changes {
            // Every name on the way may have appeared or gone.
            let mut parent = Vec::new();
            for part in change.path.split(|&b| b == b'/') {
                for paths in [&old_paths, &new_paths] {
                    if let Some(&dir) = paths.get(&parent) {
                        out.push(Invalidation::Entry { parent: dir, name: part.to_vec() });
                        // Its cached listing too.
                        out.push(Invalidation::Inode(dir));
                    }
                }
                parent = snapshot::join(&parent, part);
            }
            if let Some(&ino) = old_paths.get(&change.path) {
                out.push(Invalidation::Inode(ino));
            }
        }
        out.sort_by_key(|i| format!("{i:?}"));
        out.dedup();
        *state = rebuilt;
        Ok(out)
    }

    /// This view's changes since `head` that no flush committed, as edits
    /// for `snapshot::apply` (a path to its entry now, or to `None`). Their
    /// contents and trees are written to the store (objects no commit names
    /// are harmless). Only what `snapshot::diff` sees is carried: contents,
    /// kinds and modes of files, links and empty directories.
    pub(super) async fn unflushed_edits(
        &self,
        head: &Snapshot,
    ) -> VfsResult<BTreeMap<Vec<u8>, Option<Entry>>> {
        self.prepare_large().await?;
        let (contents, trees, root) = {
            let mut state = self.lock();
            if !state.changed {
                return Ok(BTreeMap::new());
            }
            let (mut contents, mut trees) = (Vec::new(), Vec::new());
            let root = state.build_tree(InodeNo::ROOT, &mut contents, &mut trees)?;
            (contents, trees, root.tree)
        };
        self.write_objects(contents, trees).await?;
        let mut edits = BTreeMap::new();
        for change in snapshot::diff(&self.store, head.root, root).await? {
            let entry = match change.op {
                ChangeOp::Delete => None,
                _ => match snapshot::resolve(&self.store, root, &change.path).await? {
                    snapshot::Resolved::Entry(e) => Some(e),
                    snapshot::Resolved::Root(_) => continue,
                },
            };
            edits.insert(change.path, entry);
        }
        Ok(edits)
    }
}
