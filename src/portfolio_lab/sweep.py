"""Parameter sweeps: a grid of notebook parameters becomes papermill runs, here or on a cluster.

A grid file names one notebook and lists of values for some of the names its ``parameters``
cell declares; the cartesian product gives the parameter sets, in the order the grid lists
them (the last name varies fastest)::

    notebook: 10_lstm_sharpe
    params: notebooks/params/ci.yaml   # optional base parameter file (its common and entries)
    run: lstm-sweep                    # optional; set k runs as "<run>-<k>" (default: file stem)
    grid:
      window: [30, 50]
      epochs: [5, 10, 20]              # 6 sets
    review: {min_seeds: 1}             # optional fixed parameters of the notebook's review
    job:                               # optional Kubernetes settings
      image: ghcr.io/OWNER/portfolio-lab:gpu
      parallelism: 2

:func:`write_sweep` writes one runner parameter file per set, a ConfigMap holding them and an
Indexed Job (``completions`` = number of sets) whose pod ``k`` runs set ``k``:
``portfolio-lab run --params /params/set-k.yaml --only NOTEBOOK``. :func:`run_local` runs the
same files through :func:`~portfolio_lab.runner.run_notebooks` on this machine.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._io import write_text
from .exceptions import InputError
from .runner import discover_notebooks, load_params, notebook_parameters, repo_root

__all__ = [
    "Sweep",
    "JobSettings",
    "load_grid",
    "parameter_sets",
    "set_params",
    "configmap_manifest",
    "job_manifest",
    "write_sweep",
    "run_local",
    "job_command",
    "PARAMS_MOUNT",
    "RESULTS_MOUNT",
]

#: Where the pods mount the ConfigMap of parameter sets and the results volume.
PARAMS_MOUNT = "/params"
RESULTS_MOUNT = "/app/results"

_INDEX_ANNOTATION = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_TOP_KEYS = {"notebook", "grid", "params", "run", "job", "review"}


@dataclass(frozen=True)
class JobSettings:
    """Kubernetes settings of a sweep's Indexed Job (all have working defaults)."""

    image: str = "ghcr.io/portfolio-lab/portfolio-lab:gpu"
    parallelism: int = 2
    gpus: int = 1
    cpu: str = "4"
    memory: str = "16Gi"
    backoff_limit_per_index: int = 1
    results_claim: str = "portfolio-lab-results"
    namespace: str = "portfolio-lab"


@dataclass(frozen=True)
class Sweep:
    """A validated grid file.

    Attributes
    ----------
    notebook : str
        Programming notebook stem, e.g. ``"10_lstm_sharpe"``.
    grid : dict of str to list
        Parameter name -> values, in file order.
    run : str
        Run-name prefix (a Kubernetes-safe name).
    base : dict
        The base parameter file's content (runner layout), empty when none is given.
    job : JobSettings
    review : dict
        Fixed parameters of the notebook's review (e.g. fewer seeds expected per set).
    """

    notebook: str
    grid: dict[str, list[Any]]
    run: str
    base: dict[str, Any] = field(default_factory=dict)
    job: JobSettings = field(default_factory=JobSettings)
    review: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Number of parameter sets."""
        count = 1
        for values in self.grid.values():
            count *= len(values)
        return count


def load_grid(
    path: str | os.PathLike[str], *, notebooks_dir: str | os.PathLike[str] | None = None
) -> Sweep:
    """Read and validate a grid file.

    Parameters
    ----------
    path : path
        The grid YAML (layout in the module docstring).
    notebooks_dir : path, optional
        Folder with the source notebooks (default ``<repo>/notebooks``).

    Returns
    -------
    Sweep

    Raises
    ------
    InputError
        Missing file, unknown keys, an unknown notebook (or a review), a parameter the
        notebook does not declare, an empty or non-list value list, or a bad run name.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"grid file {path} does not exist")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise InputError(f"grid file {path} must hold a mapping")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise InputError(
            f"grid file {path}: unknown keys {sorted(unknown)}; known {sorted(_TOP_KEYS)}"
        )
    notebook = data.get("notebook")
    specs = {s.name: s for s in discover_notebooks(notebooks_dir) if s.track == "programming"}
    if notebook not in specs:
        raise InputError(f"grid file {path}: unknown notebook {notebook!r}; known: {sorted(specs)}")
    grid = data.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise InputError(f"grid file {path}: 'grid' must map parameter names to lists of values")
    declared = notebook_parameters(specs[notebook].path)
    fixed = {"run", "results_dir"}
    for name, values in grid.items():
        if name in fixed:
            raise InputError(f"grid file {path}: {name!r} is set by the sweep, not the grid")
        if name not in declared:
            raise InputError(
                f"grid file {path}: {notebook} declares no parameter {name!r}; "
                f"it declares {sorted(set(declared) - fixed)}"
            )
        if not isinstance(values, list) or not values:
            raise InputError(f"grid file {path}: {name} must be a non-empty list of values")
    run = str(data.get("run", path.stem)).replace("_", "-").lower()
    if not _K8S_NAME.match(run) or len(run) > 40:
        raise InputError(
            f"grid file {path}: run name {run!r} must be lower-case letters, digits and dashes "
            "(at most 40), as Kubernetes names are"
        )
    base: dict[str, Any] = {}
    if data.get("params") is not None:
        base_path = Path(data["params"])
        if not base_path.is_absolute():
            base_path = repo_root() / base_path
        base = load_params(base_path)
    job_data = data.get("job") or {}
    if not isinstance(job_data, dict):
        raise InputError(f"grid file {path}: 'job' must be a mapping")
    allowed = set(JobSettings.__dataclass_fields__)
    bad = set(job_data) - allowed
    if bad:
        raise InputError(
            f"grid file {path}: unknown job settings {sorted(bad)}; known {sorted(allowed)}"
        )
    review = data.get("review") or {}
    reviews = {s.name: s for s in discover_notebooks(notebooks_dir) if s.track == "review"}
    if review:
        name = f"{notebook}_review"
        if not isinstance(review, dict) or name not in reviews:
            raise InputError(f"grid file {path}: 'review' must be a mapping and {name} must exist")
        undeclared = set(review) - set(notebook_parameters(reviews[name].path))
        if undeclared:
            raise InputError(
                f"grid file {path}: {name} declares no parameters {sorted(undeclared)}"
            )
    return Sweep(notebook, dict(grid), run, base, JobSettings(**job_data), dict(review))


def parameter_sets(sweep: Sweep) -> list[dict[str, Any]]:
    """Return the cartesian product of the grid, the last name varying fastest.

    Returns
    -------
    list of dict
        ``sweep.size`` mappings of parameter name to value.
    """
    names = list(sweep.grid)
    return [
        dict(zip(names, combo, strict=True)) for combo in itertools.product(*sweep.grid.values())
    ]


def set_params(sweep: Sweep, index: int, values: dict[str, Any]) -> dict[str, Any]:
    """Return the runner parameter file (as a mapping) of set ``index``.

    The base file's ``common`` and its entries for the notebook and its review are kept; the
    set's values override the notebook's entries; the run is ``"<run>-<index>"``.
    """
    base_entries = dict(sweep.base.get("notebooks", {}) or {})
    notebooks = {
        name: dict(entries or {})
        for name, entries in base_entries.items()
        if name in (sweep.notebook, f"{sweep.notebook}_review")
    }
    notebooks[sweep.notebook] = {**notebooks.get(sweep.notebook, {}), **values}
    if sweep.review:
        name = f"{sweep.notebook}_review"
        notebooks[name] = {**notebooks.get(name, {}), **sweep.review}
    return {
        "run": f"{sweep.run}-{index}",
        "common": dict(sweep.base.get("common", {}) or {}),
        "notebooks": notebooks,
    }


def _labels(sweep: Sweep) -> dict[str, str]:
    return {"app.kubernetes.io/name": "portfolio-lab", "portfolio-lab/sweep": sweep.run}


def configmap_manifest(sweep: Sweep) -> dict[str, Any]:
    """Return the ConfigMap that holds every set's parameter file as ``set-<k>.yaml``."""
    import yaml

    data = {
        f"set-{k}.yaml": yaml.safe_dump(set_params(sweep, k, values), sort_keys=False)
        for k, values in enumerate(parameter_sets(sweep))
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{sweep.run}-params",
            "namespace": sweep.job.namespace,
            "labels": _labels(sweep),
        },
        "data": data,
    }


def job_command(sweep: Sweep) -> list[str]:
    """Return the container command of the Indexed Job (``$(JOB_COMPLETION_INDEX)`` unexpanded)."""
    return [
        "portfolio-lab",
        "run",
        "--params",
        f"{PARAMS_MOUNT}/set-$(JOB_COMPLETION_INDEX).yaml",
        "--only",
        sweep.notebook,
        "--results-dir",
        RESULTS_MOUNT,
        "--no-progress",
    ]


def job_manifest(sweep: Sweep) -> dict[str, Any]:
    """Return the Indexed Job: one completion per parameter set, one GPU per pod."""
    job = sweep.job
    resources: dict[str, dict[str, Any]] = {
        "requests": {"cpu": job.cpu, "memory": job.memory},
        "limits": {"cpu": job.cpu, "memory": job.memory},
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "papermill",
                "image": job.image,
                "imagePullPolicy": "IfNotPresent",
                "command": job_command(sweep),
                "env": [
                    {
                        "name": "JOB_COMPLETION_INDEX",
                        "valueFrom": {"fieldRef": {"fieldPath": _INDEX_ANNOTATION}},
                    }
                ],
                "resources": resources,
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [
                    {"name": "params", "mountPath": PARAMS_MOUNT, "readOnly": True},
                    {"name": "results", "mountPath": RESULTS_MOUNT},
                ],
            }
        ],
        "volumes": [
            {"name": "params", "configMap": {"name": f"{sweep.run}-params"}},
            {"name": "results", "persistentVolumeClaim": {"claimName": job.results_claim}},
        ],
    }
    if job.gpus > 0:
        resources["requests"]["nvidia.com/gpu"] = job.gpus
        resources["limits"]["nvidia.com/gpu"] = job.gpus
        pod_spec["nodeSelector"] = {"nvidia.com/gpu.present": "true"}
        pod_spec["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{sweep.run}",
            "namespace": job.namespace,
            "labels": _labels(sweep),
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": sweep.size,
            "parallelism": min(job.parallelism, sweep.size),
            "backoffLimitPerIndex": job.backoff_limit_per_index,
            "maxFailedIndexes": sweep.size,
            "ttlSecondsAfterFinished": 86400,
            "template": {"metadata": {"labels": _labels(sweep)}, "spec": pod_spec},
        },
    }


def write_sweep(sweep: Sweep, out: str | os.PathLike[str]) -> list[Path]:
    """Write ``params/set-<k>.yaml``, ``configmap.yaml`` and ``job.yaml`` under ``out``.

    Returns
    -------
    list of pathlib.Path
        The files written (parameter files first).
    """
    import yaml

    out = Path(out)
    written = []
    for k, values in enumerate(parameter_sets(sweep)):
        text = yaml.safe_dump(set_params(sweep, k, values), sort_keys=False)
        written.append(write_text(out / "params" / f"set-{k}.yaml", text))
    header = f"# generated by portfolio-lab sweep from the grid of {sweep.run}; do not edit\n"
    for name, manifest in (("configmap", configmap_manifest(sweep)), ("job", job_manifest(sweep))):
        text = header + yaml.safe_dump(manifest, sort_keys=False, width=1000)
        written.append(write_text(out / f"{name}.yaml", text))
    return written


def run_local(
    sweep: Sweep,
    *,
    results_dir: str | os.PathLike[str] = "results",
    params_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> list[Any]:
    """Run every set through the runner on this machine, in index order.

    Parameters
    ----------
    sweep : Sweep
    results_dir : path, default "results"
        Root of the run folders (set ``k`` writes ``<results_dir>/<run>-<k>/``).
    params_dir : path, optional
        Where the set files are written (default ``<results_dir>/<run>-sweep/params``).
    progress : bool, default False

    Returns
    -------
    list of RunSummary
    """
    import yaml

    from .runner import run_notebooks

    folder = Path(params_dir) if params_dir else Path(results_dir) / f"{sweep.run}-sweep" / "params"
    if not folder.is_absolute():
        folder = repo_root() / folder
    summaries = []
    for k, values in enumerate(parameter_sets(sweep)):
        file = write_text(
            folder / f"set-{k}.yaml", yaml.safe_dump(set_params(sweep, k, values), sort_keys=False)
        )
        summaries.append(
            run_notebooks(file, only=[sweep.notebook], results_dir=results_dir, progress=progress)
        )
    return summaries
