"""Drives `cortex mcp` with the Python `mcp` package (PyPI), a client
nobody here wrote. Run by tests/cli/mcp.rs; exits non-zero with the first
failed check.

Usage: client.py CORTEX TREE SCENARIO [ARGS...]
  tools MOUNT      every tool on a real tree; writes seen through MOUNT
  hostile          hostile arguments to every tool: tool errors, still
                   serving, the tree unchanged
  agents A B       two servers on sessions A and B: the merge scenario
  tokens           (HTTP) each token refused what it may not do; nothing
                   changed; /metrics parsed and counting
  ratelimit        (HTTP, a server with low limits) a burst gets 429s, the
                   server stays up, another token's calls still succeed

With CORTEX_MCP_HTTP set (the URL of a running `cortex mcp --http`'s
/mcp), every scenario talks to that server over Streamable HTTP, each
client with a token of its own made by `cortex token create`; without it,
each client starts `cortex mcp` on stdio.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import traceback

import httpx2
import jsonschema
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from prometheus_client.parser import text_string_to_metric_families

CORTEX, TREE, SCENARIO = sys.argv[1], sys.argv[2], sys.argv[3]
EXTRA = sys.argv[4:]
HTTP = os.environ.get("CORTEX_MCP_HTTP")


def check(cond, what):
    if not cond:
        fail(f"check failed: {what}")


def fail(message):
    """Ends the run at once: unwinding through the client's task groups
    with a live server can hang, and the test wants the first failure."""
    print(message, file=sys.stderr, flush=True)
    os._exit(1)


def cortex(*args):
    """Runs the cortex CLI in the tree; its stdout."""
    out = subprocess.run([CORTEX, *args], cwd=TREE, capture_output=True, text=True)
    check(out.returncode == 0, f"cortex {args}: {out.stderr}")
    return out.stdout


def token(session=None, *flags):
    """A new token (for main, or `session`)."""
    return cortex("token", "create", *(["--session", session] if session else []), *flags).strip()


class Cortex:
    """A client session on `cortex mcp`: a server of its own on stdio, or
    the HTTP server with a token for `session` (main without one)."""

    def __init__(self, session=None):
        self.session = session
        args = ["mcp"] + (["--session", session] if session else [])
        self.params = StdioServerParameters(command=CORTEX, args=args, cwd=TREE, env=dict(os.environ))
        self.schemas = {}

    async def __aenter__(self):
        if HTTP:
            bearer = {"Authorization": f"Bearer {token(self.session, '--merge')}"}
            self._http = create_mcp_http_client(headers=bearer)
            self._stdio = streamable_http_client(HTTP, http_client=self._http)
        else:
            self._http = None
            self._stdio = stdio_client(self.params)
        read, write = await self._stdio.__aenter__()
        self._session = ClientSession(read, write)
        self.s = await self._session.__aenter__()
        await self.s.initialize()
        tools = (await self.s.list_tools()).tools
        self.tools = {t.name: t for t in tools}
        return self

    async def __aexit__(self, *exc):
        if exc[0] is not None:
            fail("".join(traceback.format_exception(*exc)))
        await self._session.__aexit__(*exc)
        await self._stdio.__aexit__(*exc)
        if self._http is not None:
            await self._http.aclose()

    async def raw(self, name, args):
        return await self.s.call_tool(name, args)

    async def ok(self, name, /, **args):
        r = await self.raw(name, args)
        text = "".join(getattr(c, "text", "") for c in r.content)
        check(not r.is_error, f"{name}({args}) failed: {text}")
        out = r.structured_content
        check(isinstance(out, dict), f"{name}: structured content {out!r}")
        jsonschema.validate(out, self.tools[name].output_schema)
        return out

    async def error(self, name, args):
        r = await self.raw(name, args)
        text = "".join(getattr(c, "text", "") for c in r.content)
        check(r.is_error, f"{name}({str(args)[:200]}) should fail, gave {text[:300]}")
        check(text and "panick" not in text, f"{name}: error text {text!r}")
        return text


async def tools(mount):
    async with Cortex() as c:
        names = sorted(c.tools)
        want = sorted("""read_file write_file edit_file list_dir delete_path move_path list_units get_unit
            find_symbol replace_unit callers callees dependencies impact search session_create session_list
            session_changes diff merge_preview merge conflicts claim release who_is_editing
            remember recall forget notes_of unit_history""".split())
        check(names == want, f"tools {names}")
        for t in c.tools.values():
            check(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", t.name), t.name)
            check(t.description and len(t.description) > 30, f"{t.name} description")
            jsonschema.Draft202012Validator.check_schema(t.input_schema)
            jsonschema.Draft202012Validator.check_schema(t.output_schema)
            for p, s in t.input_schema.get("properties", {}).items():
                check(s.get("description"), f"{t.name}.{p} has no description")

        # Files.
        top = await c.ok("list_dir")
        check(any(e["name"] == "src" and e["kind"] == "dir" for e in top["entries"]), top)
        page = await c.ok("list_dir", path="src", limit=2)
        check(len(page["entries"]) == 2 and page["next_cursor"], page)
        rest = await c.ok("list_dir", path="src", cursor=page["next_cursor"], limit=1000)
        check(page["total"] == len(page["entries"]) + len(rest["entries"]), "pages add up")
        lib = await c.ok("read_file", path="src/lib.rs")
        native = open(os.path.join(TREE, "src/lib.rs")).read()
        check(lib["content"] == native and not lib["truncated"], "read_file = the file")
        part = await c.ok("read_file", path="src/lib.rs", start_line=2, end_line=3)
        check(part["content"] == "".join(native.splitlines(True)[1:3]), part)
        w = await c.ok("write_file", path="notes/plan.md", content="step one\n")
        check(w["created"], w)
        check(open(os.path.join(mount, "notes/plan.md")).read() == "step one\n", "write seen through the mount")
        await c.ok("edit_file", path="notes/plan.md", old_string="one", new_string="two")
        check(open(os.path.join(mount, "notes/plan.md")).read() == "step two\n", "edit seen through the mount")
        await c.ok("move_path", **{"from": "notes/plan.md", "to": "notes/done/plan.md"})
        check(os.path.exists(os.path.join(mount, "notes/done/plan.md")), "move seen through the mount")
        check(not os.path.exists(os.path.join(mount, "notes/plan.md")), "old name gone from the mount")
        d = await c.ok("delete_path", path="notes", recursive=True)
        check(d["deleted"] == 3, d)
        check(not os.path.exists(os.path.join(mount, "notes")), "delete seen through the mount")
        # The other way: a write through the mount, read by a tool.
        with open(os.path.join(mount, "src/extra.rs"), "w") as f:
            f.write("pub fn from_the_mount() -> u8 { 7 }\n")
        r = await c.ok("read_file", path="src/extra.rs")
        check("from_the_mount" in r["content"], r)

        # Code.
        units = await c.ok("list_units", path="src/lib.rs")
        check(units["total"] > 5, units["total"])
        found = await c.ok("find_symbol", name="from_the_mount")
        check([u["id"] for u in found["units"]] == ["src/extra.rs::from_the_mount"], found)
        target = WANT["unit"]
        u = await c.ok("get_unit", id=target)
        check(u["unit"]["id"] == target and "fn " in u["body"], u["unit"])
        nobody = await c.ok("get_unit", id=target, body=False)
        check("body" not in nobody, nobody)
        callers = await c.ok("callers", id=target, depth=2)
        ids = {x["unit"]["id"] for lv in callers["levels"] for x in lv["units"]}
        check(WANT["caller"] in ids, f"{WANT['caller']} not among callers {sorted(ids)[:20]}")
        callees = await c.ok("callees", id=WANT["caller"])
        ids = {x["unit"]["id"] for lv in callees["levels"] for x in lv["units"]}
        check(target in ids, f"callees {sorted(ids)[:20]}")
        deps = await c.ok("dependencies", path=WANT["file"])
        check(deps["imports"] or deps["imported_by"], deps)
        impact = await c.ok("impact", targets=[target], depth=3)
        check(impact["levels"] and impact["levels"][0]["depth"] == 1, impact)
        for lv in impact["levels"]:
            for x in lv["units"]:
                check(x["confidence"] in ("resolved", "name_matched", "ambiguous"), x)
        r = await c.ok("replace_unit", id="src/extra.rs::from_the_mount",
                       source="pub fn from_the_mount() -> u8 {\n    8\n}")
        check(r["units_now"] and r["units_now"][0]["end_line"] == 3, r)
        check(open(os.path.join(mount, "src/extra.rs")).read() == "pub fn from_the_mount() -> u8 {\n    8\n}\n",
              "replace_unit seen through the mount")

        # Search (keyword: no wait for the embedder).
        s = await c.ok("search", query=WANT["query"], mode="keyword", limit=5)
        check(any(h["id"] == WANT["hit"] for h in s["hits"]), s)
        s = await c.ok("search", query=WANT["query"], path="src/**", kind="function", limit=3)
        check(len(s["hits"]) <= 3 and all(h["file"].startswith("src/") for h in s["hits"]), s)

        # Sessions and claims.
        created = await c.ok("session_create", name="side")
        check(created["name"] == "side", created)
        listed = await c.ok("session_list")
        check([x["name"] for x in listed["sessions"]] == ["side"], listed)
    async with Cortex(session="side") as side:
        await side.ok("edit_file", path="src/extra.rs", old_string="    8\n", new_string="    9\n")
        ch = await side.ok("session_changes")
        check(ch["files"] == [{"path": "src/extra.rs", "op": "modified",
                               "units": [{"id": "src/extra.rs::from_the_mount", "kind": "function", "change": "changed"}]}], ch)
        dif = await side.ok("diff")
        check([f["path"] for f in dif["files"]] == ["src/extra.rs"], dif)
        cl = await side.ok("claim", targets=["src/extra.rs"])
        check(cl["session"] == "side", cl)
        who = await side.ok("who_is_editing")
        check(any(x["target"] == "src/extra.rs" for x in who["claims"] + who["editing"]), who)
        rel = await side.ok("release")
        check(rel["session"] == "side", rel)
        pre = await side.ok("merge_preview")
        check(pre["taken"] == ["src/extra.rs"] and not pre["conflicts"] and pre["dry_run"], pre)
        conf = await side.ok("conflicts")
        check(conf["conflicts"] == [], conf)
        m = await side.ok("merge")
        check(m["taken"] == ["src/extra.rs"] and not m["closed"], m)
    check("9" in open(os.path.join(mount, "src/extra.rs")).read(), "merge seen in main's mount")
    print("tools: ok")


async def hostile():
    async with Cortex() as c:
        before = await tree_picture(c)
        paths = ["../etc/passwd", "/etc/passwd", "src/../../x", "a\x00b", "~root/.ssh", "x" * 5000,
                 "link_out/passwd", "link_out/../../etc", "src/../..", "bad/" + "n" * 300]
        # Where a write would plant code or reach a store: refused by default.
        for tool, args in [("write_file", {"path": ".git/hooks/pre-commit", "content": "#!/bin/sh\n"}),
                           ("write_file", {"path": ".git/config", "content": "[core]\n"}),
                           ("write_file", {"path": ".cortex/store/x", "content": "x"}),
                           ("move_path", {"from": "src/lib.rs", "to": ".git/hooks/post-checkout"})]:
            message = await c.error(tool, args)
            check("refused" in message, message)
        sql = ["'; REMOVE TABLE file; --", "\"; DELETE code_file; --", "$session", "`x`; DELETE meta;",
               "1; INFO FOR DB", "⟨x⟩ RETURN NONE"]
        huge = "y" * (5 << 20)
        path_args = {"read_file": ["path"], "write_file": ["path"], "edit_file": ["path"],
                     "list_dir": ["path"], "delete_path": ["path"], "move_path": ["from", "to"],
                     "list_units": ["path"], "dependencies": ["path"]}
        base = {"write_file": {"content": "x"}, "edit_file": {"old_string": "a", "new_string": "b"},
                "move_path": {"from": "src/lib.rs", "to": "moved.rs"}}
        count = 0
        for tool, keys in path_args.items():
            for key in keys:
                for p in paths:
                    args = dict(base.get(tool, {}))
                    args[key] = p
                    if tool == "move_path" and key == "from":
                        args["to"] = "safe.rs"
                    await c.error(tool, args)
                    count += 1
        id_tools = ["get_unit", "replace_unit", "callers", "callees"]
        for tool in id_tools:
            for bad in ["no::such::unit", "", "x" * 5000] + sql:
                args = {"id": bad}
                if tool == "replace_unit":
                    args["source"] = "fn x() {}"
                await c.error(tool, args)
                count += 1
        for s in sql:
            for tool, args in [("find_symbol", {"name": s}), ("impact", {"targets": [s]}),
                               ("read_file", {"path": s}), ("session_create", {"name": s}),
                               ("diff", {"session": s}), ("merge", {"session": s}),
                               ("merge_preview", {"session": s}), ("conflicts", {"session": s}),
                               ("claim", {"session": s, "targets": ["src/lib.rs"]}),
                               ("search", {"query": "x", "kind": s}), ("search", {"query": "x", "mode": s}),
                               ("session_changes", {"session": s})]:
                await c.error(tool, args)
                count += 1
            # Where any string is fine, the answer is ordinary and nothing changes.
            await c.ok("search", query=s, mode="keyword")
            await c.ok("who_is_editing", target=s)
        wrong_types = [("read_file", {"path": 7}), ("read_file", {"path": "src/lib.rs", "start_line": "one"}),
                       ("read_file", {"path": "src/lib.rs", "start_line": -3}), ("list_dir", {"limit": 10**9}),
                       ("write_file", {"path": "a.txt", "content": ["x"]}), ("impact", {"targets": "src/lib.rs"}),
                       ("delete_path", {"path": "src", "recursive": "yes"}), ("callers", {"id": {"$ne": 1}}),
                       ("list_dir", {"cursor": "zz"}), ("read_file", {"path": "src/lib.rs", "bogus": 1}),
                       ("search", {"query": ""}), ("search", {"query": "q" * 5000}), ("get_unit", {}),
                       ("no_such_tool", {}),
                       ("edit_file", {"path": "src/lib.rs", "old_string": "no such text", "new_string": "x"}),
                       ("read_file", {"path": "data.bin"}), ("read_file", {"path": "link_out"}),
                       ("write_file", {"path": "link_out", "content": "x"}), ("list_dir", {"path": "link_out"}), ("read_file", {"path": "src"}),
                       ("read_file", {"path": "src/lib.rs", "start_line": 100000}),
                       ("delete_path", {"path": "src"}), ("delete_path", {"path": ""}),
                       ("move_path", {"from": "src", "to": "src/inner"}),
                       ("move_path", {"from": "src/lib.rs", "to": "Cargo.toml"}),
                       ("list_dir", {"path": "src/lib.rs"}), ("session_create", {"name": "Bad Name"}),
                       ("diff", {}), ("merge", {}), ("claim", {"targets": ["x"]}), ("impact", {"targets": []}),
                       ("edit_file", {"path": "src/lib.rs", "old_string": "", "new_string": "x"}),
                       ("search", {"query": "x", "language": "cobol"})]
        for tool, args in wrong_types:
            await c.error(tool, args)
            count += 1
        if HTTP:
            # Over HTTP, a body over 4 MiB is refused before it is read whole.
            status, _, _ = await post(token(), tool_call("write_file", {"path": "big.txt", "content": huge}))
            check(status == 413, f"a 5 MiB body: {status}")
        else:
            await c.error("write_file", {"path": "big.txt", "content": huge})
        count += 1
        # Invalid UTF-8 cannot be sent through this client: tests/cli/mcp.rs
        # writes those bytes to the server itself.
        # Still serving, nothing changed.
        after = await tree_picture(c)
        check(before == after, "the tree changed under hostile input")
        listed = await c.ok("session_list")
        check(listed["sessions"] == [], listed)
        print(f"hostile: {count} calls refused, tree unchanged")


async def tree_picture(c, path=""):
    """Every file of the tree (through the tools) with its content."""
    out = {}
    listing = await c.ok("list_dir", path=path, limit=1000)
    for e in listing["entries"]:
        p = f"{path}/{e['name']}" if path else e["name"]
        if e["kind"] == "dir":
            out.update(await tree_picture(c, p))
        elif e["kind"] == "file":
            r = await c.raw("read_file", {"path": p})
            out[p] = "".join(getattr(x, "text", "") for x in r.content)
        else:
            out[p] = e["kind"]
    return out


async def agents(a, b):
    async with Cortex() as main:
        await main.ok("session_create", name=a)
        await main.ok("session_create", name=b)
    async with Cortex(session=a) as ca, Cortex(session=b) as cb:
        # Different functions of one file: both merge cleanly.
        await ca.ok("replace_unit", id="src/shapes.rs::area", source="pub fn area(w: u32, h: u32) -> u32 {\n    w.saturating_mul(h)\n}")
        await cb.ok("replace_unit", id="src/shapes.rs::perimeter", source="pub fn perimeter(w: u32, h: u32) -> u32 {\n    2 * w + 2 * h\n}")
        # The same function of another file: a conflict for whoever is second.
        await ca.ok("edit_file", path="src/units.rs", old_string="x * 1000", new_string="x * 1_000")
        await cb.ok("edit_file", path="src/units.rs", old_string="x * 1000", new_string="x.saturating_mul(1000)")
        pa = await ca.ok("merge_preview")
        check(sorted(pa["taken"]) == ["src/shapes.rs", "src/units.rs"] and pa["conflicts"] == [], pa)
        ma = await ca.ok("merge", session=a, keep=False)
        check(ma["conflicts"] == [] and ma["snapshot"] is not None, ma)
        pb = await cb.ok("merge_preview")
        check(pb["merged"] == ["src/shapes.rs"], pb)
        # Each merged file with the rule that merged it; no dangling calls.
        check(set(pb["rules"]) == {"src/shapes.rs"}, pb)
        check(pb["rules"]["src/shapes.rs"] in ("lines", "units"), pb)
        check(pb["warnings"] == [], pb)
        check([(x["path"], x["unit"]) for x in pb["conflicts"]] == [("src/units.rs", "src/units.rs::to_millis")], pb)
        mb = await cb.ok("merge")
        check(mb["snapshot"] is None and len(mb["conflicts"]) == 1, mb)
        conf = await cb.ok("conflicts")
        check(conf["conflicts"][0]["unit"] == "src/units.rs::to_millis", conf)
    async with Cortex() as main:
        shapes = (await main.ok("read_file", path="src/shapes.rs"))["content"]
        check("saturating_mul(h)" in shapes and "2 * w + 2 * h" not in shapes, shapes)
        units = (await main.ok("read_file", path="src/units.rs"))["content"]
        check("x * 1_000" in units, units)
    print("agents: ok")


async def memory(a, b):
    """One agent's session leaves a note and merges saying why; a second
    agent, in a session made after, recalls both by question and by unit."""
    unit = "src/shapes.rs::area"
    why = "stop area from wrapping around on very large layouts"
    async with Cortex() as main:
        await main.ok("session_create", name=a)
    async with Cortex(session=a) as ca:
        await ca.ok("replace_unit", id=unit, source="pub fn area(w: u32, h: u32) -> u32 {\n    w.saturating_mul(h)\n}")
        note = await ca.ok("remember", text="area saturates instead of overflowing: a huge canvas wrapped to a tiny one", units=[unit], tags=["fragile"])
        check(note["units"] == [unit] and not note["orphaned"] and note["view"] == a, note)
        async with Cortex() as main:
            seen = await main.ok("notes_of", unit=unit)
            check(seen["notes"] == [], f"main sees a session's note before its merge: {seen}")
        await ca.error("remember", {"text": "x" * 9000})
        await ca.error("remember", {"text": "t", "paths": ["../outside"]})
        merged = await ca.ok("merge", session=a, message=why)
        check(merged["snapshot"] is not None and merged["conflicts"] == [], merged)
    async with Cortex() as main:
        await main.ok("session_create", name=b)
    async with Cortex(session=b) as cb:
        on_unit = (await cb.ok("notes_of", unit=unit))["notes"]
        check(any(n["text"] == note["text"] and n["view"] == "main" for n in on_unit), on_unit)
        check(any(n["kind"] == "intent" and why in n["text"] for n in on_unit), on_unit)
        hits = (await cb.ok("recall", query="why can a big drawing surface not wrap around any more", limit=3))["notes"]
        check(any(n["text"] == note["text"] or why in n["text"] for n in hits), hits)
        fragile = (await cb.ok("recall", query="what is fragile here", tag="fragile"))["notes"]
        check([n["text"] for n in fragile] == [note["text"]], fragile)
        history = await cb.ok("unit_history", unit=unit)
        check(any(why in c["message"] for c in history["changes"]), history)
        # Its own note stays its own.
        mine = await cb.ok("remember", text="b was here", units=[unit])
        async with Cortex() as main:
            check(all(n["id"] != mine["id"] for n in (await main.ok("notes_of", unit=unit))["notes"]), "b's note leaked")
        gone = await cb.ok("forget", id=mine["id"])
        check(gone["removed"] == mine["id"], gone)
    print("memory: ok")


def tool_call(name, args, id=1):
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": args}}


async def post(bearer, message, client=None):
    """One raw POST to the server's /mcp: (status, headers, JSON body or None)."""
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    own = client is None
    client = client or httpx2.AsyncClient(timeout=60)
    try:
        r = await client.post(HTTP, json=message, headers=headers)
    finally:
        if own:
            await client.aclose()
    try:
        body = r.json()
    except Exception:
        body = None
    return r.status_code, r.headers, body


async def scrape(bearer):
    """/metrics, parsed by prometheus_client: {family name: family}."""
    url = HTTP.rsplit("/mcp", 1)[0] + "/metrics"
    async with httpx2.AsyncClient(timeout=60) as client:
        r = await client.get(url, headers={"Authorization": f"Bearer {bearer}"})
    check(r.status_code == 200, f"/metrics: {r.status_code} {r.text[:200]}")
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def sample(families, family, name, **labels):
    """The value of one sample, or None."""
    for s in families.get(family, type("none", (), {"samples": []})).samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


async def tokens():
    cortex("session", "new", "a")
    cortex("session", "new", "b")
    main_rw, main_ro = token(), token(None, "--read-only")
    a_merge, a_plain = token("a", "--merge"), token("a")
    revoked = token("a")
    revoked_id = json.loads(cortex("token", "list", "--json"))[-1]["id"]
    cortex("token", "revoke", revoked_id)
    listed = cortex("token", "list")
    check(main_rw not in listed and main_rw.split("_")[2] not in listed, "token list shows a secret")
    async with Cortex() as c:
        before = await tree_picture(c)
    read = tool_call("read_file", {"path": "src/lib.rs"})
    # Who you are: missing, wrong, revoked.
    for bearer, what in [(None, "no token"), ("nonsense", "garbage"), (main_rw[:-1] + ("1" if main_rw[-1] == "0" else "0"), "a wrong secret"),
                         (revoked, "a revoked token"), ("cortex_" + "0" * 12 + "_" + "0" * 64, "an unknown id")]:
        status, headers, body = await post(bearer, read)
        check(status == 401, f"{what}: {status}")
        check("bearer" in headers.get("www-authenticate", "").lower(), f"{what}: {dict(headers)}")
        check(body and "token" in body["error"]["message"], f"{what}: {body}")
    # What you may do: each refusal a 403 that says what to do.
    refusals = [
        (a_merge, tool_call("merge", {"session": "b"}), "only session a"),
        (a_merge, tool_call("diff", {"session": "b"}), "only session a"),
        (a_merge, tool_call("claim", {"session": "b", "targets": ["src/lib.rs"]}), "only session a"),
        (a_merge, tool_call("session_changes", {"session": "main"}), "only session a"),
        (a_merge, tool_call("session_create", {"name": "c"}), "token for main"),
        (main_ro, tool_call("write_file", {"path": "x.txt", "content": "x"}), "read-only"),
        (main_ro, tool_call("delete_path", {"path": "src", "recursive": True}), "read-only"),
        (main_ro, tool_call("session_create", {"name": "c"}), "read-only"),
        (main_rw, tool_call("merge", {"session": "a"}), "--merge"),
        (a_plain, tool_call("merge", {}), "--merge"),
        (a_plain, [tool_call("read_file", {"path": "src/lib.rs"}, 1), tool_call("merge", {}, 2)], "--merge"),
    ]
    for bearer, message, why in refusals:
        status, _, body = await post(bearer, message)
        check(status == 403, f"{message}: {status} {body}")
        check(why in body["error"]["message"], f"{message}: {body}")
    # What each may do, it does: a read with the read-only token, a write in
    # a's view with a's token (not in main's).
    status, _, body = await post(main_ro, read)
    check(status == 200 and "result" in body, f"a read-only read: {status} {body}")
    status, _, body = await post(a_plain, tool_call("write_file", {"path": "a.txt", "content": "a\n"}))
    check(status == 200 and not body["result"].get("isError"), f"a's write: {body}")
    async with Cortex() as c:
        after = await tree_picture(c)
        check(before == after, "main changed under refused calls")
        sessions = {s["name"]: s for s in (await c.ok("session_list"))["sessions"]}
        check(sorted(sessions) == ["a", "b"], sessions)
        check(sessions["b"]["changed_files"] == 0 and sessions["a"]["changed_files"] == 1, sessions)
    # Metrics: any valid token; parsed by prometheus_client, and counting.
    status, _, _ = await post(None, read)
    first = await scrape(main_ro)
    calls = sample(first, "cortex_mcp_tool_calls", "cortex_mcp_tool_calls_total", tool="read_file") or 0
    for _ in range(3):
        await post(main_ro, read)
    status, _, body = await post(main_ro, tool_call("read_file", {"path": "no/such/file.rs"}))
    check(status == 200 and body["result"].get("isError"), f"a missing file: {body}")
    again = await scrape(a_plain)
    check(sample(again, "cortex_mcp_tool_calls", "cortex_mcp_tool_calls_total", tool="read_file") == calls + 4,
          "read_file calls counted, the failed one too")
    check(sample(again, "cortex_mcp_tool_seconds", "cortex_mcp_tool_seconds_count", tool="read_file") == calls + 4,
          "read_file latency observed")
    check(sample(again, "cortex_mcp_http_refusals", "cortex_mcp_http_refusals_total", status="401") >= 6, "401s counted")
    check(sample(again, "cortex_mcp_http_refusals", "cortex_mcp_http_refusals_total", status="403") >= len(refusals),
          "403s counted")
    check(sample(again, "cortex_mcp_tool_errors", "cortex_mcp_tool_errors_total", tool="read_file") >= 1,
          "a failed read_file counted")
    for family, kind in [("cortex_fuse_op_seconds", "histogram"), ("cortex_flush_seconds", "histogram"),
                         ("cortex_commit_seconds", "histogram"), ("cortex_queue_depth", "gauge"),
                         ("cortex_cache_bytes", "gauge"), ("cortex_cache_lookups", "counter"),
                         ("cortex_resident_bytes", "gauge"), ("cortex_mcp_tool_errors", "counter")]:
        check(family in again and again[family].type == kind, f"{family} ({kind}) in /metrics: {sorted(again)}")
    check(sample(again, "cortex_fuse_op_seconds", "cortex_fuse_op_seconds_count", op="lookup") > 0, "FUSE lookups")
    check(sample(again, "cortex_commit_seconds", "cortex_commit_seconds_count") >= 1, "commits counted")
    check(sample(again, "cortex_resident_bytes", "cortex_resident_bytes") > 1e6, "resident memory")
    check(main_rw not in json.dumps([str(f.samples) for f in again.values()]), "a token in /metrics")
    async with httpx2.AsyncClient() as client:
        r = await client.get(HTTP.rsplit("/mcp", 1)[0] + "/metrics")
        check(r.status_code == 401, f"/metrics without a token: {r.status_code}")
    print(f"tokens: {len(refusals)} refusals and 5 unauthorised, nothing changed; metrics counted")


async def ratelimit():
    hammer, other = token(), token()
    read = tool_call("list_dir", {})
    async with httpx2.AsyncClient(timeout=60) as client:
        results = await asyncio.gather(*[post(hammer, read, client) for _ in range(60)])
    statuses = [s for s, _, _ in results]
    limited = [h for s, h, _ in results if s == 429]
    check(limited, f"no 429 in a burst of 60: {statuses}")
    check(all(int(h["retry-after"]) >= 1 for h in limited), "429 without Retry-After")
    check(set(statuses) <= {200, 429}, f"statuses {set(statuses)}")
    check(statuses.count(200) >= 1, "nothing served")
    # Still serving, and the other token is not held back by the first.
    status, _, body = await post(other, read)
    check(status == 200 and "result" in body, f"another token after the burst: {status} {body}")
    await asyncio.sleep(1.5)
    status, _, _ = await post(hammer, read)
    check(status == 200, f"the first token after its wait: {status}")
    print(f"ratelimit: {len(limited)} of 60 limited, the other token served")


WANT = json.loads(os.environ.get("CORTEX_MCP_WANT", "{}"))

if SCENARIO == "tools":
    asyncio.run(tools(EXTRA[0]))
elif SCENARIO == "hostile":
    asyncio.run(hostile())
elif SCENARIO == "agents":
    asyncio.run(agents(EXTRA[0], EXTRA[1]))
elif SCENARIO == "memory":
    asyncio.run(memory(EXTRA[0], EXTRA[1]))
elif SCENARIO == "tokens":
    asyncio.run(tokens())
elif SCENARIO == "ratelimit":
    asyncio.run(ratelimit())
else:
    raise SystemExit(f"unknown scenario {SCENARIO}")
