"""scripts/gpu_check.sh: its structure (the dry run itself is `make gpu-check-dry`).

The dry run executes every step at tiny sizes on the CPU and is part of ``make test``; these
checks are the cheap part: the script parses, every step goes through the capped ``step``
runner, and bad arguments are refused.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"


def test_script_parses_and_refuses_unknown_arguments() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0
    bad = subprocess.run(["bash", str(SCRIPT), "--nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown argument" in bad.stderr
    helped = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--dry-run" in helped.stdout


def test_every_step_is_capped_and_recorded() -> None:
    text = SCRIPT.read_text()
    body = text[text.index("step() {") : text.index("\n}\n", text.index("step() {"))]
    assert 'timeout --kill-after=15 "$limit"' in body and '>> "$STEPS"' in body
    steps = re.findall(r"^step (\w+) \"\$\{CAPS\[(\d)\]\}\"", text, flags=re.M)
    names = [name for name, _ in steps]
    assert names == [
        "gpu_tests",
        "bench_frontier",
        "bench_backends",
        "bench_models",
        "chapter_03_gpu_yaml",
    ]
    # bench/layers.py is called only when it exists, through the same capped runner
    assert "if [ -f bench/layers.py ]" in text and "step bench_layers" in text
    # the GPU caps fit the 8-minute budget
    caps = re.search(r"^  CAPS=\(([\d ]+)\)\s+# \d+ s in all", text, flags=re.M)
    assert caps and sum(map(int, caps.group(1).split())) <= 480
    # no command runs outside a step, except the capped machine probe and summary
    for line in text.splitlines():
        if re.match(r'^\s*"\$(PY|BIN)', line):
            raise AssertionError(f"uncapped command: {line}")
