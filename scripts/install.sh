#!/usr/bin/env bash
# The one install path of portfolio-lab: `make install` and the Docker image both call it.
#
#   scripts/install.sh [--python PY] [--venv DIR] [--variant cpu|gpu] [--extras LIST] [--editable]
#
# It creates the virtual environment DIR (default .venv), pins torch before anything else can
# pull another build, then installs the package with the given extras (comma-separated).
#   cpu: torch==$TORCH_VERSION, the CPU build (from $TORCH_CPU_INDEX when that is set,
#        e.g. the PyTorch CPU wheel index in the image; else the default index)
#   gpu: torch==$TORCH_VERSION, the CUDA build of the default index, and the "gpu" extra (CuPy)
set -euo pipefail

python=${PYTHON:-python3}
venv=.venv
variant=cpu
extras=""
editable=0
torch_version=${TORCH_VERSION:-2.13.0}

usage() { sed -n '2,10p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --python) python=$2; shift 2 ;;
    --venv) venv=$2; shift 2 ;;
    --variant) variant=$2; shift 2 ;;
    --extras) extras=$2; shift 2 ;;
    --editable) editable=1; shift ;;
    -h|--help) usage ;;
    *) echo "install.sh: unknown argument $1" >&2; usage ;;
  esac
done
case "$variant" in
  cpu|gpu) ;;
  *) echo "install.sh: --variant must be cpu or gpu, not '$variant'" >&2; exit 2 ;;
esac
if [ "$variant" = gpu ]; then
  extras=${extras:+$extras,}gpu
fi

cd "$(dirname "$0")/.."
"$python" -m venv "$venv"
pip=("$venv/bin/pip" install --quiet --disable-pip-version-check)
if [ "$variant" = cpu ] && [ -n "${TORCH_CPU_INDEX:-}" ]; then
  "${pip[@]}" "torch==$torch_version" --index-url "$TORCH_CPU_INDEX"
else
  "${pip[@]}" "torch==$torch_version"
fi
target=".${extras:+[$extras]}"
if [ "$editable" = 1 ]; then
  "${pip[@]}" -e "$target"
else
  "${pip[@]}" "$target"
fi
# qpth (OptNet's batched QP solver), a peer of bench/layers.py: its own requirements would
# replace the pinned numpy, so it goes in without them (it needs only torch and numpy)
case ",$extras," in
  *,bench,*) "${pip[@]}" --no-deps "qpth==0.0.18" ;;
esac
echo "install.sh: $variant install of $target into $venv"
