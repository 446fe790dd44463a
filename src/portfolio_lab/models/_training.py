"""One training loop for every model: seeds, device, early stopping, progress, history.

Reproducibility: all randomness of a fit (parameter initialization, dropout, batch order)
comes from generators seeded by ``random_state`` inside :func:`seeded`, which forks
torch's global generator and restores it afterwards, so a fit never changes the caller's
random state and two CPU fits with the same seed and thread count are bit-identical.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from ..exceptions import BackendError, InputError

__all__ = [
    "resolve_device",
    "seeded",
    "derive_seed",
    "TrainResult",
    "train",
    "seen_record",
    "SEEN_ROWS",
]

#: Rows of targets kept per landmark by :func:`seen_record` (a block, so that a review can
#: locate it in the prices without ambiguity on days when several assets did not move).
SEEN_ROWS = 3


def seen_record(targets: Any, n_train: int) -> dict[str, Any]:
    """Record the values of the targets a loss consumed, at its landmarks (for reviews).

    Parameters
    ----------
    targets : torch.Tensor or numpy.ndarray, shape (N, n)
        Every sample's target returns in sample order, as handed to the loss (training
        samples first, then validation).
    n_train : int
        Number of training samples.

    Returns
    -------
    dict
        ``train_first`` (the first ``SEEN_ROWS`` training targets), ``train_last`` and
        ``validation_last`` (the ``SEEN_ROWS`` targets ending at the last training and the
        last validation target; ``None`` without validation), as lists of float lists.
    """
    values = targets.detach().cpu().numpy() if hasattr(targets, "detach") else targets
    arr = np.asarray(values, dtype=np.float64)
    k, N = SEEN_ROWS, len(arr)

    def block(lo: int, hi: int) -> list[list[float]]:
        return arr[max(lo, 0) : hi].tolist()

    return {
        "train_first": block(0, min(k, n_train)),
        "train_last": block(n_train - k, n_train),
        "validation_last": None if N == n_train else block(N - k, N),
    }


def resolve_device(device: str) -> str:
    """Map ``"cpu"``, ``"cuda"`` (or ``"cuda:k"``) and ``"auto"`` to a torch device string.

    Raises
    ------
    BackendError
        ``"cuda"`` asked for but no CUDA device is visible, or an unknown name.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if isinstance(device, str) and device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BackendError(
                f"device={device!r} but torch sees no CUDA GPU; use device='cpu' or 'auto'"
            )
        return device
    raise BackendError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")


def derive_seed(random_state: int | None, *keys: int) -> int:
    """Derive a 32-bit seed from ``random_state`` and integer keys (fresh entropy if None)."""
    entropy = None if random_state is None else [int(random_state), *map(int, keys)]
    seq = np.random.SeedSequence(entropy)
    return int(seq.generate_state(1, dtype=np.uint32)[0])


@contextmanager
def seeded(
    seed: int, device: str = "cpu", *, deterministic: bool = False
) -> Iterator[np.random.Generator]:
    """Seed torch (forked, restored on exit) and yield a NumPy generator for ``seed``.

    With ``deterministic=True`` torch's deterministic algorithms, the cuDNN flags
    (``deterministic=True``, ``benchmark=False``) and the cuBLAS workspace setting
    (``CUBLAS_WORKSPACE_CONFIG=:4096:8``) hold inside the block and are restored after it:
    two CUDA fits with the same seed are then bit-identical (CPU fits are anyway).
    """
    import torch

    devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices, enabled=True), _deterministic(deterministic):
        torch.manual_seed(seed)
        yield np.random.default_rng(seed)


@contextmanager
def _deterministic(on: bool) -> Iterator[None]:
    """Switch torch's deterministic mode on inside the block (no-op when ``on`` is False)."""
    if not on:
        yield
        return
    import os

    import torch

    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    )
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0])
        torch.backends.cudnn.deterministic = saved[1]
        torch.backends.cudnn.benchmark = saved[2]
        if saved[3] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved[3]


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did.

    Attributes
    ----------
    history : list of dict
        One record per epoch: ``epoch``, ``train_loss`` (mean over its steps),
        ``val_loss`` (None without validation).
    best_epoch : int
        Epoch whose parameters were kept (the last one without validation).
    stopped_early : bool
    """

    history: list[dict[str, Any]]
    best_epoch: int
    stopped_early: bool


def train(
    module: Any,
    step_loss: Callable[[np.ndarray], Any],
    batches: Callable[[np.random.Generator], Sequence[np.ndarray]],
    *,
    epochs: int,
    lr: float,
    rng: np.random.Generator,
    val_loss: Callable[[], float] | None = None,
    patience: int = 10,
    progress: bool = False,
    desc: str = "fit",
) -> TrainResult:
    """Adam on ``step_loss`` over ``epochs`` passes, with early stopping on ``val_loss``.

    Parameters
    ----------
    module : torch.nn.Module
        Trained in place; on return it holds the parameters of the best epoch.
    step_loss : callable
        ``step_loss(batch_indices) -> scalar tensor`` for one gradient step.
    batches : callable
        ``batches(rng) -> list of index arrays``: the steps of one epoch.
    epochs : int
        Maximum number of epochs.
    lr : float
        Adam learning rate.
    rng : numpy.random.Generator
        Drives the batch order (seeded by the caller).
    val_loss : callable, optional
        ``val_loss() -> float`` on the validation slice (evaluated without gradients).
    patience : int
        Stop after this many epochs without a better validation loss.
    progress : bool
        Show a tqdm bar over epochs.
    desc : str
        Label of the bar.

    Returns
    -------
    TrainResult
    """
    import torch

    if epochs < 1:
        raise InputError(f"epochs must be at least 1, got {epochs}")
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    history: list[dict[str, Any]] = []
    best, best_epoch, best_state, waited = np.inf, 0, None, 0
    stopped = False
    bar = tqdm(range(1, epochs + 1), disable=not progress, desc=desc, leave=False)
    for epoch in bar:
        module.train()
        losses = []
        for idx in batches(rng):
            optimizer.zero_grad(set_to_none=True)
            loss = step_loss(idx)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        record: dict[str, Any] = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        if val_loss is not None:
            module.eval()
            with torch.no_grad():
                v = float(val_loss())
            record["val_loss"] = v
            if v < best - 1e-9:
                best, best_epoch, waited = v, epoch, 0
                best_state = copy.deepcopy(module.state_dict())
            else:
                waited += 1
        else:
            record["val_loss"] = None
            best_epoch = epoch
        history.append(record)
        if progress:
            bar.set_postfix(loss=f"{record['train_loss']:.4f}")
        if val_loss is not None and waited >= patience:
            stopped = True
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return TrainResult(history=history, best_epoch=best_epoch, stopped_early=stopped)
