#!/usr/bin/env bash
# The Python the scripts use for references (issue 6's NumPy forward pass)
# as the MCP client of the tests (issue 7), and to parse /metrics (issue 21):
# a venv in ~/.cache/cortex-py with pinned numpy, safetensors and tokenizers
# from PyPI. Idempotent; prints the venv's python.
set -euo pipefail
venv="$HOME/.cache/cortex-py"
want="numpy==2.4.6 safetensors==0.8.0 tokenizers==0.23.3 mcp==2.3.0 jsonschema==4.26.0 prometheus-client==0.26.0"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
if [ "$(cat "$venv/.cortex-pins" 2>/dev/null)" != "$want" ]; then
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet $want >&2
  echo "$want" > "$venv/.cortex-pins"
fi
echo "$venv/bin/python"
