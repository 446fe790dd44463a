"""Run the programming and review notebooks with papermill, and build the book.

A *run* is one execution of the notebooks with one parameter file. The runner reads
``notebooks/params/<run>.yaml``, executes each programming notebook and then its review in
numeric order, writes the executed copies to ``results/<run>/notebooks/{programming,review}/``
(the notebooks themselves write their artifacts to ``results/<run>/<NN_topic>/``), and stops
at the first failure with a :class:`NotebookFailed` that names the notebook and the cell.

Speed (issue 20). ``jobs > 1`` runs independent chapters concurrently (each chapter's
programming notebook, then its review, in one worker; the executive summary and its review
last, alone), with the BLAS/OpenMP thread variables of the kernels set to
``cores // jobs``. Each notebook is scheduled on its own: a review after its programming
notebook (on whichever worker is free), a gathering chapter (:data:`GATHERING`) after the
programming notebooks numbered before it; workers take the ready notebook with the longest
expected path to the end of the run first (its last time in this run folder, else the
committed book-build benchmark), and a notebook that starts with nothing beside it and nothing
left to start gets every core (a kernelspec copy whose ``env`` sets the thread variables, see
:func:`schedule_units`).

A notebook whose inputs are unchanged since its last successful run in the
same run folder is not executed again: its *input hash* (notebook source, the parameters it
receives, the package's source including the bundled data, and the data it reads: the files
its chapter's notebooks wrote, plus ``results/benchmarks/`` and the yfinance cache when its
source mentions them) is recorded beside its artifacts
(``<run>/<topic>/.runner-<name>.json``, with the files it wrote). ``force=True`` reruns
everything. Each run writes ``<run>/timings.json``: per notebook its status (``executed``,
``unchanged``, ``failed``, ``not run``) and seconds, and per chapter the seconds it costs.

Parameter file layout::

    run: default
    common: {backend: numpy}              # given to every notebook that declares the name
    notebooks:
      03_lagrange: {target_return: 0.0008}
      03_lagrange_review: {tol: 1.0e-6}   # a review also receives its programming entries
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exceptions import InputError, PortfolioLabError

__all__ = [
    "NotebookSpec",
    "NotebookFailed",
    "RunSummary",
    "repo_root",
    "discover_notebooks",
    "load_params",
    "notebook_parameters",
    "run_notebooks",
    "resolve_jobs",
    "schedule_units",
    "plan_workers",
    "input_hash",
    "TIMINGS_FILE",
    "THREAD_VARIABLES",
    "build_book",
    "build_run_book",
]

_NAME = re.compile(r"^(\d{2})_[a-z0-9_]+$")
#: The executive summary, ``notebooks/report.ipynb``, with its review ``review/report_review``.
REPORT = "report"
#: Chapters that read the artifacts of every programming notebook before them (chapter 13's
#: league table reuses chapter 10's schedules and counts the trials of chapters 07-12): their
#: programming notebook runs after all earlier programming notebooks have finished, never
#: beside them, and its input hash covers those notebooks' artifacts, as the report's covers
#: every notebook's.
GATHERING = ("13_league_table",)
#: Per-notebook seconds of a run, written to ``<results_dir>/<run>/timings.json``.
TIMINGS_FILE = "timings.json"
#: Thread-count variables set for the kernels when several notebooks run at once.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
)
_RECORD = ".runner-{name}.json"


class NotebookFailed(PortfolioLabError, RuntimeError):
    """A notebook raised while papermill executed it."""

    def __init__(self, notebook: str, cell: int | None, error: str, output: Path) -> None:
        where = f"cell {cell} (0-based index)" if cell is not None else "an unknown cell"
        super().__init__(
            f"notebook {notebook!r} failed in {where}: {error}\n"
            f"  executed copy with the traceback: {output}"
        )
        self.notebook = notebook
        self.cell = cell
        self.error = error
        self.output = output


@dataclass(frozen=True)
class NotebookSpec:
    """One notebook of the repository.

    Attributes
    ----------
    name : str
        File stem, e.g. ``"03_lagrange"`` or ``"03_lagrange_review"``.
    path : pathlib.Path
        Source ``.ipynb`` path.
    track : {"programming", "review", "report"}
        Which track the notebook belongs to.
    topic : str
        Stem of the programming notebook it belongs to (itself for programming notebooks).
    """

    name: str
    path: Path
    track: str
    topic: str


@dataclass(frozen=True)
class RunSummary:
    """What a call to :func:`run_notebooks` executed.

    Attributes
    ----------
    run : str
        Run name.
    results_dir : pathlib.Path
        The run folder.
    executed : tuple of pathlib.Path
        Executed copies of the notebooks that ran, in run order.
    seconds : dict of str to float
        Wall seconds of each executed notebook.
    skipped : tuple of str
        Notebooks not executed because their inputs were unchanged.
    jobs : int
        Notebooks run at once.
    wall_seconds : float
        Wall time of the whole call.
    """

    run: str
    results_dir: Path
    executed: tuple[Path, ...]
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    jobs: int = 1
    wall_seconds: float = 0.0

    @property
    def timings(self) -> Path:
        """Path of the run's ``timings.json``."""
        return self.results_dir / TIMINGS_FILE


def repo_root() -> Path:
    """Return the repository root (the folder holding ``notebooks/``).

    Looks upwards from the working directory first, then from this file (editable installs).
    """
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            if (folder / "notebooks").is_dir() and (folder / "pyproject.toml").is_file():
                return folder
    raise InputError(
        "cannot find the repository root (a folder with notebooks/ and pyproject.toml); "
        "run portfolio-lab from inside the repository"
    )


def discover_notebooks(notebooks_dir: str | os.PathLike[str] | None = None) -> list[NotebookSpec]:
    """List the notebooks in run order: each programming notebook followed by its review.

    The executive summary ``notebooks/report.ipynb`` (track ``"report"``) and its review
    come last, after every chapter whose artifacts it reads.

    Parameters
    ----------
    notebooks_dir : path, optional
        Folder with ``programming/`` and ``review/`` (default ``<repo>/notebooks``).

    Returns
    -------
    list of NotebookSpec
    """
    root = Path(notebooks_dir) if notebooks_dir is not None else repo_root() / "notebooks"
    programming = sorted((root / "programming").glob("*.ipynb"))
    reviews = {p.stem: p for p in (root / "review").glob("*.ipynb")}
    specs: list[NotebookSpec] = []
    for path in programming:
        if not _NAME.match(path.stem):
            raise InputError(f"programming notebook {path.name} is not named NN_topic.ipynb")
        specs.append(NotebookSpec(path.stem, path, "programming", path.stem))
        review = reviews.pop(f"{path.stem}_review", None)
        if review is not None:
            specs.append(NotebookSpec(review.stem, review, "review", path.stem))
    report = root / f"{REPORT}.ipynb"
    if report.is_file():  # the executive summary reads every chapter's artifacts: it runs last
        specs.append(NotebookSpec(REPORT, report, "report", REPORT))
        review = reviews.pop(f"{REPORT}_review", None)
        if review is not None:
            specs.append(NotebookSpec(review.stem, review, "review", REPORT))
    if reviews:
        raise InputError(f"review notebooks without a programming notebook: {sorted(reviews)}")
    return specs


def load_params(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a run's parameter file (YAML) and check its layout."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"parameter file {path} does not exist")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise InputError(f"parameter file {path} must hold a mapping")
    unknown = set(data) - {"run", "common", "notebooks"}
    if unknown:
        raise InputError(f"parameter file {path}: unknown top-level keys {sorted(unknown)}")
    data.setdefault("run", path.stem)
    data.setdefault("common", {})
    data.setdefault("notebooks", {})
    return data


def notebook_parameters(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the parameters a notebook declares in its ``parameters`` cell."""
    import papermill as pm

    return dict(pm.inspect_notebook(str(path)))


def _params_for(spec: NotebookSpec, params: dict[str, Any], run: str, results: str) -> dict:
    declared = notebook_parameters(spec.path)
    merged: dict[str, Any] = {"run": run, "results_dir": results}
    merged.update(params.get("common", {}))
    per = params.get("notebooks", {})
    if spec.track == "review":
        merged.update(per.get(spec.topic, {}) or {})
    merged.update(per.get(spec.name, {}) or {})
    return {k: v for k, v in merged.items() if k in declared}


def _select(specs: list[NotebookSpec], only: list[str] | None) -> list[NotebookSpec]:
    if not only:
        return specs
    known = {s.name for s in specs}
    missing = [name for name in only if name not in known]
    if missing:
        raise InputError(f"unknown notebook(s) {missing}; known: {sorted(known)}")
    # naming a programming notebook also runs its review
    wanted = {s.name for s in specs if s.name in only or s.topic in only}
    return [s for s in specs if s.name in wanted]


def resolve_jobs(jobs: int | str | None, n_chains: int) -> int:
    """Resolve the number of notebooks to run at once.

    ``None``, ``0`` or ``"auto"`` mean the number of usable cores, at most the number of
    independent chapters; any value is at least 1 and at most ``n_chains``.

    Parameters
    ----------
    jobs : int, "auto" or None
        Requested workers.
    n_chains : int
        Independent chapters to run (a chapter is its notebook and its review).

    Returns
    -------
    int

    Raises
    ------
    InputError
        ``jobs`` is negative or not a number.
    """
    from .timing import cpu_cores

    if jobs is None or jobs == "auto" or jobs == 0:
        want = cpu_cores()
    else:
        try:
            want = int(jobs)
        except (TypeError, ValueError):
            raise InputError(f"jobs must be a positive integer or 'auto', got {jobs!r}") from None
        if want < 0:
            raise InputError(f"jobs must be a positive integer or 'auto', got {jobs!r}")
    return max(1, min(want, max(n_chains, 1)))


def _sha_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sha_text(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


_SKIP_SUFFIXES = (".pyc", ".nbi", ".nbc")  # byte code and numba's cache


def _tree_digest(root: Path) -> str:
    """Digest of every file under ``root`` (path and content), caches excluded."""
    if not root.is_dir():
        return "absent"
    items = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in _SKIP_SUFFIXES:
            continue
        items.append(f"{path.relative_to(root).as_posix()}={_sha_file(path)}")
    return _sha_text(*items)


def _folder_files(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of the files in an artifact folder (runner records excluded)."""
    if not folder.is_dir():
        return {}
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith(".runner-"):
            out[path.relative_to(folder).as_posix()] = _sha_file(path)
    return out


def input_hash(
    source: str | os.PathLike[str],
    parameters: dict[str, Any],
    package_digest: str,
    data_digest: str,
) -> str:
    """Hash of what a notebook's run depends on: the four parts, combined.

    Parameters
    ----------
    source : path
        The source notebook (its bytes are hashed).
    parameters : dict
        The parameters it receives (hashed as sorted JSON).
    package_digest : str
        Digest of the package's source tree (bundled data included).
    data_digest : str
        Digest of the artifacts it reads.

    Returns
    -------
    str
        Hex SHA-256.
    """
    params = json.dumps(parameters, sort_keys=True, default=str)
    return _sha_text(_sha_file(Path(source)), params, package_digest, data_digest)


class _Ledger:
    """Records, artifact digests and timings of one run (thread-safe)."""

    def __init__(self, run_dir: Path, every: list[NotebookSpec], force: bool) -> None:
        self.run_dir = run_dir
        self.force = force
        self.lock = threading.Lock()
        self.package = _tree_digest(Path(__file__).resolve().parent)
        bench = run_dir.parent / "benchmarks"
        self.benchmarks = _tree_digest(bench)
        self.rows: dict[str, dict[str, Any]] = {}
        self.all_specs = every  # every notebook of the repository (the report reads them)
        self.timings: Any = None  # writes timings.json (set by run_notebooks)
        self._yahoo: str | None = None

    def yahoo_cache(self) -> str:
        """Digest of the yfinance cache (``data.default_cache_dir()/yahoo``), once per run."""
        if self._yahoo is None:
            from .data._yahoo import default_cache_dir

            self._yahoo = _tree_digest(default_cache_dir() / "yahoo")
        return self._yahoo

    def record_path(self, spec: NotebookSpec) -> Path:
        return self.run_dir / spec.topic / _RECORD.format(name=spec.name)

    def read_record(self, spec: NotebookSpec) -> dict[str, Any] | None:
        path = self.record_path(spec)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _written_by(self, topic: str, names: list[str]) -> str:
        """Digest of the files the notebooks ``names`` wrote in ``topic`` (current content)."""
        parts = []
        folder = self.run_dir / topic
        for name in names:
            spec = NotebookSpec(name, Path(), "", topic)
            rec = self.read_record(spec)
            if rec is None:
                parts.append(f"{name}:none")
                continue
            parts.append(f"{name}:{rec.get('hash')}")
            for rel in sorted(rec.get("wrote", {})):
                path = folder / rel
                parts.append(f"{rel}={_sha_file(path) if path.is_file() else 'missing'}")
        return _sha_text(*parts)

    def data_digest(self, spec: NotebookSpec) -> str:
        """Digest of the artifacts ``spec`` reads (see the module notes)."""
        parts = []
        source = spec.path.read_bytes()
        if b"benchmarks" in source:
            parts.append(f"benchmarks={self.benchmarks}")
        if b"yahoo" in source or b"universe" in source:  # the yfinance cache, when used
            parts.append(f"yahoo={self.yahoo_cache()}")
        chapters = [s for s in self.all_specs if s.track == "programming"]
        if spec.track == "review" and spec.topic != REPORT:
            parts.append(self._written_by(spec.topic, [spec.topic]))
        elif spec.topic in GATHERING and spec.track == "programming":
            for c in chapters:  # the programming notebooks' artifacts, which it reads
                if c.topic < spec.topic:
                    parts.append(self._written_by(c.topic, [c.topic]))
        elif spec.topic == REPORT:
            for c in chapters:
                parts.append(self._written_by(c.topic, [c.topic, f"{c.topic}_review"]))
            if spec.track == "review":
                parts.append(self._written_by(REPORT, [REPORT]))
        return _sha_text(*parts)

    def unchanged(self, spec: NotebookSpec, digest: str, output: Path) -> dict[str, Any] | None:
        """Return the record when ``spec`` need not run again, else None."""
        if self.force or not output.is_file():
            return None
        rec = self.read_record(spec)
        if rec is None or rec.get("hash") != digest:
            return None
        folder = self.run_dir / spec.topic
        for rel, sha in rec.get("wrote", {}).items():
            path = folder / rel
            if not path.is_file() or _sha_file(path) != sha:
                return None
        return rec

    def write_record(
        self, spec: NotebookSpec, digest: str, before: dict[str, str], seconds: float
    ) -> None:
        from ._io import write_json

        folder = self.run_dir / spec.topic
        after = _folder_files(folder)
        wrote = {k: v for k, v in after.items() if before.get(k) != v}
        old = self.read_record(spec)
        if old:  # files it wrote before and did not change this time are still its own
            for rel in old.get("wrote", {}):
                if rel in after and rel not in wrote:
                    wrote[rel] = after[rel]
        write_json(
            self.record_path(spec),
            {
                "notebook": spec.name,
                "hash": digest,
                "seconds": seconds,
                "finished": _now(),
                "wrote": wrote,
            },
        )

    def row(self, spec: NotebookSpec, **values: Any) -> None:
        with self.lock:
            base = {"notebook": spec.name, "track": spec.track, "topic": spec.topic}
            self.rows[spec.name] = {**base, **self.rows.get(spec.name, {}), **values}
            if self.timings is not None and values.get("status") != "not run":
                self.timings(complete=False)  # the report, running last, reads it


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class _Failure(Exception):
    def __init__(self, failed: NotebookFailed) -> None:
        super().__init__(str(failed))
        self.failed = failed


def _output_path(out_dir: Path, spec: NotebookSpec) -> Path:
    if spec.track == "report":
        return out_dir / spec.path.name
    return out_dir / spec.track / spec.path.name


def _thread_env(jobs: int) -> dict[str, str | None]:
    """Set the kernels' thread variables for ``jobs`` workers; returns the old values."""
    from .timing import cpu_cores

    per = str(max(1, cpu_cores() // jobs))
    old = {v: os.environ.get(v) for v in THREAD_VARIABLES}
    for var in THREAD_VARIABLES:
        current = os.environ.get(var)
        if current is None or not current.isdigit() or int(current) > int(per):
            os.environ[var] = per
    return old


def _threaded_kernel(kernel: str, threads: int, home: Path) -> str:
    """Write a copy of the kernelspec ``kernel`` under ``home`` that sets the thread variables.

    The kernelspec's ``env`` reaches only the kernels started with it, so concurrent workers
    can start kernels with different thread counts without touching each other's
    environment. Returns the copy's name (``home`` must be on ``JUPYTER_PATH``).
    """
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(kernel).to_dict()
    spec["env"] = {**(spec.get("env") or {}), **{v: str(threads) for v in THREAD_VARIABLES}}
    name = f"{kernel}-threads{threads}"
    folder = home / "kernels" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return name


def _restore_env(old: dict[str, str | None]) -> None:
    for var, value in old.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value


def run_notebooks(
    params_file: str | os.PathLike[str],
    *,
    only: list[str] | None = None,
    backend: str | None = None,
    results_dir: str | os.PathLike[str] = "results",
    notebooks_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    kernel: str = "python3",
    jobs: int | str | None = 1,
    force: bool = False,
) -> RunSummary:
    """Execute programming notebooks and their reviews with papermill.

    Parameters
    ----------
    params_file : path
        YAML parameter file (see the module docstring).
    only : list of str, optional
        Notebook names to run; naming a programming notebook also runs its review.
    backend : {"numpy", "torch", "cupy"}, optional
        Overrides ``common.backend`` of the parameter file.
    results_dir : path, default "results"
        Root of the run folders; relative paths resolve against the repository root.
    notebooks_dir : path, optional
        Folder with the source notebooks (default ``<repo>/notebooks``).
    progress : bool, default True
        Show a tqdm progress bar and one line per finished notebook.
    kernel : str, default "python3"
        Jupyter kernel name (inside a venv, ``python3`` is the venv's Python).
    jobs : int, "auto" or None, default 1
        Chapters run at once (see :func:`resolve_jobs`); each chapter's review runs after
        its own notebook, the executive summary after every chapter.
    force : bool, default False
        Execute every selected notebook even when its inputs are unchanged.

    Returns
    -------
    RunSummary

    Raises
    ------
    NotebookFailed
        A notebook raised; the message names the notebook and the cell. With ``jobs > 1``
        the notebooks already running finish first and no new one starts.
    """
    from tqdm import tqdm

    from .timing import cpu_cores

    start_wall = time.perf_counter()
    root = repo_root()
    params = load_params(params_file)
    if backend is not None:
        params["common"] = {**params["common"], "backend": backend}
    run = str(params["run"])
    results = Path(results_dir)
    results_abs = results if results.is_absolute() else root / results
    every = discover_notebooks(notebooks_dir)
    specs = _select(every, only)
    run_dir = results_abs / run
    out_dir = run_dir / "notebooks"
    ledger = _Ledger(run_dir, every, force)
    t_start = time.perf_counter()
    chains: list[list[NotebookSpec]] = []
    gather: list[list[NotebookSpec]] = []  # chapters that read earlier ones: after them
    last: list[NotebookSpec] = []
    for spec in specs:
        if spec.topic == REPORT:
            last.append(spec)
        elif spec.topic in GATHERING:
            if spec.track == "programming" or not gather or gather[-1][0].topic != spec.topic:
                gather.append([spec])
            else:
                gather[-1].append(spec)
        elif spec.track == "programming" or not chains or chains[-1][0].topic != spec.topic:
            chains.append([spec])
        else:
            chains[-1].append(spec)
    n_jobs = resolve_jobs(jobs, len(chains))
    for i, spec in enumerate(specs):
        ledger.row(spec, order=i, status="not run", seconds=0.0)
    ledger.timings = lambda complete: _write_timings(
        run_dir, run, ledger, n_jobs, time.perf_counter() - t_start, force, complete
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    ledger.timings(False)  # exists before the first notebook: the report may be the only one
    bar = tqdm(total=len(specs), desc=f"run {run}", unit="nb", disable=not progress)
    running: dict[str, float] = {}
    stop = threading.Event()
    failures: list[NotebookFailed] = []

    def say(text: str) -> None:
        if progress:
            bar.write(text)

    def show() -> None:
        if progress:
            bar.set_postfix_str(", ".join(sorted(running)) or "-")

    def execute(spec: NotebookSpec, wide: bool = False) -> None:
        import papermill as pm

        output = _output_path(out_dir, spec)
        parameters = _params_for(spec, params, run, str(results))
        digest = input_hash(spec.path, parameters, ledger.package, ledger.data_digest(spec))
        rec = ledger.unchanged(spec, digest, output)
        if rec is not None:
            ledger.row(spec, status="unchanged", seconds=0.0, last_seconds=rec.get("seconds"))
            with ledger.lock:
                bar.update(1)
                say(f"  = {spec.name}: unchanged since {rec.get('finished')}, not run")
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        (run_dir / spec.topic).mkdir(parents=True, exist_ok=True)
        before = _folder_files(run_dir / spec.topic)
        began = _now()
        with ledger.lock:
            running[spec.name] = time.perf_counter()
            show()
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(
                str(spec.path),
                str(output),
                parameters=parameters,
                kernel_name=wide_kernel if wide and wide_kernel else kernel,
                cwd=str(root),
                progress_bar=False,
                log_output=False,
                # the kernel's own start-up warnings would break the progress lines
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
        except pm.PapermillExecutionError as exc:
            secs = time.perf_counter() - t0
            err = NotebookFailed(spec.name, exc.cell_index, f"{exc.ename}: {exc.evalue}", output)
            ledger.row(spec, status="failed", seconds=secs, started=began, cell=exc.cell_index)
            with ledger.lock:
                running.pop(spec.name, None)
                failures.append(err)
                bar.update(1)
                show()
                say(f"  x {spec.name}: failed in cell {exc.cell_index} after {secs:.1f} s")
            stop.set()
            raise _Failure(err) from None
        secs = time.perf_counter() - t0
        ledger.write_record(spec, digest, before, secs)
        if n_jobs == 1:  # the kernels inherit this process's settings
            given = os.environ.get("OMP_NUM_THREADS", "")
            threads = int(given) if given.isdigit() else cpu_cores()
        else:
            threads = cpu_cores() if wide else max(1, cpu_cores() // n_jobs)
        ledger.row(
            spec, status="executed", seconds=secs, started=began, finished=_now(), threads=threads
        )
        with ledger.lock:
            running.pop(spec.name, None)
            bar.update(1)
            show()
            say(f"  + {spec.name}: {secs:.1f} s")

    def run_chain(chain: list[NotebookSpec], wide: bool = False) -> None:
        for spec in chain:
            if stop.is_set():
                return
            try:
                execute(spec, wide)
            except _Failure:
                return

    old_env = _thread_env(n_jobs) if n_jobs > 1 else None
    kernel_home = None
    wide_kernel = None  # a notebook running alone in a parallel run gets every core
    if n_jobs > 1:
        kernel_home = Path(tempfile.mkdtemp(prefix="portfolio-lab-kernels-"))
        wide_kernel = _threaded_kernel(kernel, cpu_cores(), kernel_home)
        old_env["JUPYTER_PATH"] = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [str(kernel_home), *filter(None, [old_env["JUPYTER_PATH"]])]
        )
    try:
        if n_jobs == 1:
            for chain in chains:
                run_chain(chain)
            for chain in gather:  # in order, each after every chapter before it
                if not stop.is_set():
                    run_chain(chain)
        else:
            flat = [spec for chain in chains + gather for spec in chain]
            units = schedule_units(flat, _expected_seconds(run_dir, every, ledger))
            _run_units(units, n_jobs, run_chain, stop, plan_workers(units, n_jobs))
        if not stop.is_set():
            run_chain(last, True)
    finally:
        if old_env is not None:
            _restore_env(old_env)
        if kernel_home is not None:
            shutil.rmtree(kernel_home, ignore_errors=True)
        bar.close()
        wall = time.perf_counter() - start_wall
        with ledger.lock:
            _write_timings(run_dir, run, ledger, n_jobs, wall, force, True)
    if failures:
        raise failures[0]
    rows = sorted(ledger.rows.values(), key=lambda r: r["order"])
    by_name = {s.name: s for s in specs}
    executed = tuple(
        _output_path(out_dir, by_name[r["notebook"]]) for r in rows if r["status"] == "executed"
    )
    seconds = {r["notebook"]: r["seconds"] for r in rows if r["status"] == "executed"}
    skipped = tuple(r["notebook"] for r in rows if r["status"] == "unchanged")
    return RunSummary(run, run_dir, executed, seconds, skipped, n_jobs, wall)


@dataclass
class _Unit:
    """A notebook to schedule, the units it waits for, its priority."""

    spec: NotebookSpec
    after: list[int]
    seconds: float
    priority: float = 0.0


def _expected_seconds(
    run_dir: Path, every: list[NotebookSpec], ledger: _Ledger
) -> dict[str, float]:
    """Seconds each notebook is expected to take, to order a parallel run.

    The notebook's last execution in this run folder where it has one; otherwise its time
    in the committed book-build benchmark (``results/benchmarks/book_build_*.json``, this
    machine's file first), so that a fresh clone already starts the longest chapters first.
    Notebooks found in neither count one second.
    """
    from .timing import machine_name

    bench = run_dir.parent / "benchmarks"
    files = sorted(bench.glob("book_build_*.json")) if bench.is_dir() else []
    mine = bench / f"book_build_{machine_name()}.json"
    if mine in files:
        files = [mine] + [f for f in files if f != mine]
    committed: dict[str, float] = {}
    for f in reversed(files):  # this machine's file last, so it wins
        try:
            rows = json.loads(f.read_text(encoding="utf-8")).get("notebooks", [])
            committed.update({str(r["notebook"]): float(r["seconds"]) for r in rows})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    out = {}
    for spec in every:
        rec = ledger.read_record(spec)
        last = rec.get("seconds") if rec else None
        out[spec.name] = float(last) if last is not None else committed.get(spec.name, 1.0)
    return out


def schedule_units(specs: list[NotebookSpec], expected: dict[str, float]) -> list[_Unit]:
    """Notebooks with their dependencies and critical-path priorities (a parallel run).

    A review waits for its own programming notebook; a gathering chapter's programming
    notebook waits for every programming notebook numbered before it (it reads their
    artifacts, not their reviews'); any other programming notebook waits for nothing, so a
    review may run on another worker than its notebook and a chapter numbered after a
    gathering one beside it. A notebook's priority is its expected seconds plus the longest
    chain of notebooks that wait for it: workers take the ready notebook of highest priority,
    so what a gathering chapter needs goes first and the longest of it earliest
    (longest-processing-time order on the critical path).
    """
    units = [_Unit(spec, [], float(expected.get(spec.name, 1.0))) for spec in specs]
    where = {spec.name: i for i, spec in enumerate(specs)}
    for i, spec in enumerate(specs):
        if spec.track == "review":
            own = where.get(spec.topic)
            unit_after = [] if own is None else [own]
        elif spec.topic in GATHERING:
            unit_after = [
                j
                for j, other in enumerate(specs)
                if other.track == "programming" and other.topic < spec.topic
            ]
        else:
            unit_after = []
        units[i].after = unit_after
    waiting: dict[int, list[int]] = {i: [] for i in range(len(units))}
    for i, unit in enumerate(units):
        for j in unit.after:
            waiting[j].append(i)
    done: dict[int, float] = {}

    def priority(i: int) -> float:
        if i not in done:
            done[i] = units[i].seconds + max((priority(k) for k in waiting[i]), default=0.0)
        return done[i]

    for i, unit in enumerate(units):
        unit.priority = priority(i)
    return units


def plan_workers(units: list[_Unit], jobs: int) -> list[list[int]]:
    """Split the units the gathering chapters wait for among ``jobs`` workers.

    Greedy longest-first leaves one long chapter for the end of one worker while the other
    idles; the split that balances the expected seconds best lets the gathering chapter start
    earliest. With two workers and at most 20 such units every split is tried; otherwise
    longest-first to the least-loaded worker. Units no gathering chapter waits for (reviews,
    chapters after it) stay unplanned: workers take them when their own list has nothing
    ready. Without a gathering chapter, the programming notebooks are split.

    Returns
    -------
    list of list of int
        Per worker, its unit indices, longest first.
    """
    gathering = [u for u in units if u.spec.topic in GATHERING and u.spec.track == "programming"]
    needed = sorted({j for u in gathering for j in u.after})
    if not needed:
        needed = [i for i, u in enumerate(units) if u.spec.track == "programming"]
    needed.sort(key=lambda i: -units[i].seconds)
    lists: list[list[int]] = [[] for _ in range(max(1, jobs))]
    if jobs == 2 and 0 < len(needed) <= 20:
        import numpy as np

        secs = np.array([units[i].seconds for i in needed])
        masks = np.arange(1 << len(needed), dtype=np.int64)
        bits = (masks[:, None] >> np.arange(len(needed))) & 1
        first = bits @ secs
        best = int(np.argmin(np.maximum(first, secs.sum() - first)))
        for k, i in enumerate(needed):
            lists[0 if (best >> k) & 1 else 1].append(i)
        return lists
    loads = [0.0] * len(lists)
    for i in needed:
        w = loads.index(min(loads))
        lists[w].append(i)
        loads[w] += units[i].seconds
    return lists


def _run_units(
    units: list[_Unit],
    jobs: int,
    run_chain: Any,
    stop: threading.Event,
    plan: list[list[int]] | None = None,
) -> None:
    """Run ``units`` on ``jobs`` worker threads.

    A worker takes the next ready unit of its own list in ``plan`` (see
    :func:`plan_workers`), else the ready unplanned unit of highest priority, else the ready
    unit of highest priority of another worker's list (its owner is late). ``run_chain(chain,
    wide)`` gets ``wide=True`` for a unit that starts alone (nothing else running, nothing
    left to start): its kernels may use every core.
    """
    cond = threading.Condition()
    started: set[int] = set()
    finished: set[int] = set()
    running: set[int] = set()
    lists = plan if plan is not None else [[] for _ in range(jobs)]
    planned = {i for own in lists for i in own}

    def ready(i: int) -> bool:
        return i not in started and all(j in finished for j in units[i].after)

    def pick(w: int) -> int | None:
        own = [i for i in (lists[w] if w < len(lists) else []) if ready(i)]
        if own:
            return own[0]
        for pool in (
            [i for i in range(len(units)) if i not in planned],
            sorted(planned),
        ):
            cand = [i for i in pool if ready(i)]
            if cand:
                return max(cand, key=lambda i: (units[i].priority, -i))
        return None

    def worker(w: int) -> None:
        while True:
            with cond:
                while True:
                    if stop.is_set() or len(started) == len(units):
                        return
                    i = pick(w)
                    if i is not None:
                        started.add(i)
                        running.add(i)
                        # alone: nothing else runs and nothing is left to start
                        wide = len(running) == 1 and len(started) == len(units)
                        break
                    cond.wait()
            try:
                run_chain([units[i].spec], wide)
            finally:
                with cond:
                    finished.add(i)
                    running.discard(i)
                    cond.notify_all()

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="nb") as pool:
        for f in [pool.submit(worker, w) for w in range(jobs)]:
            f.result()


def _write_timings(
    run_dir: Path, run: str, ledger: _Ledger, jobs: int, wall: float, force: bool, complete: bool
) -> None:
    """Write ``<run>/timings.json``: one row per selected notebook and one per chapter.

    Written after every notebook (``complete: false``, so the executive summary, which runs
    last, finds its chapters) and once at the end. A chapter's ``seconds`` is what it costs
    to build: each of its notebooks' seconds of this run, or of its last execution when it
    was unchanged; ``seconds_this_run`` counts only what ran now.
    """
    from ._io import write_json
    from .timing import cpu_cores, machine_name

    rows = [
        {k: v for k, v in r.items() if k != "order"}
        for r in sorted(ledger.rows.values(), key=lambda r: r["order"])
    ]
    chapters: dict[str, dict[str, Any]] = {}
    for r in rows:
        ch = chapters.setdefault(
            r["topic"],
            {"topic": r["topic"], "notebooks": [], "seconds": 0.0, "seconds_this_run": 0.0},
        )
        ch["notebooks"].append(r["notebook"])
        now = float(r.get("seconds") or 0.0)
        ch["seconds_this_run"] += now
        ch["seconds"] += now if r["status"] != "unchanged" else float(r.get("last_seconds") or 0.0)
        ch.setdefault("statuses", []).append(r["status"])
    for ch in chapters.values():
        statuses = set(ch.pop("statuses"))
        ch["status"] = statuses.pop() if len(statuses) == 1 else "mixed"
    write_json(
        run_dir / TIMINGS_FILE,
        {
            "run": run,
            "complete": complete,
            "finished": _now(),
            "jobs": jobs,
            "threads_per_worker": max(1, cpu_cores() // jobs) if jobs > 1 else None,
            "machine": machine_name(),
            "force": force,
            "wall_seconds": wall,
            "notebooks": rows,
            "chapters": list(chapters.values()),
        },
    )


def _hide_report_parameters(path: Path) -> None:
    """Tag the parameters papermill injected into the executive summary ``remove-cell``.

    The summary's first screen holds its findings; the run's parameters stay in the executed
    copy under ``results/<run>/notebooks/`` (chapters keep showing theirs).
    """
    if not path.is_file():
        return
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(nb, path)


def build_book(
    run: str = "default",
    *,
    results_dir: str | os.PathLike[str] = "results",
    book_dir: str | os.PathLike[str] | None = None,
    build_dir: str | os.PathLike[str] | None = None,
    strict: bool = True,
) -> Path:
    """Build the Jupyter Book from the executed notebooks of ``run``.

    The executed notebooks are copied to ``book/_notebooks/`` (what ``_toc.yml`` points to)
    and ``jupyter-book build`` runs with notebook execution off and, when ``strict``,
    warnings as errors (``-W -n --keep-going``).

    Returns
    -------
    pathlib.Path
        The folder of the built HTML (``.../_build/html``).
    """
    root = repo_root()
    book = Path(book_dir) if book_dir is not None else root / "book"
    results = Path(results_dir)
    results = results if results.is_absolute() else root / results
    executed = results / run / "notebooks"
    if not executed.is_dir():
        raise InputError(f"no executed notebooks for run {run!r} under {executed}; run them first")
    target = book / "_notebooks"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(executed, target)
    _hide_report_parameters(target / f"{REPORT}.ipynb")
    exe = Path(sys.executable).with_name("jupyter-book")
    if not exe.exists():
        found = shutil.which("jupyter-book")
        if found is None:
            raise PortfolioLabError(
                "jupyter-book is not installed: pip install 'portfolio-lab[book]'"
            )
        exe = Path(found)
    cmd = [str(exe), "build", str(book), "--builder", "html"]
    if build_dir is not None:
        cmd += ["--path-output", str(build_dir)]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)  # noqa: S603
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise PortfolioLabError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    out = Path(build_dir) if build_dir is not None else book
    return out / "_build" / "html"


def build_run_book(
    run: str,
    *,
    results_dir: str | os.PathLike[str] = "results",
    strict: bool = True,
) -> Path:
    """Build the book of ``run`` inside its run folder, leaving ``book/`` untouched.

    The book's sources are copied to ``<results_dir>/<run>/book/`` and built there, so the
    run folder (a mounted ``results/`` in the image) holds the HTML:
    ``<results_dir>/<run>/book/_build/html``. ``portfolio-lab run --book`` calls this.

    Returns
    -------
    pathlib.Path
        The folder of the built HTML.
    """
    root = repo_root()
    results = Path(results_dir)
    results = results if results.is_absolute() else root / results
    target = results / run / "book"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(root / "book", target, ignore=shutil.ignore_patterns("_build", "_notebooks"))
    return build_book(run, results_dir=results, book_dir=target, strict=strict)
