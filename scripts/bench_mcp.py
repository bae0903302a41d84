"""The workload of scripts/bench-mcp.sh: p50/p95 latency of each tool, as an
agent sees it (the Python `mcp` client's call to its answer), on a real
tree of a few thousand files: one client over stdio, then (with --http)
CLIENTS clients at once over HTTP on loopback, each with its own token,
twice: from the Python SDK, then from Rust (scripts/bench/mcp_load.rs, an
rmcp client that leaves the two cores to the server). Run through that
script."""

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

sys.path.insert(0, os.path.dirname(__file__))
CORTEX, WANT, SAMPLES = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
HTTP_CLIENTS = int(sys.argv[4]) if len(sys.argv) > 4 else 0
sys.argv = [sys.argv[0], CORTEX, "raw_parse", str(WANT)]
import bench_index  # noqa: E402  (its tree: npm packages and crate sources)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


@contextlib.asynccontextmanager
async def connect(tree, url=None):
    """A client session: on a `cortex mcp` of its own over stdio, or on the
    HTTP server at `url` with a token of its own."""
    if url is None:
        params = StdioServerParameters(command=CORTEX, args=["mcp"], cwd=tree, env=dict(os.environ))
        transport = stdio_client(params)
        http = None
    else:
        token = subprocess.run([CORTEX, "token", "create"], cwd=tree, check=True, capture_output=True,
                               text=True).stdout.strip()
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        transport = streamable_http_client(url, http_client=http)
    async with transport as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        yield s
    if http is not None:
        await http.aclose()


def caller(s):
    async def call(name, args):
        r = await s.call_tool(name, args)
        if r.is_error:
            raise SystemExit(f"{name}({args}): {r.content[0].text}")
        return r.structured_content
    return call


async def workload(call):
    """The calls each tool is timed on: (name, args)."""
    units = await call("list_units", {"path": "crates", "limit": 1000})
    fns = [u for u in units["units"] if u["kind"] in ("function", "method")]
    pick = fns[len(fns) // 2]
    path = pick["path"]
    return pick, len({u["path"] for u in units["units"]}), [
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


def label(name, args):
    return f"{name} ({args.get('mode', 'hybrid')})" if name == "search" else name


async def bench_http(tree, url, clients):
    """CLIENTS clients at once, each calling every tool SAMPLES times."""
    times = {}
    async with connect(tree, url) as s:
        _, _, calls = await workload(caller(s))

    async def one():
        async with connect(tree, url) as s:
            call = caller(s)
            for name, args in calls:
                for _ in range(SAMPLES):
                    t = time.perf_counter()
                    await call(name, args)
                    times.setdefault(label(name, args), []).append((time.perf_counter() - t) * 1000)

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*[one() for _ in range(clients)]), timeout=900)
    took = time.perf_counter() - started
    return {k: (statistics.median(v), pct(v, 95)) for k, v in times.items()}, took, calls


def bench_http_rust(tree, url, clients, calls):
    """The same load from scripts/bench/mcp_load.rs; its job (tokens
    included) goes on its stdin."""
    tokens = [subprocess.run([CORTEX, "token", "create"], cwd=tree, check=True, capture_output=True,
                             text=True).stdout.strip() for _ in range(clients)]
    job = {"url": url, "tokens": tokens, "samples": SAMPLES,
           "calls": [[label(name, args), name, args] for name, args in calls]}
    load = os.path.join(os.path.dirname(CORTEX), "bench_mcp_load")
    out = subprocess.run([load], input=json.dumps(job), capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"bench_mcp_load: {out.stderr.strip()}")
    found = json.loads(out.stdout)
    times = found["times"]
    return {k: (statistics.median(v), pct(v, 95)) for k, v in times.items()}, found["seconds"]


async def bench(tree):
    async with connect(tree) as s:
        call = caller(s)
        # Warm: the first graph question brings the graph to main's head.
        pick, files, calls = await workload(call)
        # The daemon writes a fresh tree's search rows in the background;
        # a search meanwhile waits up to 1.5 s for its turn, then answers
        # from the rows there are and says so. Time that phase apart.
        building, started = [], time.perf_counter()
        while time.perf_counter() - started < 600:
            t = time.perf_counter()
            found = await call("search", {"query": "parse a version number", "mode": "keyword"})
            if "the search index is" not in (found.get("note") or ""):
                break
            building.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(1)
        if building:
            print(f"search rows written {time.perf_counter() - started:.0f} s after the first call; "
                  f"{len(building)} searches meanwhile: p50 {statistics.median(building):.0f} ms, "
                  f"each answered from the rows there were")
        rows = []
        for name, args in calls:
            times = []
            for _ in range(SAMPLES):
                t = time.perf_counter()
                await call(name, args)
                times.append((time.perf_counter() - t) * 1000)
            rows.append((label(name, args), statistics.median(times), pct(times, 95)))
        # A write and the graph seeing it, for scale (not read-only).
        times = []
        for i in range(SAMPLES):
            t = time.perf_counter()
            await call("write_file", {"path": f"bench/probe{i}.rs", "content": f"pub fn probe_{i}() {{}}\n"})
            await call("find_symbol", {"name": f"probe_{i}"})
            times.append((time.perf_counter() - t) * 1000)
        rows.append(("write_file + find_symbol", statistics.median(times), pct(times, 95)))
        return files, pick["id"], rows


def main():
    work = tempfile.mkdtemp(prefix="cortex-bench-mcp.")
    tree = os.path.join(work, "tree")
    bench_index.make_tree(tree)
    files = sum(len(fs) for _, _, fs in os.walk(tree))
    subprocess.run([CORTEX, "init", "--no-ignore", "."], cwd=tree, check=True, capture_output=True)
    code_files, unit, rows = asyncio.run(bench(tree))
    print(f"tree: {files} files (npm packages and crate sources); {SAMPLES} calls per tool; unit {unit}\n")
    http, took, rust, rust_took = {}, 0.0, {}, 0.0
    if HTTP_CLIENTS:
        server = subprocess.Popen([CORTEX, "mcp", "--http", "127.0.0.1:0", "--rate-limit", "100000",
                                   "--burst", "100000"], cwd=tree, stderr=subprocess.PIPE, text=True)
        try:
            line = server.stderr.readline()
            url = line.split("serving ")[1].split()[0]
            http, took, calls = asyncio.run(bench_http(tree, url, HTTP_CLIENTS))
            rust, rust_took = bench_http_rust(tree, url, HTTP_CLIENTS, calls)
        finally:
            server.terminate()
            server.wait()
    n = HTTP_CLIENTS
    if http:
        print(f"| tool | stdio p50 ms | stdio p95 ms | HTTP ×{n} Python p50 ms | HTTP ×{n} Python p95 ms "
              f"| HTTP ×{n} Rust p50 ms | HTTP ×{n} Rust p95 ms |")
        print("|---|---|---|---|---|---|---|")
    else:
        print("| tool | p50 ms | p95 ms |")
        print("|---|---|---|")
    for name, p50, p95 in rows:
        extra = "".join(f" {x:.1f} |" for x in (*http.get(name, ()), *rust.get(name, ()))) if http else ""
        print(f"| {name} | {p50:.1f} | {p95:.1f} |{extra}")
    if http:
        calls = n * SAMPLES * len(http)
        print(f"\nHTTP: {n} clients at once, {calls} calls each way: from the Python SDK in {took:.1f} s "
              f"({calls / took:.0f} calls/s), from Rust (rmcp) in {rust_took:.1f} s ({calls / rust_took:.0f} calls/s)")
    subprocess.run(["rm", "-rf", work])


main()
