import json

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio_lab.exceptions import (
    BackendError,
    ColumnMismatchError,
    InputError,
    InsufficientHistoryError,
    InvalidPricesError,
    ModelFileError,
    NonFiniteError,
    NotFittedError,
)
from portfolio_lab.models import LSTMSharpe

from ._fixtures import TINY, make_prices


@pytest.fixture(scope="module")
def prices():
    return make_prices(200, 3)


@pytest.fixture(scope="module")
def fitted(prices):
    return LSTMSharpe(**TINY).fit(prices)


def _states_equal(a, b):
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_contract_defaults():
    m = LSTMSharpe()
    assert (m.window, m.hidden_size, m.num_layers, m.dropout, m.lr) == (50, 64, 1, 0.0, 1e-3)
    assert (m.epochs, m.batch_size, m.cost, m.vol_target, m.denoise) == (100, 64, 0.0, None, "none")
    assert (m.validation_fraction, m.patience, m.device, m.random_state, m.progress) == (
        0.1,
        10,
        "cpu",
        None,
        False,
    )


def test_fit_predict_contract(fitted, prices):
    assert isinstance(fitted.module_, torch.nn.Module)
    assert fitted.history_ and {"epoch", "train_loss", "val_loss"} <= set(fitted.history_[0])
    w = fitted.predict(prices)
    assert isinstance(w, pd.Series) and list(w.index) == list(prices.columns)
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0, abs=1e-12)
    assert w.name == str(prices.index[-1].date())
    # only the latest rows are read
    pd.testing.assert_series_equal(fitted.predict(prices.iloc[-60:]), w)


def test_validation_lies_strictly_after_training(fitted, prices):
    d = fitted.train_dates_
    assert pd.Timestamp(d["last_training_target"]) < pd.Timestamp(d["validation_first_target"])
    assert pd.Timestamp(d["validation_last_target"]) == prices.index[-1]
    assert fitted.n_samples_["validation"] == round(0.1 * (len(prices) - 1 - TINY["window"]))


def test_same_seed_is_bit_identical_and_other_seeds_differ(prices):
    a = LSTMSharpe(**TINY).fit(prices)
    b = LSTMSharpe(**TINY).fit(prices)
    c = LSTMSharpe(**{**TINY, "random_state": 1}).fit(prices)
    assert _states_equal(a, b)
    assert a.history_ == b.history_
    assert not _states_equal(a, c)


def test_fit_leaves_the_global_torch_generator_alone(prices):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    LSTMSharpe(**{**TINY, "epochs": 1}).fit(prices)
    assert torch.equal(torch.rand(3), expected)


@settings(max_examples=5, deadline=None)
@given(scale=st.lists(st.floats(0.05, 50.0), min_size=3, max_size=3))
def test_predictions_are_scale_invariant(fitted, prices, scale):
    scaled = prices * np.asarray(scale)
    np.testing.assert_allclose(fitted.predict(scaled), fitted.predict(prices), atol=2e-6)


def test_fitting_on_scaled_prices_gives_the_same_model(prices):
    a = LSTMSharpe(**TINY).fit(prices)
    b = LSTMSharpe(**TINY).fit(prices * np.array([3.0, 0.2, 70.0]))
    np.testing.assert_allclose(
        a.predict(prices), b.predict(prices * np.array([3.0, 0.2, 70.0])), atol=1e-5
    )


def test_early_stopping_keeps_the_best_epoch(prices):
    m = LSTMSharpe(**{**TINY, "epochs": 40, "patience": 2, "lr": 0.05}).fit(prices)
    vals = [h["val_loss"] for h in m.history_]
    assert m.best_epoch_ == int(np.argmin(vals)) + 1
    if m.stopped_early_:
        assert len(vals) - m.best_epoch_ == 2


def test_no_validation_runs_every_epoch(prices):
    m = LSTMSharpe(**{**TINY, "validation_fraction": 0.0, "epochs": 4}).fit(prices)
    assert len(m.history_) == 4 and m.history_[-1]["val_loss"] is None
    assert m.train_dates_["validation_first_target"] is None


@pytest.mark.parametrize(
    "options",
    [
        {"cash": True},
        {"vol_target": 0.1},
        {"vol_target": 0.1, "cash": True},
        {"denoise": "mp"},
        {"denoise": "wavelet", "window": 16},
        {"loss": "log", "turnover_penalty": 0.01},
        {"cost": 0.01, "steps_per_epoch": 2, "num_layers": 2, "dropout": 0.1},
    ],
)
def test_options_fit_predict_and_round_trip(prices, options, tmp_path):
    m = LSTMSharpe(**{**TINY, **options}).fit(prices)
    w = m.predict(prices)
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0, abs=1e-9)
    if options.get("cash"):
        assert list(w.index) == ["cash", *prices.columns]
    m.save(tmp_path / "m")
    back = LSTMSharpe.load(tmp_path / "m")
    np.testing.assert_array_equal(back.predict(prices).to_numpy(), w.to_numpy())
    assert back.get_params() == m.get_params()


def test_vol_target_scales_positions_inversely_to_volatility():
    p = make_prices(300, 2, seed=4)
    calm = p.copy()
    # asset 1 four times as volatile
    r = np.log(p["A1"]).diff().fillna(0) * 4
    calm["A1"] = 100 * np.exp(r.cumsum())
    m = LSTMSharpe(**{**TINY, "vol_target": 0.1, "epochs": 1}).fit(calm)
    raw = LSTMSharpe(**{**TINY, "epochs": 1}).fit(calm)
    w, w0 = m.predict(calm), raw.predict(calm)
    # same network draw (same seed): scaling moves weight to the calm asset
    assert w["A0"] / w["A1"] > 2 * w0["A0"] / w0["A1"]


def test_save_writes_safetensors_and_json_only(fitted, tmp_path):
    folder = fitted.save(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "weights.safetensors"]
    meta = json.loads((folder / "model.json").read_text())
    assert meta["class"] == "LSTMSharpe" and meta["assets"] == ["A0", "A1", "A2"]
    assert meta["params"]["window"] == TINY["window"] and "package_version" in meta
    assert "last_training_target" in meta["train_dates"]


def test_load_refuses_bad_folders(fitted, tmp_path):
    with pytest.raises(ModelFileError, match="not a folder"):
        LSTMSharpe.load(tmp_path / "missing")
    folder = fitted.save(tmp_path / "m")
    meta = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**meta, "class": "EIIE"}))
    with pytest.raises(ModelFileError, match="EIIE"):
        LSTMSharpe.load(folder)
    (folder / "model.json").write_text(
        json.dumps({**meta, "params": {**meta["params"], "hidden_size": 9}})
    )
    with pytest.raises(ModelFileError, match="valid LSTMSharpe"):
        LSTMSharpe.load(folder)
    (folder / "model.json").write_text(json.dumps(meta))
    (folder / "weights.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ModelFileError, match="safetensors"):
        LSTMSharpe.load(folder)
    (folder / "weights.safetensors").unlink()
    with pytest.raises(ModelFileError, match="missing"):
        LSTMSharpe.load(folder)
    (folder / "model.json").write_text("{not json")
    with pytest.raises(ModelFileError):
        LSTMSharpe.load(folder)


def test_bad_input_raises_typed_errors(fitted, prices):
    nan = prices.copy()
    nan.iloc[5, 1] = np.nan
    with pytest.raises(NonFiniteError, match="A1"):
        LSTMSharpe(**TINY).fit(nan)
    inf = prices.copy()
    inf.iloc[7, 0] = np.inf
    with pytest.raises(NonFiniteError):
        fitted.predict(inf)
    neg = prices.copy()
    neg.iloc[3, 2] = -1.0
    with pytest.raises(InvalidPricesError, match="strictly positive"):
        LSTMSharpe(**TINY).fit(neg)
    with pytest.raises(InsufficientHistoryError, match="at least"):
        LSTMSharpe(**TINY).fit(prices.iloc[:10])
    with pytest.raises(InsufficientHistoryError):
        fitted.predict(prices.iloc[:5])
    with pytest.raises(ColumnMismatchError, match="missing"):
        fitted.predict(prices.drop(columns="A2"))
    with pytest.raises(ColumnMismatchError, match="order"):
        fitted.predict(prices[["A2", "A1", "A0"]])
    with pytest.raises(NotFittedError):
        LSTMSharpe().predict(prices)
    for err in (InsufficientHistoryError, ColumnMismatchError, NonFiniteError, ModelFileError):
        assert issubclass(err, ValueError)


@pytest.mark.parametrize(
    "bad",
    [
        {"window": 1},
        {"batch_size": 1},
        {"validation_fraction": 0.95},
        {"cost": -0.1},
        {"vol_target": 0.0},
        {"denoise": "fft"},
        {"loss": "sortino"},
        {"dropout": 1.0},
        {"steps_per_epoch": 0},
    ],
)
def test_bad_parameters_raise_at_fit(prices, bad):
    m = LSTMSharpe(**{**TINY, **bad})  # __init__ only stores
    with pytest.raises(InputError):
        m.fit(prices)


def test_cuda_without_a_gpu_is_a_clear_error(prices):
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(BackendError, match="no CUDA GPU"):
        LSTMSharpe(**{**TINY, "device": "cuda"}).fit(prices)
    m = LSTMSharpe(**{**TINY, "device": "auto", "epochs": 1}).fit(prices)
    assert str(m._device()) == "cpu"


@pytest.mark.gpu
def test_cuda_fit_matches_the_contract(prices):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible to torch")
    m = LSTMSharpe(**{**TINY, "device": "cuda"}).fit(prices)
    w = m.predict(prices)
    assert w.sum() == pytest.approx(1.0, abs=1e-6)


def test_cost_in_the_loss_lowers_turnover():
    p = make_prices(400, 4, seed=9)
    base = dict(TINY, epochs=25, patience=25, lr=0.01, validation_fraction=0.0)
    free = LSTMSharpe(**base).fit(p)
    dear = LSTMSharpe(**{**base, "cost": 0.05}).fit(p)

    def turnover(m):
        rel = p.to_numpy()[1:] / p.to_numpy()[:-1]
        need = m.predict_rows - 1
        w = np.array([m.predict_relatives(rel[t - need : t]) for t in range(need, len(rel))])
        return np.abs(np.diff(w, axis=0)).sum(axis=1).mean()

    assert turnover(dear) < turnover(free)


@pytest.mark.parametrize("denoise", ["none", "mp"])
def test_window_views_equal_the_materialized_features(prices, denoise):
    """The per-batch unfold views give the features window_features would copy out."""
    from portfolio_lab.models.denoise import Denoiser
    from portfolio_lab.models.lstm_sharpe import _feature_scale

    m = LSTMSharpe(window=12, denoise=denoise)
    r = prices.to_numpy()[1:] / prices.to_numpy()[:-1] - 1.0
    m.denoiser_ = Denoiser(denoise).fit(r[:120])
    ends = np.arange(11, len(r) - 1)
    want = m._inputs(r, ends)  # (k, L, n, 2), the materialized path predict uses
    inputs = m._window_inputs(r, ends, "cpu")
    got = inputs(torch.arange(len(ends))).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    sel = torch.tensor([5, 0, 17])
    np.testing.assert_allclose(inputs(sel).numpy(), want[[5, 0, 17]], rtol=1e-5, atol=1e-7)
    # the streaming feature scale equals the std of the materialized training windows
    np.testing.assert_allclose(
        _feature_scale(inputs, 100, chunk=7), want[:100].astype(float).std(axis=(0, 1)), rtol=1e-6
    )


def test_seen_records_the_targets_the_loss_consumed(fitted, prices, tmp_path):
    """``seen_`` holds the real returns of the first, last training and last validation targets."""
    r = prices.to_numpy()[1:] / prices.to_numpy()[:-1] - 1.0
    seen = fitted.seen_
    k = len(seen["validation_last"])
    # the last target is the last return of the history; validation follows training
    np.testing.assert_allclose(seen["validation_last"], r[-k:], rtol=1e-6, atol=1e-9)
    n_val = fitted.n_samples_["validation"]
    end = len(r) - n_val
    np.testing.assert_allclose(seen["train_last"], r[end - k : end], rtol=1e-6)
    start = TINY["window"]  # sample 0 ends at return window - 1 and predicts the next one
    np.testing.assert_allclose(seen["train_first"], r[start : start + k], rtol=1e-6)
    again = LSTMSharpe.load(fitted.save(tmp_path / "m"))
    assert again.seen_ == json.loads(json.dumps(seen))
