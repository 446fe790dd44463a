"""Kubernetes manifests: strict schema validation, and commands the CLI runs here too."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from portfolio_lab.cli import _parser, main
from portfolio_lab.sweep import load_grid, write_sweep

from ._tools import INFRA, tool

K8S = INFRA / "k8s"
MANIFESTS = sorted(K8S.glob("*.yaml")) + sorted((K8S / "lstm-sweep").glob("*.yaml"))
GRID = K8S / "grids" / "lstm-sweep.yaml"


def _validate(paths: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool("kubernetes-validate"), "--strict", *map(str, paths)], capture_output=True, text=True
    )


def test_every_manifest_passes_strict_validation() -> None:
    assert len(MANIFESTS) >= 4
    proc = _validate(MANIFESTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_strict_validation_rejects_an_unknown_field(tmp_path) -> None:
    bad = tmp_path / "job.yaml"
    bad.write_text(
        (K8S / "lstm-sweep" / "job.yaml").read_text().replace("parallelism:", "paralelism:")
    )
    proc = _validate([bad])
    assert proc.returncode != 0 and "paralelism" in proc.stdout + proc.stderr


def test_a_freshly_generated_sweep_validates_and_matches_the_committed_one(tmp_path) -> None:
    files = write_sweep(load_grid(GRID), tmp_path)
    manifests = [tmp_path / "configmap.yaml", tmp_path / "job.yaml"]
    proc = _validate(manifests)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path in files:
        committed = K8S / "lstm-sweep" / path.relative_to(tmp_path)
        assert committed.read_text() == path.read_text(), f"{committed} is stale: rerun sweep --out"


def test_indexed_job_one_gpu_per_completion_bounded_retry_non_root() -> None:
    job = yaml.safe_load((K8S / "lstm-sweep" / "job.yaml").read_text())
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == load_grid(GRID).size == 6
    assert spec["backoffLimitPerIndex"] >= 0
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert (
        container["resources"]["requests"]["memory"] == container["resources"]["limits"]["memory"]
    )
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/params", "/app/results"} <= mounts


def test_configmap_holds_one_parameter_file_per_completion_index() -> None:
    cm = yaml.safe_load((K8S / "lstm-sweep" / "configmap.yaml").read_text())
    assert sorted(cm["data"]) == [f"set-{k}.yaml" for k in range(6)]
    windows = {
        yaml.safe_load(v)["notebooks"]["10_lstm_sharpe"]["window"] for v in cm["data"].values()
    }
    assert windows == {30, 50}


def test_job_command_is_accepted_by_the_cli_for_every_index() -> None:
    job = yaml.safe_load((K8S / "lstm-sweep" / "job.yaml").read_text())
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[0] == "portfolio-lab"
    cm = yaml.safe_load((K8S / "lstm-sweep" / "configmap.yaml").read_text())
    for k in range(job["spec"]["completions"]):
        args = [a.replace("$(JOB_COMPLETION_INDEX)", str(k)) for a in command[1:]]
        parsed = _parser().parse_args(args)
        assert parsed.command == "run" and Path(parsed.params).name in cm["data"]


def test_cronjob_predicts_each_weekday_and_its_command_writes_json(tmp_path, monkeypatch) -> None:
    from portfolio_lab import data
    from portfolio_lab.models import LSTMSharpe

    cron = yaml.safe_load((K8S / "predict-cronjob.yaml").read_text())
    assert cron["spec"]["schedule"].split()[4] == "1-5"
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    command = container["command"]
    assert command[:2] == ["portfolio-lab", "predict"]
    # the same arguments on CI-sized inputs: a tiny saved model, the bundled closes for yahoo
    prices = data.load_prices("sp500", tickers=["AAPL", "KO", "XOM"], start="2021-01-01")
    model = tmp_path / "model"
    LSTMSharpe(window=8, hidden_size=4, epochs=2, batch_size=16, random_state=0).fit(prices).save(
        model
    )
    asked = {}
    real = data.load_prices

    def fake_yahoo(source, **kwargs):
        asked.update(source=source, **kwargs)
        return real("sp500", validate=False) if source == "yahoo" else real(source, **kwargs)

    monkeypatch.setattr(data, "load_prices", fake_yahoo)
    args = list(command[1:])
    args[args.index("--model") + 1] = str(model)
    out = tmp_path / "predictions"
    args[args.index("--out") + 1] = str(out)
    assert main(args) == 0
    assert asked["source"] == "yahoo" and asked["tickers"] == ["AAPL", "KO", "XOM"]
    latest = json.loads((out / "latest.json").read_text())
    assert latest["asof"] == "2022-12-28" and (out / "2022-12-28.json").is_file()
    assert sum(latest["weights"].values()) == pytest.approx(1.0)
