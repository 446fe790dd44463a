from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

from portfolio_lab import cli
from portfolio_lab.exceptions import InputError
from portfolio_lab.runner import (
    NotebookFailed,
    _params_for,
    _select,
    discover_notebooks,
    load_params,
    run_notebooks,
)

REPO = Path(__file__).resolve().parents[1]


def _notebook(path: Path, params: str, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# test"),
        nbformat.v4.new_code_cell("import math"),
        nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(body),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture()
def tiny_repo(tmp_path: Path) -> Path:
    nbdir = tmp_path / "notebooks"
    _notebook(
        nbdir / "programming" / "01_alpha.ipynb",
        'run = "x"\nresults_dir = "results"\nvalue = 1',
        "from pathlib import Path\np = Path(results_dir) / run / '01_alpha'\n"
        "p.mkdir(parents=True, exist_ok=True)\n(p / 'v.txt').write_text(str(value))",
    )
    _notebook(
        nbdir / "review" / "01_alpha_review.ipynb",
        'run = "x"\nresults_dir = "results"\nvalue = 1\nexpect = 1',
        "from pathlib import Path\n"
        "got = int((Path(results_dir) / run / '01_alpha' / 'v.txt').read_text())\n"
        "assert got == expect == value, (got, expect)",
    )
    _notebook(
        nbdir / "programming" / "02_beta.ipynb",
        'run = "x"\nresults_dir = "results"\nfail = False',
        "x = 1\nif fail:\n    raise ValueError('boom')",
    )
    params = {
        "run": "t",
        "common": {"value": 3, "unused": 1},
        "notebooks": {"01_alpha_review": {"expect": 3}, "02_beta": {"fail": False}},
    }
    (nbdir / "params").mkdir()
    (nbdir / "params" / "t.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def test_discover_orders_review_after_programming(tiny_repo: Path) -> None:
    names = [s.name for s in discover_notebooks(tiny_repo / "notebooks")]
    assert names == ["01_alpha", "01_alpha_review", "02_beta"]


def test_discover_rejects_orphan_review(tiny_repo: Path) -> None:
    _notebook(tiny_repo / "notebooks" / "review" / "09_x_review.ipynb", 'run = "x"', "1")
    with pytest.raises(InputError, match="09_x_review"):
        discover_notebooks(tiny_repo / "notebooks")


def test_params_only_declared_and_review_inherits(tiny_repo: Path) -> None:
    specs = discover_notebooks(tiny_repo / "notebooks")
    params = load_params(tiny_repo / "notebooks" / "params" / "t.yaml")
    review = _params_for(specs[1], params, "t", "res")
    assert review == {"run": "t", "results_dir": "res", "value": 3, "expect": 3}
    assert "unused" not in _params_for(specs[0], params, "t", "res")


def test_select_only(tiny_repo: Path) -> None:
    specs = discover_notebooks(tiny_repo / "notebooks")
    assert [s.name for s in _select(specs, ["01_alpha"])] == ["01_alpha", "01_alpha_review"]
    with pytest.raises(InputError, match="unknown notebook"):
        _select(specs, ["07_nope"])


def test_load_params_rejects_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("run: a\nnotebook: {}\n")
    with pytest.raises(InputError, match="unknown top-level"):
        load_params(tmp_path / "p.yaml")
    with pytest.raises(InputError, match="does not exist"):
        load_params(tmp_path / "missing.yaml")


@pytest.mark.notebooks
def test_run_executes_in_order_and_names_failing_cell(tiny_repo: Path) -> None:
    params = tiny_repo / "notebooks" / "params" / "t.yaml"
    results = tiny_repo / "results"
    summary = run_notebooks(
        params, results_dir=results, notebooks_dir=tiny_repo / "notebooks", progress=False
    )
    assert [p.name for p in summary.executed] == [
        "01_alpha.ipynb",
        "01_alpha_review.ipynb",
        "02_beta.ipynb",
    ]
    assert (results / "t" / "01_alpha" / "v.txt").read_text() == "3"
    data = yaml.safe_load(params.read_text())
    data["notebooks"]["02_beta"]["fail"] = True
    params.write_text(yaml.safe_dump(data))
    with pytest.raises(NotebookFailed, match=r"02_beta.*cell 4.*boom") as info:
        run_notebooks(
            params, results_dir=results, notebooks_dir=tiny_repo / "notebooks", progress=False
        )
    assert info.value.output.is_file()


def test_cli_reports_errors_with_nonzero_exit(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["run", "--params", "does/not/exist.yaml", "--no-progress"])
    assert code == 1
    assert "does not exist" in capsys.readouterr().err


def test_run_book_flag_builds_the_run_book_after_the_run(monkeypatch, tmp_path, capsys) -> None:
    from portfolio_lab import cli, runner

    calls = []

    def fake_run(params, **kwargs):
        calls.append(("run", params, kwargs["results_dir"]))
        return runner.RunSummary("ci", tmp_path / "ci", (), {})

    def fake_book(run, **kwargs):
        calls.append(("book", run, kwargs["results_dir"]))
        return tmp_path / "ci" / "book" / "_build" / "html"

    monkeypatch.setattr(runner, "run_notebooks", fake_run)
    monkeypatch.setattr(runner, "build_run_book", fake_book)
    argv = ["run", "--params", "notebooks/params/ci.yaml", "--results-dir", str(tmp_path), "--book"]
    assert cli.main(argv) == 0
    assert calls == [
        ("run", "notebooks/params/ci.yaml", str(tmp_path)),
        ("book", "ci", str(tmp_path)),
    ]
    assert "book built" in capsys.readouterr().out


# ------------------------------------------------------------------ issue 20: speed
def _statuses(results: Path, run: str = "t") -> dict[str, str]:
    import json

    data = json.loads((results / run / "timings.json").read_text())
    return {r["notebook"]: r["status"] for r in data["notebooks"]}


def _with_report(tiny_repo: Path) -> None:
    _notebook(
        tiny_repo / "notebooks" / "report.ipynb",
        'run = "x"\nresults_dir = "results"',
        "from pathlib import Path\nimport os\n"
        "v = (Path(results_dir) / run / '01_alpha' / 'v.txt').read_text()\n"
        "out = Path(results_dir) / run / 'report'\nout.mkdir(parents=True, exist_ok=True)\n"
        "(out / 'shown.txt').write_text(v)\n"
        "(out / 'threads.txt').write_text(os.environ.get('OMP_NUM_THREADS', 'unset'))",
    )


def test_resolve_jobs() -> None:
    from portfolio_lab.runner import resolve_jobs
    from portfolio_lab.timing import cpu_cores

    assert resolve_jobs(1, 12) == 1
    assert resolve_jobs(8, 3) == 3  # never more workers than independent chapters
    assert resolve_jobs("auto", 50) == cpu_cores()
    assert resolve_jobs(None, 1) == 1 and resolve_jobs("3", 5) == 3
    with pytest.raises(InputError, match="jobs"):
        resolve_jobs("many", 3)
    with pytest.raises(InputError, match="jobs"):
        resolve_jobs(-1, 3)


@pytest.mark.notebooks
def test_unchanged_notebooks_are_skipped_and_one_parameter_reruns_its_chapter(
    tiny_repo: Path,
) -> None:
    _with_report(tiny_repo)
    params = tiny_repo / "notebooks" / "params" / "t.yaml"
    results = tiny_repo / "results"
    kw = {"results_dir": results, "notebooks_dir": tiny_repo / "notebooks", "progress": False}
    first = run_notebooks(params, **kw)
    assert len(first.executed) == 4 and first.skipped == ()
    assert set(_statuses(results).values()) == {"executed"}
    # nothing changed: nothing runs
    second = run_notebooks(params, **kw)
    assert second.executed == () and len(second.skipped) == 4
    assert set(_statuses(results).values()) == {"unchanged"}
    # one parameter of one chapter: that chapter and its review rerun, and the report,
    # which reads every chapter's artifacts; the other chapter does not
    data = yaml.safe_load(params.read_text())
    data["notebooks"]["01_alpha"] = {"value": 5}
    data["notebooks"]["01_alpha_review"]["expect"] = 5
    params.write_text(yaml.safe_dump(data))
    third = run_notebooks(params, **kw)
    assert _statuses(results) == {
        "01_alpha": "executed",
        "01_alpha_review": "executed",
        "02_beta": "unchanged",
        "report": "executed",
    }
    assert (results / "t" / "report" / "shown.txt").read_text() == "5"
    assert third.skipped == ("02_beta",)
    # an artifact changed behind the runner's back (a tampered file): its writer runs
    # again and restores it; its readers then see exactly what they checked before
    (results / "t" / "01_alpha" / "v.txt").write_text("4")
    run_notebooks(params, **kw)
    st = _statuses(results)
    assert (
        st["01_alpha"] == "executed" and (results / "t" / "01_alpha" / "v.txt").read_text() == "5"
    )
    assert st["01_alpha_review"] == st["report"] == st["02_beta"] == "unchanged"
    # a review's own parameter changed: it reruns (and the report, which reads the
    # chapters' verdicts), its programming notebook does not
    data["notebooks"]["01_alpha_review"]["expect"] = 5.0
    params.write_text(yaml.safe_dump(data))
    run_notebooks(params, **kw)
    st = _statuses(results)
    assert st["01_alpha_review"] == st["report"] == "executed"
    assert st["01_alpha"] == st["02_beta"] == "unchanged"
    # the package's source is part of every hash; force reruns everything
    run_notebooks(params, force=True, **kw)
    assert set(_statuses(results).values()) == {"executed"}


@pytest.mark.notebooks
def test_parallel_run_orders_reviews_and_report_limits_threads_and_names_failures(
    tiny_repo: Path, monkeypatch
) -> None:
    import json

    import portfolio_lab.timing as timing

    _with_report(tiny_repo)
    _notebook(  # 01_alpha also says how many threads its kernel was given
        tiny_repo / "notebooks" / "programming" / "01_alpha.ipynb",
        'run = "x"\nresults_dir = "results"\nvalue = 1',
        "from pathlib import Path\nimport os\np = Path(results_dir) / run / '01_alpha'\n"
        "p.mkdir(parents=True, exist_ok=True)\n(p / 'v.txt').write_text(str(value))\n"
        "(p / 'threads.txt').write_text(os.environ.get('OMP_NUM_THREADS', 'unset'))",
    )
    monkeypatch.setattr(timing, "cpu_cores", lambda: 4)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    params = tiny_repo / "notebooks" / "params" / "t.yaml"
    results = tiny_repo / "results"
    kw = {"results_dir": results, "notebooks_dir": tiny_repo / "notebooks", "progress": False}
    summary = run_notebooks(params, jobs=2, **kw)
    assert summary.jobs == 2 and len(summary.executed) == 4
    data = json.loads(summary.timings.read_text())
    rows = {r["notebook"]: r for r in data["notebooks"]}
    assert data["jobs"] == 2 and data["threads_per_worker"] == 2
    # each review after its own notebook, the report after every chapter
    assert rows["01_alpha_review"]["started"] >= rows["01_alpha"]["finished"]
    assert rows["report"]["started"] >= max(rows[n]["finished"] for n in rows if n != "report")
    assert all(r["seconds"] > 0 for r in rows.values())
    # 4 cores for 2 workers: 2 BLAS/OpenMP threads per kernel while two chapters run; the
    # report, alone at the end, gets every core; the variables are restored
    assert (results / "t" / "01_alpha" / "threads.txt").read_text() == "2"
    assert (results / "t" / "report" / "threads.txt").read_text() == "4"
    assert rows["01_alpha"]["threads"] == 2 and rows["report"]["threads"] == 4
    assert "OMP_NUM_THREADS" not in __import__("os").environ
    assert "JUPYTER_PATH" not in __import__("os").environ
    # a failing chapter in a parallel run still names the notebook and the cell
    data = yaml.safe_load(params.read_text())
    data["notebooks"]["02_beta"]["fail"] = True
    params.write_text(yaml.safe_dump(data))
    with pytest.raises(NotebookFailed, match=r"02_beta.*cell 4.*boom"):
        run_notebooks(params, jobs=2, **kw)
    st = _statuses(results)
    assert st["02_beta"] == "failed" and st["report"] == "not run"


def test_cli_run_passes_jobs_and_force(monkeypatch, tmp_path) -> None:
    from portfolio_lab import runner

    seen = {}

    def fake_run(params, **kwargs):
        seen.update(kwargs)
        return runner.RunSummary("ci", tmp_path / "ci", (), {})

    monkeypatch.setattr(runner, "run_notebooks", fake_run)
    assert cli.main(["run", "--params", "x.yaml", "--jobs", "3", "--force"]) == 0
    assert seen["jobs"] == "3" and seen["force"] is True
    assert cli.main(["run", "--params", "x.yaml"]) == 0
    assert seen["jobs"] == "auto" and seen["force"] is False


def test_a_gathering_chapter_runs_after_every_earlier_one_and_hashes_their_artifacts(
    tiny_repo: Path, monkeypatch
) -> None:
    import json

    import portfolio_lab.runner as runner

    # 02_beta reads 01_alpha's artifacts (as chapter 13 reads chapters 07-12): never beside it
    monkeypatch.setattr(runner, "GATHERING", ("02_beta",))
    params = tiny_repo / "notebooks" / "params" / "t.yaml"
    results = tiny_repo / "results"
    kw = {"results_dir": results, "notebooks_dir": tiny_repo / "notebooks", "progress": False}
    summary = run_notebooks(params, jobs=2, **kw)
    rows = {r["notebook"]: r for r in json.loads(summary.timings.read_text())["notebooks"]}
    assert rows["02_beta"]["started"] >= rows["01_alpha"]["finished"]
    # a change of 01_alpha's artifacts reruns the gathering chapter too
    data = yaml.safe_load(params.read_text())
    data["common"]["value"] = 4
    data["notebooks"]["01_alpha_review"]["expect"] = 4
    params.write_text(yaml.safe_dump(data))
    again = run_notebooks(params, jobs=2, **kw)
    assert "02_beta" not in again.skipped and "01_alpha" not in again.skipped


def test_schedule_puts_the_gathering_chapters_inputs_first_and_longest_first() -> None:
    import threading

    from portfolio_lab.runner import NotebookSpec, _run_units, schedule_units

    def spec(topic: str, review: bool = False) -> NotebookSpec:
        name = f"{topic}_review" if review else topic
        return NotebookSpec(
            name, Path(f"{name}.ipynb"), "review" if review else "programming", topic
        )

    specs = [spec("01_a"), spec("01_a", True), spec("02_b"), spec("13_league_table"), spec("14_z")]
    expected = {"01_a": 10.0, "01_a_review": 5.0, "02_b": 100.0, "13_league_table": 30.0}
    expected["14_z"] = 50.0
    units = schedule_units(specs, expected)
    by = {u.spec.name: u for u in units}
    # a review waits for its notebook; chapter 13 for the programming notebooks before it
    # (not their reviews, not chapter 14)
    assert by["01_a_review"].after == [0]
    assert by["13_league_table"].after == [0, 2] and by["14_z"].after == []
    # priority: own seconds plus the longest chain that waits for it
    assert by["02_b"].priority == 130.0 and by["01_a"].priority == 40.0
    assert by["01_a_review"].priority == 5.0 and by["14_z"].priority == 50.0
    order: list[tuple[str, bool]] = []
    _run_units(units, 1, lambda c, wide: order.append((c[0].name, wide)), threading.Event())
    assert [t for t, _ in order] == ["02_b", "14_z", "01_a", "13_league_table", "01_a_review"]
    # only the last, with nothing beside it and nothing left, may take every core
    assert [w for _, w in order] == [False, False, False, False, True]
    # a stop (a failed notebook) leaves the rest unstarted
    stop, seen = threading.Event(), []

    def fail_first(c: list[NotebookSpec], wide: bool) -> None:
        seen.append(c[0].name)
        stop.set()

    _run_units(units, 2, fail_first, stop)
    assert len(seen) <= 2 and "13_league_table" not in seen


def test_plan_workers_balances_what_the_gathering_chapter_waits_for() -> None:
    from portfolio_lab.runner import NotebookSpec, plan_workers, schedule_units

    def spec(topic: str) -> NotebookSpec:
        return NotebookSpec(topic, Path(f"{topic}.ipynb"), "programming", topic)

    secs = {"01_a": 14.0, "02_b": 11.0, "03_c": 9.0, "04_d": 7.0, "05_e": 6.0}
    specs = [spec(t) for t in secs] + [spec("13_league_table"), spec("14_z")]
    units = schedule_units(specs, {**secs, "13_league_table": 3.0, "14_z": 5.0})
    plan = plan_workers(units, 2)
    loads = sorted(sum(units[i].seconds for i in own) for own in plan)
    # greedy longest-first ends at 14+7 = 21 against 11+9+6 = 26; the best split is 23 / 24
    assert loads == [23.0, 24.0]
    planned = sorted(i for own in plan for i in own)
    assert planned == [0, 1, 2, 3, 4]  # chapters 13 and 14 are left to whichever is free
    assert all(own == sorted(own, key=lambda i: -units[i].seconds) for own in plan)
    three = plan_workers(units, 3)  # more workers: longest first to the least loaded
    assert sorted(sum(units[i].seconds for i in own) for own in three) == [14.0, 16.0, 17.0]
