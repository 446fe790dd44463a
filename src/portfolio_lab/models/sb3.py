"""Model-free RL agents of Stable-Baselines3 on :class:`~portfolio_lab.models.env.PortfolioEnv`.

:class:`SB3Allocator` is an allocator of the models package like the others: ``fit(prices)``
trains PPO, SAC (Stable-Baselines3) or a recurrent PPO with an LSTM policy (sb3-contrib)
on the package's environment over those prices, keeps the checkpoint with the best
validation growth, and ``predict`` / ``predict_relatives`` return the next weights over
``["cash", *assets]``, so ``WalkForwardPolicy(SB3Allocator(...), refit_every=...)`` runs in
``backtest.run(..., cash=True)``.

Protocol of a fit over the periods ``[window − 1, T)`` of the prices given:

- the last ``validation_fraction`` of those periods are held out: training episodes never
  reach them; every ``eval_every`` environment steps the deterministic policy is rolled
  over them from all cash (one episode, its own drifted weights as the previous ones,
  exact costs) and the parameters with the best mean log growth there are kept;
- training episodes start at a random period of the training part, from all cash, and
  last ``episode_length`` periods at most (a time limit: ``truncated``);
- the reward the agent learns from is the environment's (``reward``) times
  ``reward_scale`` (daily returns are of order 10⁻³; the default 100 gives percent);
- after the fit, ``insample_`` compares the chosen policy's in-sample mean log growth with
  the 1/N portfolio's over the training periods, so a failure to learn is named as such.

Persistence without pickle: :meth:`SB3Allocator.save` writes the policy's ``state_dict`` as
safetensors and the description (algorithm, policy and algorithm arguments, spaces, assets,
history) as JSON; :meth:`SB3Allocator.load` rebuilds the Stable-Baselines3 policy class from
the JSON and loads the weights (SB3's own zip is never written: it pickles objects).

The recurrent agent is stateful: its LSTM state is carried from one ``predict`` call to the
next (one call is one step of its episode, as in its training episodes), starts afresh at
``fit``, ``load`` and :meth:`SB3Allocator.reset_state`, so a walk-forward run is one episode.
"""

from __future__ import annotations

import copy
import json
import os
import random
import time
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError, ModelFileError
from ._base import BaseAllocator, date_label
from ._persistence import load_device, load_folder, module_state, save_folder
from ._training import derive_seed, resolve_device, seeded
from ._validation import check_columns

__all__ = ["SB3Allocator", "ALGOS", "DEFAULT_ALGO_KWARGS", "DEFAULT_POLICY_KWARGS", "rollout"]

ALGOS = ("ppo", "sac", "recurrent_ppo")

#: Arguments of each algorithm unless ``algo_kwargs`` overrides them (fixed before any test;
#: ``gamma = 0.9``: an action moves the future only through the held weights and costs).
DEFAULT_ALGO_KWARGS: dict[str, dict[str, Any]] = {
    "ppo": {"n_steps": 512, "batch_size": 64, "n_epochs": 10, "learning_rate": 3e-4,
            "gamma": 0.9, "gae_lambda": 0.95, "ent_coef": 0.0},
    "recurrent_ppo": {"n_steps": 256, "batch_size": 128, "n_epochs": 4, "learning_rate": 3e-4,
                      "gamma": 0.9, "gae_lambda": 0.95, "ent_coef": 0.0},
    "sac": {"buffer_size": 100_000, "learning_starts": 500, "batch_size": 128, "train_freq": 4,
            "gradient_steps": 1, "learning_rate": 3e-4, "gamma": 0.9},
}  # fmt: skip

#: Policy networks unless ``policy_kwargs`` overrides entries (small: one day of 20 stocks is
#: a few hundred numbers). ``activation_fn`` is a name: ``"tanh"``, ``"relu"``, ``"elu"``.
DEFAULT_POLICY_KWARGS: dict[str, dict[str, Any]] = {
    "ppo": {"net_arch": [64, 64], "log_std_init": -1.0, "activation_fn": "tanh"},
    "recurrent_ppo": {"net_arch": [64], "lstm_hidden_size": 32, "log_std_init": -1.0,
                      "activation_fn": "tanh"},
    "sac": {"net_arch": [64, 64], "activation_fn": "relu"},
}  # fmt: skip

_ACTIVATIONS = {"tanh": "Tanh", "relu": "ReLU", "elu": "ELU", "leaky_relu": "LeakyReLU"}


def _policy_class(algo: str) -> type:
    if algo == "ppo":
        from stable_baselines3.common.policies import ActorCriticPolicy

        return ActorCriticPolicy
    if algo == "sac":
        from stable_baselines3.sac.policies import SACPolicy

        return SACPolicy
    from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy

    return RecurrentActorCriticPolicy


def _algo_class(algo: str) -> tuple[type, str]:
    if algo == "ppo":
        from stable_baselines3 import PPO

        return PPO, "MlpPolicy"
    if algo == "sac":
        from stable_baselines3 import SAC

        return SAC, "MlpPolicy"
    from sb3_contrib import RecurrentPPO

    return RecurrentPPO, "MlpLstmPolicy"


def _torch_policy_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Turn the JSON policy arguments into SB3's (activation names to torch classes)."""
    from torch import nn

    out = dict(kwargs)
    if "activation_fn" in out:
        name = str(out["activation_fn"])
        if name not in _ACTIVATIONS:
            raise InputError(f"activation_fn must be one of {sorted(_ACTIVATIONS)}, got {name!r}")
        out["activation_fn"] = getattr(nn, _ACTIVATIONS[name])
    return out


@contextmanager
def _guarded_rng(seed: int, device: str):
    """Let SB3 seed the global generators, then restore the caller's Python and NumPy state."""
    py, npy = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:
        with seeded(seed, device):
            yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)  # noqa: NPY002


def rollout(act: Any, env: Any, *, options: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Play one episode of ``env`` with ``act(observation, first) -> action``.

    Parameters
    ----------
    act : callable
        ``act(observation (d,), first: bool) -> action (m,)`` (``first`` at the episode's
        first step, to reset a recurrent state).
    env : PortfolioEnv
    options : dict, optional
        Passed to ``env.reset`` (``"weights"``, ``"start"``).

    Returns
    -------
    dict
        ``weights`` (k, m), ``net`` (k,), ``log`` (k,), ``periods`` (k,), ``wealth`` (k,).
    """
    obs, _ = env.reset(options=options)
    weights, net, logs, periods, wealth = [], [], [], [], []
    first, done = True, False
    while not done:
        obs, _, terminated, truncated, info = env.step(act(obs, first))
        first = False
        done = terminated or truncated
        weights.append(info["weights"])
        net.append(info["net_return"])
        logs.append(info["log_return"])
        periods.append(info["period"])
        wealth.append(info["wealth"])
    return {
        "weights": np.asarray(weights),
        "net": np.asarray(net),
        "log": np.asarray(logs),
        "periods": np.asarray(periods),
        "wealth": np.asarray(wealth),
    }


class SB3Allocator(BaseAllocator):
    """A Stable-Baselines3 agent (PPO, SAC or recurrent PPO) as an allocator.

    Parameters
    ----------
    algo : {"ppo", "sac", "recurrent_ppo"}
        PPO and SAC from Stable-Baselines3 (MLP policies); the recurrent PPO of
        sb3-contrib (an LSTM policy, ``MlpLstmPolicy``).
    policy_kwargs : dict, optional
        Entries replacing those of :data:`DEFAULT_POLICY_KWARGS` (JSON values only:
        ``activation_fn`` by name).
    total_timesteps : int
        Environment steps of the fit.
    window : int
        Price rows per observation.
    features : tuple of str
        Price features, ``"close"`` first (a mapping of frames beyond ``("close",)``).
    commission : float
        Cost per side, in the environment the agent learns on.
    reward : {"simple", "log"}
        The environment's reward (simple net return, the Colombian project's, or its log).
    device : {"cpu", "cuda", "auto"}
    random_state : int, optional
        Seeds the networks, the exploration and the episodes' starts.
    progress : bool
        A tqdm bar over environment steps.
    normalize : {"close", "open"}
        Divisor of the price tensor.
    algo_kwargs : dict, optional
        Entries replacing those of :data:`DEFAULT_ALGO_KWARGS` (``n_steps``,
        ``learning_rate``, ``gamma``...).
    n_envs : int
        Environments stepped together (SB3's ``DummyVecEnv``).
    episode_length : int
        Time limit of a training episode, in periods.
    validation_fraction : float
        Share of the fit's periods, the latest, held out for the checkpoint choice (0:
        keep the last parameters).
    eval_every : int, optional
        Environment steps between evaluations (default: a tenth of ``total_timesteps``).
    reward_scale : float
        Factor on the reward during training.

    Attributes
    ----------
    module_ : stable_baselines3 policy (a ``torch.nn.Module``)
    history_ : list of dict
        One record per evaluation: ``step`` (environment steps so far), ``train_reward``
        (mean net simple return per step of the exploring policy since the last record),
        ``train_log_growth`` (deterministic policy, mean log growth per period over the
        training periods), ``val_log_growth`` (the same over the validation periods, or
        None).
    best_step_ : int
        Environment step of the kept parameters.
    insample_ : dict
        ``agent_log_growth`` and ``uniform_log_growth`` (1/N, rebalanced daily, same costs)
        per period over the training periods, ``learned`` (agent above 1/N), ``periods``.
    fit_seconds_ : float
    n_updates_ : int
        SB3's count of updates (PPO: epochs over rollouts; SAC: gradient steps).
    gradient_steps_ : int
        Gradient steps of the fit (PPO: epochs times minibatches per rollout).
    assets_ : list of str
    train_dates_ : dict
    """

    uses_previous_weights = True

    def __init__(
        self,
        algo: str = "ppo",
        policy_kwargs: dict[str, Any] | None = None,
        total_timesteps: int = 20_000,
        window: int = 50,
        features: Sequence[str] = ("close",),
        commission: float = 0.0025,
        reward: str = "simple",
        device: str = "cpu",
        random_state: int | None = None,
        progress: bool = False,
        normalize: str = "close",
        algo_kwargs: dict[str, Any] | None = None,
        n_envs: int = 1,
        episode_length: int = 252,
        validation_fraction: float = 0.1,
        eval_every: int | None = None,
        reward_scale: float = 100.0,
    ) -> None:
        self.algo = algo
        self.policy_kwargs = policy_kwargs
        self.total_timesteps = total_timesteps
        self.window = window
        self.features = features
        self.commission = commission
        self.reward = reward
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.normalize = normalize
        self.algo_kwargs = algo_kwargs
        self.n_envs = n_envs
        self.episode_length = episode_length
        self.validation_fraction = validation_fraction
        self.eval_every = eval_every
        self.reward_scale = reward_scale

    @property
    def outputs_cash(self) -> bool:
        """The agent always holds a cash asset (first weight)."""
        return True

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        if self.algo not in ALGOS:
            raise InputError(f"algo must be one of {ALGOS}, got {self.algo!r}")
        if int(self.window) < 1 or int(self.total_timesteps) < 1 or int(self.n_envs) < 1:
            raise InputError("window, total_timesteps and n_envs must be at least 1")
        if int(self.episode_length) < 1:
            raise InputError(f"episode_length must be at least 1, got {self.episode_length}")
        if not 0.0 <= float(self.validation_fraction) < 0.5:
            raise InputError(
                f"validation_fraction must lie in [0, 0.5), got {self.validation_fraction}"
            )
        if not float(self.reward_scale) > 0:
            raise InputError(f"reward_scale must be positive, got {self.reward_scale}")
        for label, value in (("policy_kwargs", self.policy_kwargs),
                             ("algo_kwargs", self.algo_kwargs)):  # fmt: skip
            if value is None:
                continue
            if not isinstance(value, dict):
                raise InputError(f"{label} must be a dict, got {type(value).__name__}")
            try:
                json.dumps(value)
            except TypeError as err:
                raise InputError(f"{label} must hold JSON values (names, numbers): {err}") from err

    def resolved_policy_kwargs(self) -> dict[str, Any]:
        """Return the policy arguments: the defaults of ``algo`` updated by ``policy_kwargs``."""
        return {**DEFAULT_POLICY_KWARGS[self.algo], **(self.policy_kwargs or {})}

    def resolved_algo_kwargs(self) -> dict[str, Any]:
        """Return the algorithm arguments: ``algo``'s defaults updated by ``algo_kwargs``."""
        return {**DEFAULT_ALGO_KWARGS[self.algo], **(self.algo_kwargs or {})}

    @property
    def min_fit_rows(self) -> int:
        """Price rows ``fit`` needs: one window and a few periods to learn and validate on."""
        return int(self.window) + 10

    @property
    def predict_rows(self) -> int:
        """Price rows ``predict`` reads: one window."""
        return int(self.window)

    @property
    def min_predict_rows(self) -> int:
        """Fewest price rows ``predict`` accepts: one window."""
        return int(self.window)

    # ------------------------------------------------------------- environments
    def make_env(self, prices: Any, **kwargs: Any) -> Any:
        """Build the :class:`~portfolio_lab.models.env.PortfolioEnv` of this agent over ``prices``.

        Parameters
        ----------
        prices : DataFrame or mapping
        **kwargs
            ``start``, ``end``, ``random_start``, ``seed`` (or any other argument).

        Returns
        -------
        PortfolioEnv
        """
        from .env import PortfolioEnv

        spec = {
            "window": int(self.window),
            "features": tuple(self.features),
            "normalize": self.normalize,
            "commission": float(self.commission),
            "reward": self.reward,
            "cash": True,
            **kwargs,
        }
        return PortfolioEnv(prices, **spec)

    def _train_env(self, prices: Any, end: int, seed: int) -> Any:
        import gymnasium as gym
        from stable_baselines3.common.monitor import Monitor
        from stable_baselines3.common.vec_env import DummyVecEnv

        scale = float(self.reward_scale)
        length = int(self.episode_length)

        def factory(i: int) -> Any:
            def make() -> Any:
                env = self.make_env(prices, end=end, random_start=True, seed=seed + i)
                env = gym.wrappers.TimeLimit(env, max_episode_steps=length)
                env = gym.wrappers.TransformReward(env, lambda r: scale * r)
                return Monitor(env)

            return make

        return DummyVecEnv([factory(i) for i in range(int(self.n_envs))])

    # --------------------------------------------------------------------- fit
    def fit(self, prices: Any) -> SB3Allocator:
        """Train on closes (DataFrame) or a mapping feature -> DataFrame of prices.

        Returns
        -------
        SB3Allocator
            ``self``, fitted.
        """
        from stable_baselines3.common.logger import Logger
        from tqdm import tqdm

        from .env import stack_features

        self._check_params()
        feats, close = stack_features(prices, self.features, min_rows=self.min_fit_rows)
        device = resolve_device(self.device)
        self.assets_ = [str(c) for c in close.columns]
        n_periods = feats.shape[1] - 1
        first = int(self.window) - 1
        n_val = int(round(float(self.validation_fraction) * (n_periods - first)))
        train_end = n_periods - n_val
        if train_end - first < 2:
            raise InputError("too few training periods left after the validation share")
        seed = derive_seed(self.random_state)
        algo_cls, policy_name = _algo_class(self.algo)
        total = int(self.total_timesteps)
        every = int(self.eval_every) if self.eval_every else max(1, total // 10)
        insample_env = self.make_env(prices, end=train_end)
        val_env = self.make_env(prices, start=train_end) if n_val else None
        started = time.perf_counter()
        with _guarded_rng(seed, device):
            vec = self._train_env(prices, train_end, seed)
            model = algo_cls(
                policy_name,
                vec,
                policy_kwargs=_torch_policy_kwargs(self.resolved_policy_kwargs()),
                device=device,
                seed=seed,
                verbose=0,
                **self.resolved_algo_kwargs(),
            )
            # a logger without outputs: SB3's default (verbose=0) still creates an empty
            # folder SB3-<timestamp> in the temp directory on every learn()
            model.set_logger(Logger(folder=None, output_formats=[]))
            self.module_ = model.policy
            callback = self._callback(insample_env, val_env, every, total)
            bar = tqdm(total=total, disable=not self.progress, desc=f"SB3[{self.algo}]",
                       leave=False)  # fmt: skip
            callback.bar = bar
            model.learn(total_timesteps=total, callback=callback)
            bar.close()
            if callback.last_eval < model.num_timesteps:
                callback.evaluate(model.num_timesteps)
            if callback.best_state is not None:
                model.policy.load_state_dict(callback.best_state)
            self.best_step_ = int(callback.best_step)
            self.history_ = list(callback.history)
        self.fit_seconds_ = time.perf_counter() - started
        self.n_updates_ = int(getattr(model, "_n_updates", 0))
        if self.algo == "sac":
            self.gradient_steps_ = self.n_updates_
        else:  # PPO counts epochs; each epoch is ceil(rollout / batch_size) gradient steps
            ak = self.resolved_algo_kwargs()
            per = -(-int(ak["n_steps"]) * int(self.n_envs) // int(ak["batch_size"]))
            self.gradient_steps_ = self.n_updates_ * per
        self.module_ = model.policy
        self.module_.set_training_mode(False)
        self.reset_state()
        self.insample_ = self._insample(prices, insample_env, first, train_end)
        dates = close.index
        self.train_dates_ = {
            "first_price": date_label(dates[0]),
            "last_price": date_label(dates[-1]),
            "last_training_target": date_label(dates[train_end]),
            "validation_first_target": date_label(dates[train_end + 1]) if n_val else None,
        }
        self.seed_ = seed
        self.n_periods_ = int(n_periods)
        self.train_periods_ = (first, int(train_end))
        return self

    def _callback(self, insample_env: Any, val_env: Any, every: int, total: int) -> Any:
        from stable_baselines3.common.callbacks import BaseCallback

        agent = self

        class Evaluate(BaseCallback):
            def __init__(self) -> None:
                super().__init__(verbose=0)
                self.history: list[dict[str, Any]] = []
                self.block: list[float] = []
                self.best = -np.inf
                self.best_state: dict[str, Any] | None = None
                self.best_step = total
                self.last_eval = 0
                self.bar: Any = None

            def _on_step(self) -> bool:
                for info in self.locals.get("infos", []):
                    if "net_return" in info:
                        self.block.append(float(info["net_return"]))
                if self.bar is not None:
                    self.bar.update(self.training_env.num_envs)
                if self.num_timesteps - self.last_eval >= every:
                    self.evaluate(self.num_timesteps)
                return True

            def evaluate(self, step: int) -> None:
                policy = self.model.policy
                train = policy.training
                ins = agent._play(policy, insample_env)
                val = agent._play(policy, val_env) if val_env is not None else None
                policy.set_training_mode(train)
                rec = {
                    "step": int(step),
                    "train_reward": float(np.mean(self.block)) if self.block else None,
                    "train_log_growth": float(np.mean(ins["log"])),
                    "val_log_growth": None if val is None else float(np.mean(val["log"])),
                }
                self.block = []
                self.history.append(rec)
                self.last_eval = step
                if val is not None and rec["val_log_growth"] > self.best:
                    self.best, self.best_step = rec["val_log_growth"], int(step)
                    self.best_state = copy.deepcopy(policy.state_dict())

        return Evaluate()

    def _play(self, policy: Any, env: Any, options: dict[str, Any] | None = None) -> dict:
        """Deterministic episode of ``policy`` on ``env`` (recurrent state from zero)."""
        state: list[Any] = [None]

        def act(obs: np.ndarray, first: bool) -> np.ndarray:
            action, state[0] = policy.predict(
                obs[None],
                state=None if first else state[0],
                episode_start=np.array([first]),
                deterministic=True,
            )
            return action[0]

        return rollout(act, env, options=options)

    def _insample(self, prices: Any, env: Any, first: int, train_end: int) -> dict[str, Any]:
        from ..backtest import ConstantRebalanced, run

        agent = self._play(self.module_, env)
        close = prices["close"] if isinstance(prices, Mapping) else prices
        n = len(self.assets_)
        uniform = run(
            ConstantRebalanced(np.concatenate([[0.0], np.full(n, 1.0 / n)]), name="1/N"),
            close.iloc[first : train_end + 1],
            fee=float(self.commission),
            cash=True,
        )
        a, u = float(np.mean(agent["log"])), float(np.mean(np.log1p(uniform.returns)))
        return {
            "agent_log_growth": a,
            "uniform_log_growth": u,
            "learned": bool(a > u),
            "periods": [int(first), int(train_end)],
        }

    # ----------------------------------------------------------------- predict
    def reset_state(self) -> None:
        """Start a new episode: forget the recurrent state (no effect on MLP policies)."""
        self._state: Any = None
        self._first = True

    def act(self, observation: Any) -> np.ndarray:
        """Deterministic action for one flat observation of the agent's environment.

        Advances the recurrent state (see the module docstring).

        Parameters
        ----------
        observation : array_like, shape (F·n·window + n + 1,)

        Returns
        -------
        numpy.ndarray, shape (n + 1,)
        """
        self._check_fitted()
        obs = np.asarray(observation, dtype=np.float32)[None]
        action, state = self.module_.predict(
            obs,
            state=None if self._first else self._state,
            episode_start=np.array([self._first]),
            deterministic=True,
        )
        self._state, self._first = state, False
        return np.asarray(action[0], dtype=float)

    def _previous(self, previous: Any) -> np.ndarray:
        n = len(self.assets_)
        if previous is None:
            out = np.zeros(n + 1)
            out[0] = 1.0
            return out
        p = np.asarray(previous, dtype=float)
        if p.shape != (n + 1,) or not np.isfinite(p).all() or (p < -1e-12).any():
            raise InputError(f"previous must be {n + 1} non-negative weights (cash first), got {p}")
        return p / p.sum()

    def _weights(self, feats: np.ndarray, previous: np.ndarray) -> np.ndarray:
        from .eiie import price_tensor
        from .env import action_to_weights

        names = tuple(str(f) for f in self.features)
        open_index = names.index("open") if self.normalize == "open" else None
        last = np.array([feats.shape[1] - 1])
        tensor = price_tensor(feats, last, int(self.window), self.normalize, 0, open_index)[0]
        obs = np.concatenate([tensor.ravel(), previous.astype(np.float32)])
        return action_to_weights(self.act(obs))

    def predict(self, prices: Any, previous: Any = None) -> pd.Series:
        """Weights for the period after the last row, index ``["cash", *assets]``.

        Parameters
        ----------
        prices : DataFrame of closes, or mapping feature -> DataFrame
            At least ``window`` rows of the fitted assets.
        previous : array-like, shape (n + 1,), optional
            Weights held now, cash first (default: all cash).

        Returns
        -------
        pandas.Series
        """
        from .env import stack_features

        self._check_fitted()
        feats, close = stack_features(prices, self.features, min_rows=self.min_predict_rows)
        check_columns(close, self.assets_)
        w = self._weights(feats[:, -int(self.window) :], self._previous(previous))
        return pd.Series(w, index=self._output_index(), name=date_label(close.index[-1]))

    def predict_relatives(
        self, relatives: np.ndarray, previous: np.ndarray | None = None
    ) -> np.ndarray:
        """Array path of :meth:`predict` from (k, n) close relatives, ``k >= window - 1``."""
        self._check_fitted()
        rel = np.asarray(relatives, dtype=float)
        k = int(self.window) - 1
        if rel.ndim != 2 or rel.shape[0] < k or rel.shape[1] != len(self.assets_):
            raise InputError(
                f"predict_relatives needs at least ({k}, {len(self.assets_)}) relatives"
            )
        if tuple(self.features) != ("close",):
            raise InputError("the array path supports features=('close',) only; call predict")
        rel = rel[rel.shape[0] - k :]
        closes = np.vstack([np.ones((1, rel.shape[1])), np.cumprod(rel, axis=0)])
        return self._weights(closes[None], self._previous(previous))

    # ------------------------------------------------------------- persistence
    def _spaces(self) -> tuple[Any, Any]:
        from .env import observation_space

        n = len(self.assets_)
        return observation_space(len(tuple(self.features)), n, int(self.window), n + 1)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted agent to the folder ``path`` (safetensors + JSON, no pickle)."""
        self._check_fitted()
        params = self.get_params()
        params["features"] = list(params["features"])
        tensors = {f"module.{k}": v for k, v in self.module_.state_dict().items()}
        meta = {
            "class": type(self).__name__,
            "params": params,
            "policy_class": type(self.module_).__name__,
            "policy_kwargs": self.resolved_policy_kwargs(),
            "assets": self.assets_,
            "train_dates": self.train_dates_,
            "history": self.history_,
            "insample": self.insample_,
            "seed": self.seed_,
            "best_step": self.best_step_,
            "fit_seconds": self.fit_seconds_,
            "n_updates": self.n_updates_,
            "gradient_steps": self.gradient_steps_,
        }
        return save_folder(path, tensors, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str | None = None) -> SB3Allocator:
        """Rebuild an agent written by :meth:`save` (it predicts; it does not resume training)."""
        tensors, meta = load_folder(path, cls.__name__)
        try:
            params = dict(meta["params"])
            params["features"] = tuple(params["features"])
            model = cls(**params)
            model._check_params()
            model.assets_ = [str(a) for a in meta["assets"]]
            obs_space, act_space = model._spaces()
            policy_cls = _policy_class(model.algo)
            if policy_cls.__name__ != meta.get("policy_class"):
                raise ValueError(f"policy class {meta.get('policy_class')!r} for {model.algo!r}")
            policy = policy_cls(
                obs_space,
                act_space,
                lambda _: 0.0,
                **_torch_policy_kwargs(dict(meta["policy_kwargs"])),
            )
            policy.load_state_dict(module_state(tensors), strict=True)
        except (KeyError, TypeError, RuntimeError, ValueError) as err:
            raise ModelFileError(f"{path} does not describe a valid {cls.__name__}: {err}") from err
        device = load_device(model.device, device)
        model.device = device
        model.module_ = policy.to(resolve_device(device))
        model.module_.set_training_mode(False)
        model.history_ = list(meta.get("history", []))
        model.insample_ = dict(meta.get("insample", {}))
        model.train_dates_ = dict(meta.get("train_dates", {}))
        model.seed_ = meta.get("seed")
        model.best_step_ = meta.get("best_step")
        model.fit_seconds_ = meta.get("fit_seconds")
        model.n_updates_ = meta.get("n_updates")
        model.gradient_steps_ = meta.get("gradient_steps")
        model.reset_state()
        return model
