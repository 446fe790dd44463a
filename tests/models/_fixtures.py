"""Small price frames for the model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_prices(T: int = 160, n: int = 3, seed: int = 0, drift: float = 0.0003) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = rng.normal(drift, 0.015, size=(T, n))
    index = pd.bdate_range("2020-01-01", periods=T, name="date")
    cols = [f"A{i}" for i in range(n)]
    return pd.DataFrame(100.0 * np.exp(np.cumsum(steps, axis=0)), index=index, columns=cols)


TINY = dict(window=8, hidden_size=4, epochs=3, batch_size=16, patience=2, random_state=0)
