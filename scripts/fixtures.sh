#!/usr/bin/env bash
# Downloads the real code the tests read and nobody here wrote: npm packages
# and PyPI source distributions (the Rust side reads crates from cargo's
# registry, which the build fills). Each tarball is checked against the hash
# its registry publishes for it, then unpacked to $CORTEX_FIXTURES (default
# ~/.cache/cortex-fixtures): npm/<name>-<version>/package/,
# pypi/<name>-<version>/.
# Idempotent: what is there already is not fetched again.
set -euo pipefail
dest=${CORTEX_FIXTURES:-$HOME/.cache/cortex-fixtures}
mkdir -p "$dest/npm" "$dest/pypi"
python3 - "$dest/npm" "$dest/pypi" <<'PY'
import base64, hashlib, io, os, sys, tarfile, urllib.request

PACKAGES = [
    # name, version, sha512 integrity from the npm registry
    ("express", "4.21.2", "28HqgMZAmih1Czt9ny7qr6ek2qddF4FclbMzwhCREB6OFfH+rXAnuNCwo1/wFvrtbgsQDb4kSbX9de9lFbrXnA=="),
    ("commander", "12.1.0", "Vw8qHK3bZM9y/P10u3Vib8o/DdkvA2OtPtZvD871QKjy74Wj1WSKFILMPRPSdUSx5RFK1arlJzEtA4PkFgnbuA=="),
    ("semver", "7.6.3", "oVekP1cKtI+CTDvHWYFUcMtsK/00wmAEfyqKfNdARm8u1wNVhSgaX7A8d4UuIlUI5e84iEwOhs7ZPYRmzU9U6A=="),
    ("ms", "2.1.3", "6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA=="),
    # TypeScript packages that ship their .ts sources
    ("rxjs", "7.8.1", "AA3TVj+0A2iuIoQkWEK/tqFjBq2j+6PO6Y0zJcvzLAFhEFIO3HL0vls9hWLncZbAAbK0mar7oZ4V079I/qPMxg=="),
    ("mobx", "6.13.5", "/HTWzW2s8J1Gqt+WmUj5Y0mddZk+LInejADc79NJadrWla3rHzmRHki/mnEUH1AvOmbNTZ1BRbKxr8DSgfdjMA=="),
    ("immer", "10.1.1", "s2MPrmjovJcoMaHtx6K11Ra7oD05NT97w1IC5zpMkT6Atjr7H8LjaDd81iIxUYpMKSRRNMJE703M1Fhr/TctHw=="),
]
SDISTS = [
    # name, version, where PyPI keeps the sdist, its sha256 from PyPI's index
    ("flask", "3.0.3", "41/e1/d104c83026f8d35dfd2c261df7d64738341067526406b40190bc063e829a", "ceb27b0af3823ea2737928a4d99d125a06175b8512c445cbd9a9ce200ef76842"),
    ("click", "8.1.7", "96/d3/f04c7bfcf5c1862a2a5b845c6b2b360488cf47af55dfa79c98f6a6bf98b5", "ca9853ad459e787e2192211578cc907e7594e294c7ccc834310722b41b9ca6de"),
    ("requests", "2.32.3", "63/70/2bf7780ad2d390a8d301ad0b550f1581eadbd9a20f896afe06353c2a2913", "55365417734eb18255590a9ff9eb97e9e1da868d4ccd6402399eaf68af20a760"),
]
pypi = sys.argv[2]
for name, version, where, sha256 in SDISTS:
    target = os.path.join(pypi, f"{name}-{version}")
    if os.path.isdir(target):
        continue
    url = f"https://files.pythonhosted.org/packages/{where}/{name}-{version}.tar.gz"
    data = urllib.request.urlopen(url, timeout=60).read()
    if hashlib.sha256(data).hexdigest() != sha256:
        sys.exit(f"fixtures: {name}=={version} does not match its published sha256")
    tmp = target + ".partial"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(tmp, filter="data")
    # The sdist holds one directory, name-version/.
    os.rename(os.path.join(tmp, f"{name}-{version}"), target)
    os.rmdir(tmp)
    print(f"fixtures: {name}=={version} unpacked", file=sys.stderr)

root = sys.argv[1]
for name, version, integrity in PACKAGES:
    target = os.path.join(root, f"{name}-{version}")
    if os.path.isdir(target):
        continue
    url = f"https://registry.npmjs.org/{name}/-/{name}-{version}.tgz"
    data = urllib.request.urlopen(url, timeout=60).read()
    digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != integrity:
        sys.exit(f"fixtures: {name}@{version} does not match its published integrity hash")
    tmp = target + ".partial"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(tmp, filter="data")
    os.rename(tmp, target)
    print(f"fixtures: {name}@{version} unpacked", file=sys.stderr)
PY
