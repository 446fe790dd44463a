#!/usr/bin/env bash
# One prepared GPU check (issue 20): every GPU measurement the project wants, in <= 8 minutes
# on one GPU, safe to run once and unattended.
#
#   scripts/gpu_check.sh              # on the GPU machine, after `make install` (+ the [gpu] extra)
#   scripts/gpu_check.sh --dry-run    # the same steps at tiny sizes on the CPU (part of make test)
#
# Steps (each capped with `timeout`; a failing or timed-out step is recorded and the next one
# runs): the GPU-marked tests; bench/frontier.py on CuPy and torch-CUDA up to n = 5000;
# bench/backends.py; bench/layers.py when it exists; bench/models.py (LSTMSharpe epochs,
# EIIE / LSTM training steps/s); one short chapter of notebooks/params/gpu.yaml through the
# runner. Writes results/benchmarks/*_<gpu machine>.json and a one-page summary
# results/benchmarks/gpu_check_<gpu machine>.md (+ .json with every step's status).
# --dry-run hides the GPU, uses tiny sizes and writes everything under --out (default
# results/_gpu_check_dry), never under results/benchmarks; it exits 1 when any step failed,
# so the script cannot rot unnoticed. Options: --out DIR, --python PATH, --budget-scale X
# (multiplies every cap; default 1).
set -u -o pipefail

DRY=0
OUT=""
PY=""
SCALE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --out) OUT="$2"; shift ;;
    --python) PY="$2"; shift ;;
    --budget-scale) SCALE="$2"; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
if [ -z "$PY" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY="$(command -v python3)"; fi
fi
BIN="$(dirname "$PY")"

if [ "$DRY" = 1 ]; then
  export CUDA_VISIBLE_DEVICES=""   # the CPU, even on a GPU machine
  OUT="${OUT:-$ROOT/results/_gpu_check_dry}"
  MACHINE="dryrun-cpu"
  BENCH_OUT="$OUT/benchmarks"
else
  OUT="${OUT:-$ROOT/results/_gpu_check}"
  MACHINE="$(timeout 60 "$PY" -c 'from portfolio_lab.timing import machine_name; print(machine_name())' 2>/dev/null || echo unknown-gpu)"
  BENCH_OUT="$ROOT/results/benchmarks"
fi
mkdir -p "$OUT/logs" "$BENCH_OUT"
STEPS="$OUT/steps.tsv"
printf 'step\tcap_s\trc\tseconds\tstatus\tlog\n' > "$STEPS"
START=$(date +%s)

cap() {  # a step's cap in seconds, scaled
  awk -v c="$1" -v s="$SCALE" 'BEGIN { printf "%d", c * s }'
}

step() {  # step NAME CAP_SECONDS COMMAND...: run capped, record, never abort the script
  local name="$1" limit
  limit="$(cap "$2")"
  shift 2
  local log="$OUT/logs/$name.log" t0 t1 rc status
  echo "== $name (cap ${limit} s): $*"
  t0=$(date +%s)
  timeout --kill-after=15 "$limit" "$@" > "$log" 2>&1
  rc=$?
  t1=$(date +%s)
  case "$rc" in
    0) status=ok ;;
    124|137) status=timeout ;;
    *) status=failed ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$limit" "$rc" "$((t1 - t0))" "$status" "$log" >> "$STEPS"
  echo "   $status (rc $rc) in $((t1 - t0)) s; log $log"
  tail -n 3 "$log" | sed 's/^/   | /'
}

skip() {  # skip NAME REASON
  printf '%s\t0\t-\t0\tskipped\t%s\n' "$1" "$2" >> "$STEPS"
  echo "== $1: skipped ($2)"
}

if [ "$DRY" = 1 ]; then
  FRONTIER_ARGS=(--no-peers --sizes 20 60 --backends numpy torch-cpu --cap 5)
  BACKENDS_ARGS=(--sizes 20 60 --repeats 1 --targets 5)
  MODELS_ARGS=(--epochs 1 --repeats 1 --quick)
  CHAPTER_ARGS=(--backend numpy)
  CAPS=(120 240 120 120 300 240)   # generous on a shared 2-core machine
else
  FRONTIER_ARGS=(--no-peers --sizes 500 2000 5000 --backends numpy cupy torch-cuda --cap 20)
  BACKENDS_ARGS=(--sizes 500 2000 --repeats 3)
  MODELS_ARGS=(--epochs 20 --repeats 2)
  CHAPTER_ARGS=()
  CAPS=(60 100 75 90 90 60)        # 475 s in all: within the 8-minute budget
fi

# 1. the GPU-marked tests (they skip with a reason when no GPU is visible)
step gpu_tests "${CAPS[0]}" "$BIN/pytest" -m gpu -q -p no:randomly -p no:cacheprovider tests

# 2. frontier: portfolio-lab's backends on CuPy and torch-CUDA up to n = 5000
step bench_frontier "${CAPS[1]}" "$PY" bench/frontier.py "${FRONTIER_ARGS[@]}" \
  --machine "$MACHINE" --out "$BENCH_OUT" --no-progress

# 3. backends: closed-form frontier and Newton on every backend
step bench_backends "${CAPS[2]}" "$PY" bench/backends.py "${BACKENDS_ARGS[@]}" \
  --machine "$MACHINE" --out "$BENCH_OUT" --no-progress

# 4. layers (another branch adds bench/layers.py): only when it exists, with the flags it has
if [ -f bench/layers.py ]; then
  HELP="$(timeout 60 "$PY" bench/layers.py --help 2>&1 || true)"
  LAYERS_ARGS=()
  case "$HELP" in *--out*) LAYERS_ARGS+=(--out "$BENCH_OUT") ;; esac
  case "$HELP" in *--machine*) LAYERS_ARGS+=(--machine "$MACHINE") ;; esac
  if [ "$DRY" = 1 ]; then
    case "$HELP" in *--quick*) LAYERS_ARGS+=(--quick) ;; esac
  else
    # issue 17's GPU goal: a batch of 4 096 problems at n = 500 (forward + backward) on CUDA
    case "$HELP" in *--device*) LAYERS_ARGS+=(--device cuda --sizes 100 500 --batch 4096) ;; esac
  fi
  step bench_layers "${CAPS[3]}" "$PY" bench/layers.py "${LAYERS_ARGS[@]}"
else
  skip bench_layers "bench/layers.py does not exist on this branch"
fi

# 5. learned models: LSTMSharpe epochs and EIIE / LSTM training steps/s
step bench_models "${CAPS[4]}" "$PY" bench/models.py "${MODELS_ARGS[@]}" \
  --machine "$MACHINE" --out "$BENCH_OUT"

# 6. one short chapter of gpu.yaml end to end through the runner (its review included)
step chapter_03_gpu_yaml "${CAPS[5]}" "$BIN/portfolio-lab" run --params notebooks/params/gpu.yaml \
  --only 03_lagrange "${CHAPTER_ARGS[@]}" --results-dir "$OUT/runs" --force --jobs 1 --no-progress

# the one-page summary (capped too; it reads what the steps wrote)
TOTAL=$(( $(date +%s) - START ))
timeout 60 "$PY" - "$STEPS" "$BENCH_OUT" "$MACHINE" "$DRY" "$TOTAL" "$OUT" <<'PYEOF'
import csv
import json
import sys
from pathlib import Path

steps_file, bench, machine, dry, total, out = sys.argv[1:7]
bench = Path(bench)
steps = list(csv.DictReader(open(steps_file), delimiter="\t"))
lines = [
    f"# GPU check on {machine}" + (" (dry run: tiny sizes, CPU)" if dry == "1" else ""),
    "",
    f"Wall time {int(total)} s. Steps (each capped; a failure does not stop the next):",
    "",
    "| step | status | seconds | cap | log |",
    "|---|---|---|---|---|",
]
for s in steps:
    lines.append(f"| {s['step']} | {s['status']} | {s['seconds']} | {s['cap_s']} | {s['log']} |")


def load(name):
    path = bench / f"{name}_{machine}.json"
    try:
        return json.loads(path.read_text()), path
    except (OSError, ValueError):
        return None, path


lines += ["", "## Headline numbers (medians, from the JSON files)", ""]
fr, path = load("frontier")
if fr:
    lines.append(f"Frontier ({path.name}), seconds per call:")
    lines.append("")
    lines.append("| n | case | backend | seconds | max weight error |")
    lines.append("|---|---|---|---|---|")
    for r in fr.get("results", []):
        if "seconds" in r and r["method"].startswith("portfolio-lab"):
            err = r.get("max_abs_weight_error")
            err = f"{err:.1e}" if isinstance(err, float) else str(err)
            lines.append(
                f"| {r['n']} | {r['case']} | {r['method']} | {r['seconds']:.4g} | {err} |"
            )
else:
    lines.append(f"Frontier: no {path.name}")
be, path = load("backends")
if be:
    lines += ["", f"Backends ({path.name}):", ""]
    for r in be.get("results", []):
        lines.append(f"- {r['task']} {r['backend']} n={r['n']}: {r['median_s']:.4g} s")
else:
    lines.append(f"\nBackends: no {path.name}")
mo, path = load("models")
if mo:
    lines += ["", f"Learned models ({path.name}):", ""]
    for e in mo.get("eiie", []):
        rate = e.get("steps_per_second_median")
        lines.append(f"- EIIE {e.get('network')} {e.get('device')}: {rate:.0f} steps/s")
    for r in mo.get("runs", []):
        lines.append(
            f"- LSTMSharpe {r.get('device')} threads={r.get('threads')}: "
            f"epoch {r.get('seconds_per_epoch_median', float('nan')):.3f} s"
        )
else:
    lines.append(f"\nLearned models: no {path.name}")
la, path = load("layers")
lines.append(f"\nLayers: {path.name} written" if la else f"\nLayers: no {path.name}")
failed = [s["step"] for s in steps if s["status"] in ("failed", "timeout")]
lines += ["", f"Failed or timed out: {', '.join(failed) if failed else 'none'}."]
text = "\n".join(lines) + "\n"
(bench / f"gpu_check_{machine}.md").write_text(text)
(bench / f"gpu_check_{machine}.json").write_text(
    json.dumps({"machine": machine, "dry_run": dry == "1", "wall_seconds": int(total),
                "steps": steps}, indent=2)
)
print(text)
PYEOF
SUMMARY_RC=$?
BAD=$(awk -F'\t' 'NR > 1 && ($5 == "failed" || $5 == "timeout") { n++ } END { print n + 0 }' "$STEPS")
echo "gpu_check: $BAD step(s) failed or timed out; summary $BENCH_OUT/gpu_check_$MACHINE.md"
if [ "$BAD" -gt 0 ] || [ "$SUMMARY_RC" -ne 0 ]; then
  exit 1
fi
exit 0
