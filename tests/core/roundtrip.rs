//! Import then export gives back the same tree, exactly.

use std::sync::Arc;

use cortex::export::{ExportOptions, export};
use cortex::import::{ImportOptions, NoProgress, import};
use cortex::snapshot::{self, Resolved};
use cortex::tree::EntryKind;
use proptest::prelude::*;

use crate::common::{self, Node, awkward_tree, picture, write};

#[tokio::test]
async fn awkward_tree_round_trips_exactly() {
    let store = common::store().await;
    let src = tempfile::tempdir().unwrap();
    awkward_tree(src.path());
    let report = common::import(&store, src.path()).await;
    assert_eq!(report.symlinks, 3);
    assert!(report.snapshot.is_some());

    let out = tempfile::tempdir().unwrap();
    let head = store.history().head().await.unwrap();
    export(&store, head.root, out.path(), ExportOptions::default()).await.unwrap();
    assert_eq!(picture(out.path()), picture(src.path()));
}

#[tokio::test]
async fn cat_and_ls_resolve_paths() {
    let store = common::store().await;
    let src = tempfile::tempdir().unwrap();
    awkward_tree(src.path());
    common::import(&store, src.path()).await;
    let head = store.history().head().await.unwrap();

    let Resolved::Entry(entry) = snapshot::resolve(&store, head.root, b"src/lib.rs").await.unwrap()
    else {
        panic!("a file resolves to an entry")
    };
    let EntryKind::File { content, size } = entry.kind else { panic!("src/lib.rs is a file") };
    let data = store.objects().read_blob(content).await.unwrap();
    assert_eq!(data, std::fs::read(src.path().join("src/lib.rs")).unwrap());
    assert_eq!(size, data.len() as u64);

    let Resolved::Entry(big) =
        snapshot::resolve(&store, head.root, b"/big/./large.dat").await.unwrap()
    else {
        panic!()
    };
    let EntryKind::File { content, .. } = big.kind else { panic!() };
    assert_eq!(
        store.objects().read_blob(content).await.unwrap(),
        std::fs::read(src.path().join("big/large.dat")).unwrap()
    );

    assert!(matches!(
        snapshot::resolve(&store, head.root, b"src/nope.rs").await,
        Err(cortex::Error::NotFound(_))
    ));
    assert!(matches!(
        snapshot::resolve(&store, head.root, b"src/lib.rs/x").await,
        Err(cortex::Error::NotFound(_))
    ));
    assert!(snapshot::resolve(&store, head.root, b"../etc/passwd").await.is_err());
}

#[tokio::test]
async fn ignore_rules_git_and_store_directories() {
    let store = common::store().await;
    let src = tempfile::tempdir().unwrap();
    let root = src.path();
    write(root, ".gitignore", b"target/\n*.log\n");
    write(root, "sub/.ignore", b"secret.txt\n");
    write(root, "keep.rs", b"fn keep() {}\n");
    write(root, "debug.log", b"noise\n");
    write(root, "target/debug/out", b"artifact\n");
    write(root, "sub/secret.txt", b"hidden\n");
    write(root, "sub/visible.txt", b"shown\n");
    write(root, ".hidden-but-kept", b"dotfiles are not ignored\n");
    write(root, ".git/HEAD", b"ref: refs/heads/main\n");
    write(root, ".cortex/store/junk", b"never imported\n");
    common::import(&store, root).await;

    let head = store.history().head().await.unwrap();
    let paths: Vec<String> = snapshot::walk(&store, head.root)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, e)| !e.is_dir())
        .map(|(p, _)| String::from_utf8(p).unwrap())
        .collect();
    assert_eq!(
        paths,
        [".gitignore", ".hidden-but-kept", "keep.rs", "sub/.ignore", "sub/visible.txt"]
    );

    // --include-git and --no-ignore bring the rest, but never .cortex/.
    let options = ImportOptions { include_git: true, no_ignore: true, source: "import".into() };
    import(&store, root, &options, Arc::new(NoProgress)).await.unwrap();
    let head = store.history().head().await.unwrap();
    let all: Vec<String> = snapshot::walk(&store, head.root)
        .await
        .unwrap()
        .into_iter()
        .map(|(p, _)| String::from_utf8(p).unwrap())
        .collect();
    for expected in [".git/HEAD", "debug.log", "target/debug/out", "sub/secret.txt"] {
        assert!(all.iter().any(|p| p == expected), "{expected} in {all:?}");
    }
    assert!(!all.iter().any(|p| p.starts_with(".cortex")), "{all:?}");
}

#[tokio::test]
async fn export_refuses_a_non_empty_directory_and_never_follows_symlinks() {
    let store = common::store().await;
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a/file.txt", b"inside\n");
    common::import(&store, src.path()).await;
    let head = store.history().head().await.unwrap();

    let out = tempfile::tempdir().unwrap();
    write(out.path(), "existing", b"x");
    let err = export(&store, head.root, out.path(), ExportOptions::default()).await.unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(std::fs::read(out.path().join("existing")).unwrap(), b"x");

    // A symlink named like a directory of the tree, pointing elsewhere: with
    // --force the export refuses rather than writing through it.
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), out.path().join("a")).unwrap();
    let err =
        export(&store, head.root, out.path(), ExportOptions { force: true }).await.unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);

    // A symlink where a file goes is replaced, not written through.
    std::fs::remove_file(out.path().join("a")).unwrap();
    std::fs::create_dir(out.path().join("a")).unwrap();
    let victim = elsewhere.path().join("victim");
    std::fs::write(&victim, b"untouched").unwrap();
    std::os::unix::fs::symlink(&victim, out.path().join("a/file.txt")).unwrap();
    export(&store, head.root, out.path(), ExportOptions { force: true }).await.unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
    assert_eq!(std::fs::read(out.path().join("a/file.txt")).unwrap(), b"inside\n");
}

/// One generated entry: a path of 1 to 4 components and what to put there.
#[derive(Clone, Debug)]
enum Gen {
    File(Vec<u8>, u32),
    Symlink(Vec<u8>),
    Dir,
}

fn component() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-z]{1,8}".prop_map(String::into_bytes),
        "[a-zA-Z0-9 ._-]{1,12}".prop_map(String::into_bytes),
        "[\u{00e0}-\u{00ff}\u{2600}-\u{2610}a-z ]{1,6}".prop_map(String::into_bytes),
        prop::collection::vec(1u8..=255, 1..10),
    ]
    .prop_filter("a valid file name", |n| {
        n.as_slice() != b"." && n.as_slice() != b".." && !n.contains(&b'/')
            // Keep ignore files out: they would change what is imported.
            && !n.starts_with(b".git") && !n.starts_with(b".ignore") && n.as_slice() != b".cortex"
    })
}

fn entry_kind() -> impl Strategy<Value = Gen> {
    prop_oneof![
        4 => (prop::collection::vec(any::<u8>(), 0..300), prop::sample::select(vec![0o644u32, 0o755, 0o600, 0o444]))
            .prop_map(|(d, m)| Gen::File(d, m)),
        1 => prop::collection::vec(1u8..=255, 1..20).prop_map(Gen::Symlink),
        1 => Just(Gen::Dir),
    ]
}

fn materialise(root: &std::path::Path, entries: &[(Vec<Vec<u8>>, Gen)]) {
    for (parts, what) in entries {
        let mut path = root.to_path_buf();
        for p in &parts[..parts.len() - 1] {
            path.push(common::raw(p));
            if path.symlink_metadata().map(|m| !m.is_dir()).unwrap_or(false) {
                return; // a file already took this name; skip
            }
            std::fs::create_dir_all(&path).unwrap();
        }
        path.push(common::raw(parts.last().unwrap()));
        if path.symlink_metadata().is_ok() {
            continue;
        }
        match what {
            Gen::File(data, mode) => {
                std::fs::write(&path, data).unwrap();
                common::chmod(&path, *mode);
            }
            Gen::Symlink(target) => std::os::unix::fs::symlink(common::raw(target), &path).unwrap(),
            Gen::Dir => std::fs::create_dir_all(&path).unwrap(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(0x00c0_47e8), ..ProptestConfig::default() })]

    #[test]
    fn random_trees_round_trip(entries in prop::collection::vec((prop::collection::vec(component(), 1..5), entry_kind()), 0..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let store = common::store().await;
            let src = tempfile::tempdir().unwrap();
            materialise(src.path(), &entries);
            common::import(&store, src.path()).await;
            let out = tempfile::tempdir().unwrap();
            let head = store.history().head().await.unwrap();
            export(&store, head.root, out.path(), ExportOptions::default()).await.unwrap();
            let (want, got) = (picture(src.path()), picture(out.path()));
            prop_assert_eq!(got, want);
            Ok(())
        })?;
    }
}

#[test]
fn node_pictures_compare_modes() {
    // The comparison itself must see a mode difference.
    let a = Node::File { data: vec![], mode: 0o644, mtime: (0, 0) };
    let b = Node::File { data: vec![], mode: 0o755, mtime: (0, 0) };
    assert_ne!(a, b);
}
