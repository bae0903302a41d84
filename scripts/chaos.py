#!/usr/bin/env python3
"""A bounded soak of cortex under writers, merges and kill -9s.

Run by scripts/chaos.sh (which builds cortex first). Not a test: it takes
minutes and prints counts. What it does, for SECONDS seconds:

- main and three sessions are mounted from one daemon; five writers (two
  in main, one per session) write new files, each fsynced, and record
  every fsync that returned 0 in a ledger;
- a chaos thread, at random moments: kills the daemon with SIGKILL (then
  everything is mounted again), merges a session into main (--keep),
  starts a merge and kills the CLI running it, or fills the disk under
  the store (a loop-mounted ext4) until writes fail, then frees it and
  mounts again.

At the end every fsynced file must be in its view with its bytes, every
file a session wrote before a merge of it began must be in main, and no
view may hold a file another session wrote (isolation). It prints the
counts and `lost: N`; the exit status is 0 only when nothing was lost or
misrouted.
"""

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

CORTEX = os.environ.get("CORTEX_BIN", "cortex")
SESSIONS = ["s1", "s2", "s3"]


def run(args, cwd, check=True, timeout=600):
    out = subprocess.run([CORTEX] + args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError(f"cortex {' '.join(args)}: {out.stderr.strip()}")
    return out


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []  # (view, path, sha, time)
        self.merges = []  # (session, time the merge began): merged
        self.attempts = []  # every merge begun, its CLI killed or not
        self.counts = {"writes": 0, "write_errors": 0, "kills": 0, "cli_kills": 0,
                       "merges": 0, "merge_failures": 0, "disk_full": 0, "remounts": 0,
                       "recoveries": 0, "recovery_failures": 0}

    def add(self, view, path, sha):
        with self.lock:
            self.entries.append((view, path, sha, time.monotonic()))
            self.counts["writes"] += 1

    def count(self, key):
        with self.lock:
            self.counts[key] += 1


class Chaos:
    def __init__(self, root, seconds, seed):
        self.root = root
        self.tree = os.path.join(root, "disk", "tree")
        self.points = {v: os.path.join(root, "mnt-" + v) for v in ["main"] + SESSIONS}
        self.seconds = seconds
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self.stop = threading.Event()
        # Writers pause while everything is mounted again.
        self.mounted = threading.Event()

    def setup(self):
        disk = os.path.join(self.root, "disk")
        os.makedirs(disk)
        self.image = os.path.join(self.root, "disk.img")
        with open(self.image, "wb") as f:
            # Sparse: costs what the store uses. Every snapshot is kept, and
            # each fsync commits one, so the store grows with the fsyncs
            # (about 1 GiB a minute with five writers here).
            f.truncate(16 << 30)
        subprocess.run(["mkfs.ext4", "-q", "-F", self.image], check=True)
        subprocess.run(["mount", "-o", "loop", self.image, disk], check=True)
        self.disk = disk
        os.makedirs(os.path.join(self.tree, "src"))
        for i in range(50):
            with open(os.path.join(self.tree, "src", f"f{i}.rs"), "w") as f:
                f.write(f"pub fn f{i}() -> usize {{ {i} }}\n")
        run(["init"], self.tree)
        for s in SESSIONS:
            run(["session", "new", s], self.tree)
        for p in self.points.values():
            os.makedirs(p, exist_ok=True)
        self.mount_all()

    def mount_all(self):
        for view, point in self.points.items():
            args = ["mount", point] if view == "main" else ["mount", "--session", view, point]
            for _ in range(50):
                out = run(args, self.tree, check=False)
                if out.returncode == 0 or "already a mountpoint" in out.stderr:
                    break
                time.sleep(0.2)
            else:
                log = os.path.join(self.tree, ".cortex", "mountd.log")
                tail = open(log, errors="replace").read()[-3000:] if os.path.exists(log) else ""
                raise RuntimeError(f"cannot mount {view}: {out.stderr.strip()}\n{tail}")
        self.mounted.set()

    def unmount_all(self, discard=False):
        self.mounted.clear()
        for view in ["s3", "s2", "s1", "main"]:
            point = self.points[view]
            args = ["umount", "--discard", point] if discard else ["umount", point]
            out = run(args, self.tree, check=False)
            if out.returncode != 0:
                run(["umount", "--discard", point], self.tree, check=False)
                subprocess.run(["fusermount3", "-uz", point], capture_output=True)

    def writer(self, view, name):
        n = 0
        while not self.stop.is_set():
            if not self.mounted.wait(timeout=1):
                continue
            rel = f"{name}/{n:05d}.txt"
            data = f"{name} {n} {self.rng.random()}\n".encode() * self.rng.randint(1, 200)
            path = os.path.join(self.points[view], rel)
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                self.ledger.add(view, rel, hashlib.sha256(data).hexdigest())
            except OSError:
                self.ledger.count("write_errors")
                time.sleep(0.05)
            n += 1

    def daemon_pid(self):
        out = run(["status", "--json"], self.tree, check=False)
        try:
            return json.loads(out.stdout).get("daemon_pid")
        except ValueError:
            return None

    def kill_daemon(self):
        pid = self.daemon_pid()
        if not pid:
            return
        self.mounted.clear()
        os.kill(pid, 9)
        self.ledger.count("kills")
        time.sleep(0.3)
        for point in self.points.values():
            subprocess.run(["fusermount3", "-uz", point], capture_output=True)
        self.mount_all()
        self.ledger.count("remounts")

    def merge(self, kill_cli):
        s = self.rng.choice(SESSIONS)
        began = time.monotonic()
        with self.ledger.lock:
            self.ledger.attempts.append((s, began))
        proc = subprocess.Popen([CORTEX, "merge", s, "--keep", "--strategy", "theirs"],
                                cwd=self.tree, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        if kill_cli:
            time.sleep(self.rng.uniform(0.0, 0.5))
            proc.kill()
            proc.wait()
            self.ledger.count("cli_kills")
            return
        out, err = proc.communicate(timeout=600)
        if proc.returncode == 0 and "merged session" in out:
            with self.ledger.lock:
                self.ledger.merges.append((s, began))
            self.ledger.count("merges")
        else:
            self.ledger.count("merge_failures")

    def fill_disk(self):
        ballast = os.path.join(self.disk, "ballast")
        try:
            with open(ballast, "wb") as f:
                # Reserve nearly all the free space at once (fast, and the
                # sparse image stays small), then write to the last block.
                st = os.statvfs(self.disk)
                room = st.f_bfree * st.f_frsize
                if room > 2 << 20:
                    os.posix_fallocate(f.fileno(), 0, room - (1 << 20))
                f.seek(0, os.SEEK_END)
                while True:
                    f.write(os.urandom(64 << 10))
                    f.flush()
                    os.fsync(f.fileno())
        except OSError:
            pass
        self.ledger.count("disk_full")
        time.sleep(2)  # writers meet the full disk
        os.remove(ballast)
        # The daemon reopens its store once there is room, mounts staying;
        # if it has not within half a minute, that is counted, and the
        # mounts are started again.
        for _ in range(300):
            status = run(["status"], self.tree, check=False)
            if status.returncode == 0 and "DISK FULL" not in status.stdout \
                    and "WRITE FAILED" not in status.stdout:
                self.ledger.count("recoveries")
                return
            time.sleep(0.1)
        self.ledger.count("recovery_failures")
        self.unmount_all(discard=True)
        self.mount_all()
        self.ledger.count("remounts")

    def chaos(self):
        actions = [(self.kill_daemon, 4), (lambda: self.merge(False), 3),
                   (lambda: self.merge(True), 2), (self.fill_disk, 1)]
        weighted = [a for a, w in actions for _ in range(w)]
        while not self.stop.wait(self.rng.uniform(2, 6)):
            try:
                self.rng.choice(weighted)()
            except Exception as e:  # noqa: BLE001 - keep the soak going, say what failed
                print(f"chaos: {e}", file=sys.stderr)
                self.mounted.clear()
                self.unmount_all(discard=True)
                self.mount_all()

    def soak(self):
        writers = [threading.Thread(target=self.writer, args=(v, n)) for v, n in
                   [("main", "main-a"), ("main", "main-b")] + [(s, s) for s in SESSIONS]]
        chaos = threading.Thread(target=self.chaos)
        for t in writers + [chaos]:
            t.start()
        time.sleep(self.seconds)
        self.stop.set()
        chaos.join()
        for t in writers:
            t.join()

    def verify(self):
        self.unmount_all()
        self.mount_all()
        lost, misrouted, checked = [], [], 0
        for view, rel, sha, _ in self.ledger.entries:
            checked += 1
            try:
                with open(os.path.join(self.points[view], rel), "rb") as f:
                    got = hashlib.sha256(f.read()).hexdigest()
            except OSError as e:
                got = str(e)
            if got != sha:
                lost.append((view, rel))
        # What a session wrote before a merge of it began is in main.
        in_main = 0
        for s, began in self.ledger.merges:
            for view, rel, sha, t in self.ledger.entries:
                if view == s and t < began:
                    in_main += 1
                    p = os.path.join(self.points["main"], rel)
                    if not os.path.exists(p):
                        lost.append(("main (merged from " + s + ")", rel))
        # No view holds another session's files, unless they came by a
        # merge (a killed CLI's merge may have landed): into main, and into
        # a session rebased (--keep) after it.
        merges = self.ledger.attempts
        for view, point in self.points.items():
            for other in SESSIONS:
                if other == view or not os.path.exists(os.path.join(point, other)):
                    continue
                if view == "main":
                    allowed = any(s == other for s, _ in merges)
                else:
                    allowed = any(s == other and any(v == view and t2 > t for v, t2 in merges)
                                  for s, t in merges)
                if not allowed:
                    misrouted.append((view, other))
        self.unmount_all()
        c = self.ledger.counts
        print(f"operations: {c['writes']} fsynced writes, {c['write_errors']} refused, "
              f"{c['merges']} merges ({c['merge_failures']} not clean), "
              f"{c['kills']} daemon kills, {c['cli_kills']} merging-CLI kills, "
              f"{c['disk_full']} disk-full phases ({c['recoveries']} recovered in place, "
              f"{c['recovery_failures']} not), {c['remounts']} remounts")
        print(f"checked: {checked} fsynced files, {in_main} merged copies in main")
        store = os.path.join(self.tree, ".cortex", "store")
        sizes = {part: sum(os.path.getsize(os.path.join(d, f))
                           for d, _, fs in os.walk(os.path.join(store, part)) for f in fs)
                 for part in ("wal", "vlog", "sstables")}
        print("store: " + ", ".join(f"{p} {b / (1 << 20):.0f} MiB" for p, b in sizes.items()))
        print(f"lost: {len(lost)}")
        print(f"misrouted: {len(misrouted)}")
        for item in (lost + misrouted)[:20]:
            print(f"  {item}")
        return not lost and not misrouted

    def cleanup(self):
        for point in self.points.values():
            subprocess.run(["fusermount3", "-uz", point], capture_output=True)
        subprocess.run(["umount", "-l", self.disk], capture_output=True)


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 180
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 14
    root = tempfile.mkdtemp(prefix="cortex-chaos-")
    c = Chaos(root, seconds, seed)
    ok = False
    try:
        c.setup()
        c.soak()
        ok = c.verify()
    finally:
        c.cleanup()
        if ok:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept for a look: {root} (its store: disk.img, mount it with -o loop)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
