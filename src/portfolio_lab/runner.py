"""Run the programming and review notebooks with papermill, and build the book.

A *run* is one execution of the notebooks with one parameter file. The runner reads
``notebooks/params/<run>.yaml``, executes each programming notebook and then its review in
numeric order, writes the executed copies to ``results/<run>/notebooks/{programming,review}/``
(the notebooks themselves write their artifacts to ``results/<run>/<NN_topic>/``), and stops
at the first failure with a :class:`NotebookFailed` that names the notebook and the cell.

Parameter file layout::

    run: default
    common: {backend: numpy}              # given to every notebook that declares the name
    notebooks:
      03_lagrange: {target_return: 0.0008}
      03_lagrange_review: {tol: 1.0e-6}   # a review also receives its programming entries
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
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
    "build_book",
    "build_run_book",
]

_NAME = re.compile(r"^(\d{2})_[a-z0-9_]+$")
#: The executive summary, ``notebooks/report.ipynb``, with its review ``review/report_review``.
REPORT = "report"


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
    """What a call to :func:`run_notebooks` executed."""

    run: str
    results_dir: Path
    executed: tuple[Path, ...]
    seconds: dict[str, float] = field(default_factory=dict)


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


def run_notebooks(
    params_file: str | os.PathLike[str],
    *,
    only: list[str] | None = None,
    backend: str | None = None,
    results_dir: str | os.PathLike[str] = "results",
    notebooks_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    kernel: str = "python3",
) -> RunSummary:
    """Execute programming notebooks and their reviews in order with papermill.

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
        Show a tqdm progress bar.
    kernel : str, default "python3"
        Jupyter kernel name (inside a venv, ``python3`` is the venv's Python).

    Returns
    -------
    RunSummary

    Raises
    ------
    NotebookFailed
        A notebook raised; the message names the notebook and the cell.
    """
    import papermill as pm
    from tqdm import tqdm

    root = repo_root()
    params = load_params(params_file)
    if backend is not None:
        params["common"] = {**params["common"], "backend": backend}
    run = str(params["run"])
    results = Path(results_dir)
    results_abs = results if results.is_absolute() else root / results
    specs = _select(discover_notebooks(notebooks_dir), only)
    out_dir = results_abs / run / "notebooks"
    executed: list[Path] = []
    seconds: dict[str, float] = {}
    bar = tqdm(specs, desc=f"run {run}", unit="nb", disable=not progress)
    for spec in bar:
        bar.set_postfix_str(spec.name)
        output = (
            out_dir / spec.path.name
            if spec.track == "report"
            else out_dir / spec.track / spec.path.name
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        try:
            pm.execute_notebook(
                str(spec.path),
                str(output),
                parameters=_params_for(spec, params, run, str(results)),
                kernel_name=kernel,
                cwd=str(root),
                progress_bar=False,
                log_output=False,
            )
        except pm.PapermillExecutionError as exc:
            raise NotebookFailed(
                spec.name, exc.cell_index, f"{exc.ename}: {exc.evalue}", output
            ) from None
        seconds[spec.name] = time.perf_counter() - start
        executed.append(output)
    return RunSummary(run, results_abs / run, tuple(executed), seconds)


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
