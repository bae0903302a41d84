#!/usr/bin/env bash
# Downloads the real code the tests read and nobody here wrote: npm packages
# (the Rust side reads crates from cargo's registry, which the build fills).
# Each tarball is checked against the integrity hash npm publishes for it,
# then unpacked to $CORTEX_FIXTURES (default ~/.cache/cortex-fixtures).
# Idempotent: what is there already is not fetched again.
set -euo pipefail
dest=${CORTEX_FIXTURES:-$HOME/.cache/cortex-fixtures}
mkdir -p "$dest/npm"
python3 - "$dest/npm" <<'PY'
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
