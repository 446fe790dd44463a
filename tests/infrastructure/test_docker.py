"""The image: hadolint-clean, one install path with make install, a command the CLI accepts."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib

from portfolio_lab.cli import _parser

from ._tools import INFRA, REPO, tool

DOCKERFILE = INFRA / "docker" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            rows.append((word.upper(), rest.strip()))
    return rows


def test_hadolint_passes() -> None:
    proc = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_would_catch_a_bad_instruction(tmp_path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text().replace("WORKDIR /app", "RUN cd /app"))
    proc = subprocess.run([tool("hadolint"), str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0 and "DL3003" in proc.stdout


def test_image_and_make_install_share_the_install_script() -> None:
    runs = [rest for word, rest in _instructions() if word == "RUN"]
    installs = [r for r in runs if "scripts/install.sh" in r]
    assert len(installs) == 1, "the image must install through scripts/install.sh, once"
    assert not any(re.search(r"\bpip3? install\b", r) for r in runs), "a second install path"
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^\t.*scripts/install\.sh .*--variant cpu", makefile, re.M)
    args = shlex.split(installs[0].split("scripts/install.sh", 1)[1])
    extras = set(args[args.index("--extras") + 1].split(","))
    assert {"review", "book", "rl"} <= extras
    assert args[args.index("--variant") + 1] == "${VARIANT}"


def test_review_notebooks_import_only_what_the_image_installs() -> None:
    import json

    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    installed = " ".join(meta["dependencies"] + meta["optional-dependencies"]["review"]).lower()
    module_to_dist = {
        "sklearn": "scikit-learn",
        "cvxpy": "cvxpy",
        "pywt": "pywavelets",
        "IPython": "ipykernel",
    }
    stdlib = {"json", "math", "itertools", "pathlib", "functools", "collections", "warnings"}
    for path in sorted((REPO / "notebooks").rglob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for module in set(re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]+)", code, re.M)):
            if module in stdlib or module == "portfolio_lab":
                continue
            dist = module_to_dist.get(module, module)
            assert dist in installed, f"{path.name} imports {module}, not in core or [review]"


def test_image_runs_as_a_non_root_user_with_the_cli_entry_point() -> None:
    rows = _instructions()
    users = [rest for word, rest in rows if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    entry = [rest for word, rest in rows if word == "ENTRYPOINT"][-1]
    assert entry == '["portfolio-lab"]'
    cmd = json_list([rest for word, rest in rows if word == "CMD"][-1])
    args = _parser().parse_args(cmd)
    assert args.command == "run" and args.book
    assert (REPO / args.params).is_file()


def test_build_argument_picks_cpu_or_gpu_base() -> None:
    text = DOCKERFILE.read_text()
    assert "ARG VARIANT=cpu" in text
    assert re.search(r"FROM \$\{GPU_BASE\} AS base-gpu", text)
    assert re.search(r"ARG GPU_BASE=nvidia/cuda:12[.0-9]*-runtime", text)
    assert "FROM base-${VARIANT}" in text


def test_install_script_rejects_unknown_variants() -> None:
    script = REPO / "scripts" / "install.sh"
    proc = subprocess.run(
        ["bash", str(script), "--variant", "tpu"], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 2 and "cpu or gpu" in proc.stderr
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def json_list(text: str) -> list[str]:
    import json

    value = json.loads(text)
    assert isinstance(value, list)
    return value
