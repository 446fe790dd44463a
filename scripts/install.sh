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
target=".${extras:+[$extras]}"
editable_flag=()
if [ "$editable" = 1 ]; then editable_flag=(-e); fi

# uv (from PyPI) installs the same requirements as pip over twice as fast (46 s cold against
# 112 s for the dev,book,bench,rl extras on the 2-core CI machine). It is handed pip's own
# configuration (indexes, find-links, constraints, certificate) and pip's resolution rule
# (best match over all indexes); INSTALL_WITH_UV=0, or any failure, takes the pip path.
pip_config() {  # value of a pip setting (the last one pip lists wins), or nothing
  "$venv/bin/pip" config list 2>/dev/null | sed -n "s/^[^=]*\.$1='\(.*\)'\$/\1/p" | tail -n 1
}
with_uv() {
  # a separate torch index (the image's CPU wheels) keeps pip's exact index rule: pip path
  if [ -n "${TORCH_CPU_INDEX:-}" ]; then return 1; fi
  "${pip[@]}" uv || return 1
  local uv=("$venv/bin/uv" pip install --python "$venv/bin/python" --quiet
            --index-strategy unsafe-best-match --compile-bytecode)
  local word
  for word in $(pip_config find-links); do uv+=(--find-links "$word"); done
  for word in $(pip_config index-url); do uv+=(--index-url "$word"); done
  for word in $(pip_config extra-index-url); do uv+=(--extra-index-url "$word"); done
  for word in $(pip_config constraint); do uv+=(--constraint "$word"); done
  local cert
  cert=$(pip_config cert)
  if [ -n "$cert" ]; then export SSL_CERT_FILE=$cert; fi
  "${uv[@]}" "torch==$torch_version" || return 1
  "${uv[@]}" "${editable_flag[@]}" "$target" || return 1
  case ",$extras," in
    *,bench,*) "${uv[@]}" --no-deps "qpth==0.0.18" || return 1 ;;
  esac
  "$venv/bin/python" -c "import torch, portfolio_lab" || return 1
}
with_pip() {
  if [ "$variant" = cpu ] && [ -n "${TORCH_CPU_INDEX:-}" ]; then
    "${pip[@]}" "torch==$torch_version" --index-url "$TORCH_CPU_INDEX"
  else
    "${pip[@]}" "torch==$torch_version"
  fi
  "${pip[@]}" "${editable_flag[@]}" "$target"
  # qpth (OptNet's batched QP solver), a peer of bench/layers.py: its own requirements would
  # replace the pinned numpy, so it goes in without them (it needs only torch and numpy)
  case ",$extras," in
    *,bench,*) "${pip[@]}" --no-deps "qpth==0.0.18" ;;
  esac
}
if [ "${INSTALL_WITH_UV:-1}" = 1 ] && with_uv; then
  installer=uv
else
  if [ "${INSTALL_WITH_UV:-1}" = 1 ]; then echo "install.sh: uv failed, installing with pip" >&2; fi
  with_pip
  installer=pip
fi
echo "install.sh: $variant install of $target into $venv ($installer)"
