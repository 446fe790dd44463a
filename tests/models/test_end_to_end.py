"""MarkowitzForecaster: the predict-then-optimize and end-to-end allocators of chapter 14."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from portfolio_lab import layers
from portfolio_lab.estimators import ledoit_wolf
from portfolio_lab.exceptions import InputError, NotFittedError
from portfolio_lab.models import MarkowitzForecaster
from portfolio_lab.models.end_to_end import covariance_parts


def prices(T=260, n=4, seed=0):
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2020-01-01", periods=T)
    steps = rng.normal(3e-4, 0.015, size=(T, n)) + rng.normal(0, 0.01, size=(T, 1))
    return pd.DataFrame(np.exp(np.cumsum(steps, axis=0)), index=index, columns=list("abcd")[:n])


SMALL = dict(window=6, horizon=3, cov_window=30, hidden_size=4, mse_epochs=3, epochs=3,
             batch_size=6, steps_per_epoch=4, random_state=1)  # fmt: skip


def test_covariance_parts_rebuild_ledoit_wolf():
    r = prices().pct_change().dropna().to_numpy()
    parts = covariance_parts(r, np.array([40, 100]), 30)
    for k, t in enumerate((40, 100)):
        lw = ledoit_wolf(r[t - 29 : t + 1])
        assert np.allclose(parts["covariance"][k], np.asarray(lw.covariance), atol=1e-15)
        d, p = parts["shrinkage"][k], parts["prior_scale"][k]
        rebuilt = (1 - d) * parts["sample"][k] + d * p * np.eye(4)
        assert np.allclose(rebuilt, parts["covariance"][k], atol=1e-15, rtol=1e-12)
        centred = r[t - 29 : t + 1] - r[t - 29 : t + 1].mean(axis=0)
        assert np.allclose(parts["sample"][k], centred.T @ centred / 30, atol=1e-14)


@pytest.mark.parametrize(
    "options",
    [{"objective": "mse"}, {"objective": "sharpe"},
     {"objective": "sharpe", "learn_shrinkage": True, "learn_risk_aversion": True}],
)  # fmt: skip
def test_fit_predict_and_weights_are_the_layer_of_the_forecast(options, tmp_path):
    p = prices()
    model = MarkowitzForecaster(**SMALL, **options).fit(p)
    w = model.predict(p)
    assert w.index.tolist() == list(p.columns)
    assert abs(w.sum() - 1) < 1e-12 and (w >= 0).all()
    pr = model.problems(p, dates=[p.index[-1]], probe=np.ones((1, 4)))
    # the weights are the layer applied to the forecast and Σ (the last date's row of prices)
    ref = layers.markowitz(torch.tensor(pr["forecasts"]), torch.tensor(pr["covariances"]),
                           risk_aversion=pr["risk_aversion"])  # fmt: skip
    assert np.allclose(ref.numpy(), pr["weights"], atol=1e-14)
    # ones·w = 1 whatever the forecast: its gradient vanishes
    assert np.abs(pr["gradient"]).max() < 1e-10
    phases = {h["phase"] for h in model.history_}
    assert phases == ({"mse"} if options["objective"] == "mse" else {"mse", "sharpe"})
    if options.get("learn_shrinkage"):
        assert model.shrinkage_ is not None and 0 < model.shrinkage_ < 1
        assert model.shrinkage_ != pytest.approx(model.lw_shrinkage_mean_, abs=1e-9)
    back = MarkowitzForecaster.load(model.save(tmp_path / "m"))
    assert np.allclose(back.predict(p).to_numpy(), w.to_numpy(), atol=1e-12)
    assert back.risk_aversion_ == pytest.approx(model.risk_aversion_)


def test_same_seed_same_mse_phase():
    """E2E starts from exactly the predict-then-optimize network (same seed, same MSE fit)."""
    p = prices()
    a = MarkowitzForecaster(objective="mse", **SMALL).fit(p)
    b = MarkowitzForecaster(objective="sharpe", **{**SMALL, "epochs": 1}).fit(p)
    assert [h["train_loss"] for h in a.history_] == [
        h["train_loss"] for h in b.history_ if h["phase"] == "mse"
    ]


def test_end_to_end_training_lowers_the_in_sample_loss():
    p = prices(T=400, seed=2)
    model = MarkowitzForecaster(**{**SMALL, "objective": "sharpe", "epochs": 15, "patience": 100,
                                   "validation_fraction": 0.0, "lr": 0.01,
                                   "steps_per_epoch": None})  # fmt: skip
    model.fit(p)
    losses = [h["train_loss"] for h in model.history_ if h["phase"] == "sharpe"]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])


def test_predict_is_causal():
    p = prices()
    model = MarkowitzForecaster(**SMALL).fit(p.iloc[:200])
    cut = p.iloc[:220]
    later = p.copy()
    later.iloc[220:] *= 1.5
    assert np.array_equal(model.predict(cut).to_numpy(), model.predict(later.iloc[:220]).to_numpy())


def test_bad_parameters_and_unfitted_model():
    with pytest.raises(InputError):
        MarkowitzForecaster(objective="huber").fit(prices())
    with pytest.raises(InputError):
        MarkowitzForecaster(learn_shrinkage=True).fit(prices())
    with pytest.raises(InputError):
        MarkowitzForecaster(horizon=0).fit(prices())
    with pytest.raises(NotFittedError):
        MarkowitzForecaster().predict(prices())
