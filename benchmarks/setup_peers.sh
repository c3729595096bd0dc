#!/usr/bin/env bash
# Create benchmarks/.venv-peers with the four peer scanners pinned in requirements-peers.txt.
#
# Why a separate venv: the peers' dependency trees (modelaudit alone pulls ~90 packages, including
# cloud SDKs) must not leak into mlvet's environment, where they could hide a missing dependency of
# mlvet or change its import time.
#
# torch: no peer's base install requires it, but modelaudit reads torch checkpoints differently
# when torch is importable: without it, every torch.save file gets a WARNING ("source-backed
# allowlisted global without inert import initialization proof: torch._utils._rebuild_tensor_v2")
# and exit 1.  Peers get their best configuration, so torch==2.13.0 (the local wheel; never another
# version) is installed into the venv first.  `--no-torch` skips it (use a fresh venv: it does not uninstall).
# The guard at the end fails if anything ever pulls in a different torch.
set -euo pipefail

with_torch=1
if [[ "${1:-}" == "--no-torch" ]]; then
  with_torch=0
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${MLVET_BENCH_PEER_VENV:-$here/.venv-peers}"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
if [[ "$with_torch" == 1 ]]; then
  "$venv/bin/python" -m pip install --quiet torch==2.13.0
fi
"$venv/bin/python" -m pip install --quiet -r "$here/requirements-peers.txt"

torch_version="$("$venv/bin/python" -c 'import importlib.metadata as m
try:
    print(m.version("torch"))
except m.PackageNotFoundError:
    print("")')"
if [[ -n "$torch_version" && "$torch_version" != 2.13.0* ]]; then
  echo "error: a peer pulled torch $torch_version into $venv; only torch==2.13.0 is allowed" >&2
  exit 1
fi

for tool in picklescan modelscan fickling modelaudit; do
  if [[ ! -x "$venv/bin/$tool" ]]; then
    echo "error: $tool console script missing from $venv/bin" >&2
    exit 1
  fi
done
"$venv/bin/python" - <<'EOF'
import importlib.metadata as m
for name in ("picklescan", "modelscan", "fickling", "modelaudit", "torch"):
    try:
        print(f"{name}=={m.version(name)}")
    except m.PackageNotFoundError:
        print(f"{name}: not installed")
EOF
echo "peers ready in $venv"
