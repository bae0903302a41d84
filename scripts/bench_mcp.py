"""The workload of scripts/bench-mcp.sh: p50/p95 latency of each tool over
stdio, as an agent sees it (the Python `mcp` client's call to its answer),
on a real tree of a few thousand files. Run through that script."""

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

sys.path.insert(0, os.path.dirname(__file__))
CORTEX, WANT, SAMPLES = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.argv = [sys.argv[0], CORTEX, "raw_parse", str(WANT)]
import bench_index  # noqa: E402  (its tree: npm packages and crate sources)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def bench(tree):
    params = StdioServerParameters(command=CORTEX, args=["mcp"], cwd=tree, env=dict(os.environ))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
        await s.initialize()

        async def call(name, args):
            r = await s.call_tool(name, args)
            if r.is_error:
                raise SystemExit(f"{name}({args}): {r.content[0].text}")
            return r.structured_content

        # Warm: the first graph question brings the graph to main's head.
        units = await call("list_units", {"path": "crates", "limit": 1000})
        files = sorted({u["path"] for u in units["units"]})
        fns = [u for u in units["units"] if u["kind"] in ("function", "method")]
        pick = fns[len(fns) // 2]
        path = pick["path"]
        calls = [
            ("read_file", {"path": path}),
            ("list_dir", {"path": os.path.dirname(path)}),
            ("list_units", {"path": path}),
            ("get_unit", {"id": pick["id"]}),
            ("find_symbol", {"name": pick["name"]}),
            ("callers", {"id": pick["id"], "depth": 2}),
            ("callees", {"id": pick["id"], "depth": 2}),
            ("dependencies", {"path": path}),
            ("impact", {"targets": [pick["id"]], "depth": 3}),
            ("search", {"query": "parse a version number", "mode": "keyword"}),
            ("search", {"query": "where do we retry failed uploads"}),
            ("session_list", {}),
            ("who_is_editing", {}),
        ]
        rows = []
        for name, args in calls:
            times = []
            for _ in range(SAMPLES):
                t = time.perf_counter()
                await call(name, args)
                times.append((time.perf_counter() - t) * 1000)
            label = f"{name} ({args.get('mode', 'hybrid')})" if name == "search" else name
            rows.append((label, statistics.median(times), pct(times, 95)))
        # A write and the graph seeing it, for scale (not read-only).
        times = []
        for i in range(SAMPLES):
            t = time.perf_counter()
            await call("write_file", {"path": f"bench/probe{i}.rs", "content": f"pub fn probe_{i}() {{}}\n"})
            await call("find_symbol", {"name": f"probe_{i}"})
            times.append((time.perf_counter() - t) * 1000)
        rows.append(("write_file + find_symbol", statistics.median(times), pct(times, 95)))
        return len(files), pick["id"], rows


def main():
    work = tempfile.mkdtemp(prefix="cortex-bench-mcp.")
    tree = os.path.join(work, "tree")
    bench_index.make_tree(tree)
    files = sum(len(fs) for _, _, fs in os.walk(tree))
    subprocess.run([CORTEX, "init", "--no-ignore", "."], cwd=tree, check=True, capture_output=True)
    code_files, unit, rows = asyncio.run(bench(tree))
    print(f"tree: {files} files (npm packages and crate sources); {SAMPLES} calls per tool; unit {unit}\n")
    print("| tool | p50 ms | p95 ms |")
    print("|---|---|---|")
    for name, p50, p95 in rows:
        print(f"| {name} | {p50:.1f} | {p95:.1f} |")
    subprocess.run(["rm", "-rf", work])


main()
