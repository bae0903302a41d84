//! The edges where a filesystem loses data or dies: a full disk under the
//! store, hostile sizes and depths through a mount, a panicking request.
//! Each runs the real binaries on real mounts; the full disk is a real
//! ext4 filesystem of 64 MiB on a loop device (the suite runs as root).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{command, cortex, ok};
use crate::cli::mount::{Mounted, run_sh};

/// A small ext4 filesystem mounted on a loop device; unmounted on drop.
struct SmallDisk {
    image: PathBuf,
    at: PathBuf,
}

impl SmallDisk {
    fn new(root: &Path, mib: u64) -> SmallDisk {
        let image = root.join("disk.img");
        let at = root.join("disk");
        std::fs::create_dir_all(&at).unwrap();
        let f = std::fs::File::create(&image).unwrap();
        f.set_len(mib << 20).unwrap();
        run("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]);
        run("mount", &["-o", "loop", image.to_str().unwrap(), at.to_str().unwrap()]);
        SmallDisk { image, at }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
        let _ = std::fs::remove_file(&self.image);
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("{program} is needed for this test (scripts/setup.sh installs it): {e}")
    });
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Bytes nothing compresses, different for each `seed`.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Writes to `path` until its filesystem is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![9u8; 1 << 20];
    while f.write_all(&block).and_then(|()| f.sync_all()).is_ok() {}
}

/// Writes `data` to `path` and fsyncs it: the errno where that failed.
fn write_synced(path: &Path, data: &[u8]) -> Result<(), std::io::Error> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o644)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// The disk under the store fills while a mount is written with fsync:
/// every fsync that returned 0 is in the store afterwards, byte for byte;
/// past the failure writes are refused (not acknowledged and lost), reads
/// go on, `status` says so, and `umount` tells the truth in its exit code;
/// once space comes back the daemon reopens its store and saves what the
/// mount held, without an unmount.
#[test]
fn a_full_disk_loses_no_fsynced_file() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = SmallDisk::new(tmp.path(), 64);
    let tree = disk.at.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("README"), b"small tree\n").unwrap();
    // Space to give back once the disk is full: more than the log can
    // hold by then, so that its torn end can be repaired.
    std::fs::write(disk.at.join("ballast"), vec![7u8; 30 << 20]).unwrap();
    ok(&tree, &["init"]);
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    ok(&tree, &["mount", mnt.to_str().unwrap()]);
    let _cleanup = Unmount { tree: tree.clone(), mnt: mnt.clone() };

    // statfs tells the truth about the store's disk: 64 MiB, not a TiB.
    let out = Command::new("stat").args(["-f", "-c", "%b %S"]).arg(&mnt).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().unwrap());
    let size = fields.next().unwrap() * fields.next().unwrap();
    assert!((32 << 20..=64 << 20).contains(&size), "the mount says its disk has {size} bytes");

    // Fill: 512 KiB files, each fsynced, until an fsync fails.
    let mut saved: Vec<(String, Vec<u8>)> = Vec::new();
    let mut failure = None;
    for i in 0..400 {
        let name = format!("fill-{i:03}.bin");
        let data = noise(i, 512 << 10);
        match write_synced(&mnt.join(&name), &data) {
            Ok(()) => saved.push((name, data)),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let failure = failure.expect("64 MiB filled without an fsync failing");
    assert!(!saved.is_empty(), "nothing fit before the disk was full");
    assert!(
        matches!(failure.raw_os_error(), Some(libc::ENOSPC | libc::EIO)),
        "an fsync on a full disk failed with {failure}"
    );
    let status = ok(&tree, &["status"]);
    assert!(status.contains("DISK FULL") || status.contains("WRITE FAILED"), "{status}");

    // Reads go on while writes are refused.
    let (first, bytes) = &saved[0];
    assert_eq!(&std::fs::read(mnt.join(first)).unwrap(), bytes);
    let refused = write_synced(&mnt.join("while-full.txt"), b"no room\n").unwrap_err();
    assert!(matches!(refused.raw_os_error(), Some(libc::ENOSPC | libc::EIO)), "{refused}");

    // Unmounting tells the truth: with writes it could not save, it
    // refuses, the mount staying (`--discard` would let them go).
    let out = cortex(&tree, &["umount", mnt.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "umount succeeded with unsaved writes");
    assert!(err.contains("still mounted") && err.contains("--discard"), "{err}");
    assert!(std::fs::read_dir(&mnt).is_ok(), "refused, yet the mount is gone");

    // Space comes back. The daemon reopens its store (the torn record at
    // the end of its log cut off, never appended after) and takes writes
    // again, without an unmount: what the mount held unsaved is saved too.
    std::fs::remove_file(disk.at.join("ballast")).unwrap();
    let mut status = String::new();
    for _ in 0..600 {
        status = ok(&tree, &["status"]);
        if !status.contains("DISK FULL") && !status.contains("WRITE FAILED") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!status.contains("DISK FULL") && !status.contains("WRITE FAILED"), "{status}");
    for i in 0..5 {
        let name = format!("after-{i}.txt");
        let data = format!("written after space came back {i}\n").into_bytes();
        write_synced(&mnt.join(&name), &data).unwrap();
        saved.push((name, data));
    }

    // Everything the mount shows was saved: unmounting succeeds.
    let listed: Vec<String> = std::fs::read_dir(&mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    ok(&tree, &["umount", mnt.to_str().unwrap()]);

    // Opened again (the store recovers its log's torn tail): every file
    // whose fsync returned 0 is there, byte for byte.
    for (name, data) in &saved {
        let out = cortex(&tree, &["cat", name]);
        assert!(out.status.success(), "{name} lost: {}", String::from_utf8_lossy(&out.stderr));
        assert!(&out.stdout == data, "{name} differs after reopening");
    }

    // With the disk full to the last block, a command that opens the store
    // itself is refused with the room an open needs (SurrealDB writes as
    // it starts), changing nothing; with that room it opens, the torn end
    // of the log (the failed commit) cut in place, where the engine's own
    // repair would have written a copy of the whole log.
    let filler = disk.at.join("filler");
    fill(&filler);
    let store = tree.join(".cortex/store");
    let before = super::damaged::files_of(&store);
    let out = cortex(&tree, &["status"]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("MiB must be free") && err.contains("nothing in the store"), "{err}");
        assert!(super::damaged::files_of(&store) == before, "a refused open changed the store");
    }
    std::fs::remove_file(&filler).unwrap();

    let stored = ok(&tree, &["ls"]);
    for name in &listed {
        assert!(stored.contains(name.as_str()), "umount succeeded but {name} was not saved");
    }
    let status = ok(&tree, &["status"]);
    assert!(!status.contains("DISK FULL"), "{status}");
    // And the store takes writes again.
    std::fs::write(tree.join("README"), b"written after\n").unwrap();
    ok(&tree, &["import", "."]);
    assert_eq!(ok(&tree, &["cat", "README"]), "written after\n");
}

struct Unmount {
    tree: PathBuf,
    mnt: PathBuf,
}

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = cortex(&self.tree, &["umount", "--discard", self.mnt.to_str().unwrap()]);
        let _ = Command::new("fusermount3").arg("-uz").arg(&self.mnt).status();
    }
}

/// Sizes and depths no allocation or stack can take are refused, and the
/// daemon serving every mount lives on: `truncate -s 1T`, a write at an
/// offset past the largest file, a 4,000-deep directory chain fsynced, and
/// a 2 GiB sparse file; a second mount of the daemon is unaffected.
#[test]
fn hostile_sizes_and_depths_do_not_kill_the_daemon() {
    let m = Mounted::new(&[("a.txt", "a\n")]);
    let other = m.tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    ok(&m.tree, &["session", "new", "side"]);
    ok(&m.tree, &["mount", "--session", "side", other.to_str().unwrap()]);

    let out = m.sh("truncate -s 1T huge 2>&1 || echo refused");
    assert!(out.contains("refused") && out.contains("too large"), "{out}");
    let out = m.sh("dd if=/dev/zero of=far bs=1 count=1 seek=100G 2>&1 || echo refused");
    assert!(out.contains("refused"), "{out}");

    // A 2 GiB sparse file: sized, read at its end, saved; its hole costs
    // the daemon no memory (it is held by chunk, and holes are none).
    m.sh("truncate -s 2G sparse && printf end >> sparse && sync sparse");
    let len = std::fs::metadata(m.mnt.join("sparse")).unwrap().len();
    assert_eq!(len, (2 << 30) + 3);
    let tail = m.sh("tail -c 3 sparse");
    assert_eq!(tail, "end");
    let middle =
        m.sh("dd if=sparse bs=4096 skip=100000 count=1 status=none | od -An -v -tx1 | sort -u");
    assert_eq!(middle.trim(), "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00");
    let rss = daemon_rss_kib(&m.tree);
    assert!(rss < 1 << 20, "the daemon holds {rss} KiB after a 2 GiB sparse file");

    // 4,000 directories deep, made by relative steps (no path that long
    // could be named at once), then fsynced: the flush walks the chain.
    // (Python, not a shell loop: bash keeps the whole path as $PWD and
    // works on it at every step.)
    let script = "python3 -c 'import os\nfor _ in range(4000):\n    os.mkdir(\"d\"); os.chdir(\"d\")\nwith open(\"f\", \"w\") as f:\n    f.write(\"bottom\\n\"); f.flush(); os.fsync(f.fileno())\nprint(\"ok\")'";
    assert_eq!(m.sh(script).trim(), "ok");

    // The daemon is alive and every mount answers.
    assert_eq!(std::fs::read_to_string(m.mnt.join("a.txt")).unwrap(), "a\n");
    assert_eq!(std::fs::read_to_string(other.join("a.txt")).unwrap(), "a\n");
    std::fs::write(other.join("b.txt"), "b\n").unwrap();
    ok(&m.tree, &["umount", other.to_str().unwrap()]);
    m.umount();
    // What was saved is in the store, the bottom of the chain included.
    let bottom = format!("{}/f", (0..4000).map(|_| "d").collect::<Vec<_>>().join("/"));
    assert_eq!(ok(&m.tree, &["cat", &bottom]), "bottom\n");
    let listing: serde_json::Value = serde_json::from_str(&ok(&m.tree, &["ls", "--json"])).unwrap();
    let sparse = listing.as_array().unwrap().iter().find(|e| e["name"] == "sparse").unwrap();
    assert_eq!(sparse["size"], (2u64 << 30) + 3);
}

/// The resident memory of the store's daemon, from `/proc`.
fn daemon_rss_kib(tree: &Path) -> u64 {
    let status: serde_json::Value = serde_json::from_str(&ok(tree, &["status", "--json"])).unwrap();
    let pid = status["daemon_pid"].as_u64().expect("a daemon serves the mount");
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A panic while serving one request (injected by name, debug builds only)
/// answers that request with EIO; the daemon and its mounts go on.
#[test]
fn a_panicking_request_is_answered_eio_and_the_daemon_lives() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("a.txt"), b"a\n").unwrap();
    ok(&tree, &["init"]);
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let out = command(&tree, &["mount", mnt.to_str().unwrap()])
        .env("CORTEX_FAULT_PANIC", "boom")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _cleanup = Unmount { tree: tree.clone(), mnt: mnt.clone() };
    for _ in 0..10 {
        let e = std::fs::metadata(mnt.join("boom")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    }
    assert_eq!(std::fs::read_to_string(mnt.join("a.txt")).unwrap(), "a\n");
    std::fs::write(mnt.join("b.txt"), b"b\n").unwrap();
    ok(&tree, &["umount", mnt.to_str().unwrap()]);
    assert_eq!(ok(&tree, &["cat", "b.txt"]), "b\n");
    let log = std::fs::read_to_string(tree.join(".cortex/mountd.log")).unwrap();
    assert!(log.contains("a request panicked and was answered EIO"), "{log}");
}

/// The memory budget holds: a daemon given 128 MiB (`CORTEX_MEMORY`) reads
/// a 160 MiB tree through its mount, every file once, and grows by less
/// than its budget. (Unbudgeted, its content cache alone keeps 256 MiB and
/// SurrealKV's block cache half the machine's RAM: all 160 MiB stay.)
#[test]
fn a_tree_larger_than_the_memory_budget_is_read_within_it() {
    const FILES: usize = 320;
    const SIZE: usize = 512 << 10;
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(tree.join("data")).unwrap();
    std::fs::create_dir_all(&mnt).unwrap();
    for n in 0..FILES {
        std::fs::write(tree.join(format!("data/{n:03}.bin")), noise(n as u64, SIZE)).unwrap();
    }
    ok(&tree, &["init"]);
    let out = command(&tree, &["mount", mnt.to_str().unwrap()])
        .env("CORTEX_MEMORY", "128")
        .env("CORTEX_MODEL_DIR", tmp.path().join("no-model"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _unmount = Unmount { tree: tree.clone(), mnt: mnt.clone() };

    let status: serde_json::Value =
        serde_json::from_str(&ok(&tree, &["status", "--json"])).unwrap();
    assert_eq!(status["memory"]["budget"]["total"], 128u64 << 20, "{status}");
    let before = daemon_rss_kib(&tree);
    for n in 0..FILES {
        let read = std::fs::read(mnt.join(format!("data/{n:03}.bin"))).unwrap();
        assert_eq!(read.len(), SIZE);
        if n % 64 == 0 {
            assert_eq!(read, noise(n as u64, SIZE), "file {n} read back wrong");
        }
    }
    let after = daemon_rss_kib(&tree);
    let grown_mib = after.saturating_sub(before) >> 10;
    assert!(
        grown_mib < 128,
        "reading 160 MiB grew the daemon by {grown_mib} MiB ({before} KiB -> {after} KiB)"
    );
    let status: serde_json::Value =
        serde_json::from_str(&ok(&tree, &["status", "--json"])).unwrap();
    let caches = status["memory"]["content_caches"].as_array().unwrap();
    let main = caches.iter().find(|c| c[0] == "main").unwrap_or_else(|| panic!("{status}"));
    assert_eq!(main[1]["budget"], 32u64 << 20, "{status}");
    assert!(main[1]["held"].as_u64().unwrap() <= 32 << 20, "{status}");

    // A file twice the budget, written, saved and read back: held by chunk,
    // through a memtable of 32 MiB.
    let before = daemon_rss_kib(&tree);
    run_sh(&mnt, "head -c 268435456 /dev/urandom > big && sync big");
    let sums = run_sh(&mnt, "sha256sum big data/000.bin");
    let after = daemon_rss_kib(&tree);
    let grown_mib = after.saturating_sub(before) >> 10;
    assert!(grown_mib < 128, "a 256 MiB file grew the daemon by {grown_mib} MiB");
    ok(&tree, &["umount", mnt.to_str().unwrap()]);
    let stored = Command::new("sh")
        .arg("-c")
        .arg(format!("{} cat big | sha256sum", env!("CARGO_BIN_EXE_cortex")))
        .current_dir(&tree)
        .output()
        .unwrap();
    let big_sum = sums.split_whitespace().next().unwrap();
    assert!(String::from_utf8_lossy(&stored.stdout).starts_with(big_sum), "{sums}");
}
