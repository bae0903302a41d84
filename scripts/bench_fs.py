"""The workloads of scripts/bench-fs.sh. Run through that script."""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CORTEX = sys.argv[1]
REGISTRY = os.path.join(os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo")), "registry", "src")


def sh(cmd, cwd):
    subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={k: v for k, v in os.environ.items() if k != "CARGO_TARGET_DIR"})


def timed(cmd, cwd):
    start = time.perf_counter()
    sh(cmd, cwd)
    return time.perf_counter() - start


def drop_caches():
    subprocess.run(["sync"])
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        pass


def make_tree(dest):
    """Real crates from the cargo registry until 5,000 files."""
    os.makedirs(dest)
    total = 0
    for index in sorted(os.listdir(REGISTRY)):
        for krate in sorted(os.listdir(os.path.join(REGISTRY, index))):
            src = os.path.join(REGISTRY, index, krate)
            shutil.copytree(src, os.path.join(dest, krate), symlinks=True)
            total += sum(len(f) for _, _, f in os.walk(src))
            if total >= 5000:
                return total
    return total


CRATE = {
    "Cargo.toml": '[package]\nname = "tiny"\nversion = "0.1.0"\nedition = "2021"\n',
    "src/main.rs": "mod m;\nfn main() { println!(\"{}\", m::f(2)); }\n",
    "src/m.rs": "pub fn f(x: u32) -> u32 { (0..x).map(|i| i * i).sum() }\n",
}

WORKLOADS = [
    # name, command (run in the filesystem's root), cold and warm?
    ("read every file", "find tree -type f -print0 | xargs -0 cat > /dev/null", True),
    ("stat every file", "find tree -printf '%s %T@\\n' > /dev/null", True),
    ("git status", "cd repo && git status --porcelain > /dev/null", True),
    ("untar many small files", "mkdir -p x && tar -xf {tar} -C x", False),
    ("rm -rf them", "rm -rf x", False),
    ("cargo build (small crate)", "cd tiny && rm -rf target && cargo build --offline -q", False),
]


def prepare(root, tree_src):
    shutil.copytree(tree_src, os.path.join(root, "tree"), symlinks=True)
    repo = os.path.join(root, "repo")
    shutil.copytree(os.path.join(tree_src, sorted(os.listdir(tree_src))[0]), repo, symlinks=True)
    sh("git init -q && git add -A && git -c user.name=b -c user.email=b@b commit -qm x", repo)
    for path, body in CRATE.items():
        p = os.path.join(root, "tiny", path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(body)


def run_all(root, tar, remount=None):
    """Cold (caches dropped, cortex remounted) and warm (median of 3) times."""
    results = {}
    for name, cmd, caches in WORKLOADS:
        if not caches:
            continue
        drop_caches()
        if remount:
            root = remount()
        cold = timed(cmd, root)
        warm = statistics.median(timed(cmd, root) for _ in range(3))
        results[name] = (cold, warm)
    # Writes: untar then rm -rf, three times; cargo build three times.
    untar, rm, build = [], [], []
    for _ in range(3):
        untar.append(timed(WORKLOADS[3][1].format(tar=tar), root))
        rm.append(timed(WORKLOADS[4][1], root))
        build.append(timed(WORKLOADS[5][1], root))
    results[WORKLOADS[3][0]] = (None, statistics.median(untar))
    results[WORKLOADS[4][0]] = (None, statistics.median(rm))
    results[WORKLOADS[5][0]] = (None, statistics.median(build))
    return results


def main():
    work = tempfile.mkdtemp(prefix="cortex-bench-fs.")
    try:
        src = os.path.join(work, "src")
        files = make_tree(src)
        tar = os.path.join(work, "small.tar")
        sh(f"tar -cf {tar} -C {src} .", work)

        native = os.path.join(work, "native")
        os.makedirs(native)
        prepare(native, src)

        bind = os.path.join(work, "bindfs")
        os.makedirs(bind)
        sh(f"bindfs {native} {bind}", work)

        store_tree = os.path.join(work, "cortex-tree")
        os.makedirs(store_tree)
        prepare(store_tree, src)
        mnt = os.path.join(work, "cortex")
        os.makedirs(mnt)
        sh(f"{CORTEX} init --no-ignore --include-git > /dev/null", store_tree)

        def remount():
            subprocess.run([CORTEX, "umount", mnt], cwd=store_tree, stdout=subprocess.DEVNULL)
            sh(f"{CORTEX} mount {mnt} > /dev/null", store_tree)
            return mnt

        remount()
        try:
            results = {
                "native": run_all(native, tar),
                "bindfs": run_all(bind, tar),
                "cortex": run_all(mnt, tar, remount),
            }
        finally:
            subprocess.run([CORTEX, "umount", mnt], cwd=store_tree, stdout=subprocess.DEVNULL)
            subprocess.run(["fusermount3", "-u", bind])

        print(f"tree: {files} files of real crate sources; times in seconds (warm: median of 3)\n")
        print(f"| workload | native | bindfs | cortex | cortex / native | cortex / bindfs |")
        print(f"|---|---|---|---|---|---|")
        for name, _, caches in WORKLOADS:
            for phase, i in (("cold", 0), ("warm", 1)) if caches else (("", 1),):
                n, b, c = (results[fs][name][i] for fs in ("native", "bindfs", "cortex"))
                label = f"{name} ({phase})" if phase else name
                print(f"| {label} | {n:.3f} | {b:.3f} | {c:.3f} | {c / n:.2f}x | {c / b:.2f}x |")
    finally:
        subprocess.run(["fusermount3", "-uz", os.path.join(work, "bindfs")], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
