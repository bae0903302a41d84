"""The demo's MCP step: an agent's view of the tree through `cortex mcp`,
driven by the Python `mcp` client. Usage: mcp_demo.py CORTEX TREE"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

CORTEX, TREE = sys.argv[1], sys.argv[2]


async def main():
    params = StdioServerParameters(command=CORTEX, args=["mcp"], cwd=TREE, env=dict(os.environ))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        tools = (await s.list_tools()).tools
        print(f"{len(tools)} tools: {', '.join(t.name for t in tools)}")

        async def call(name, /, **args):
            r = await s.call_tool(name, args)
            out = r.structured_content if not r.is_error else r.content[0].text
            print(f"\n> {name} {json.dumps(args)}\n{json.dumps(out, indent=1)[:600]}")
            return out

        await call("find_symbol", name="spawn_blocking", limit=3)
        await call("search", query="run a closure on a thread where blocking is fine", limit=3)
        await call("write_file", path="src/agent_note.rs", content="//! Written by an agent through MCP.\n")
        await call("list_dir", path="src", limit=5)
        await call("edit_file", path="src/lib.rs", old_string="// an edit made outside", new_string="// an edit made outside, seen by an agent")


asyncio.run(main())
