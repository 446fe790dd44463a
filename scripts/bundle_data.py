"""Regenerate ``src/portfolio_lab/data/bundled/*.parquet`` from two wheels' package data.

The wheels are skfolio (BSD-3) and universal-portfolios (MIT).

Run by hand, never by the build::

    pip download --no-deps -d wheels skfolio universal-portfolios
    (cd wheels && unzip -qo 'skfolio-*.whl' 'skfolio/datasets/data/*' \
                && unzip -qo 'universal_portfolios-*.whl' 'universal/data/*')
    .venv/bin/python scripts/bundle_data.py --skfolio wheels/skfolio/datasets/data \
                                            --universal wheels/universal/data

It checks each source file (see ``data/DATA.md``), writes the bundled files atomically
and prints their sizes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from portfolio_lab.data._bundled import OLPS_DATASETS
from portfolio_lab.data._codec import decimals_needed, encode_frame, read_bundled, write_bundled

OUT = Path(__file__).resolve().parents[1] / "src" / "portfolio_lab" / "data" / "bundled"


def _check_prices(frame: pd.DataFrame, label: str) -> None:
    values = frame.to_numpy()
    assert frame.index.is_monotonic_increasing and frame.index.is_unique, label
    assert np.isfinite(values).all() and (values > 0).all(), label


def bundle_skfolio(src: Path) -> list[Path]:
    """Bundle the 20-stock S&P 500 prices and the S&P 500 index."""
    written = []
    for stem, name in (("sp500", "sp500_dataset"), ("sp500_index", "sp500_index")):
        frame = pd.read_csv(src / f"{name}.csv.gz", parse_dates=["Date"], index_col="Date")
        frame.index.name = "date"
        frame = frame.astype(np.float64)
        _check_prices(frame, stem)
        d = decimals_needed(frame.to_numpy(), max_decimals=6, atol=1e-9)
        assert d is not None, stem
        table = encode_frame(frame, kind="prices", encoding="decimal_delta", decimals=d)
        path = write_bundled(OUT / f"{stem}.parquet", table)
        path.chmod(0o644)
        back, _ = read_bundled(path)
        assert back.equals(frame), f"{stem} does not round-trip"
        print(f"{stem}: {frame.shape}, {d} decimals, {path.stat().st_size:,} bytes")
        written.append(path)
    return written


def bundle_universal(src: Path) -> list[Path]:
    """Bundle the six OLPS datasets as price relatives."""
    written = []
    for name, spec in OLPS_DATASETS.items():
        prices = pd.read_csv(src / f"{name}.csv").to_numpy(dtype=np.float64)
        assert prices.shape == (spec.n_days, spec.n_assets), (name, prices.shape)
        assert np.isfinite(prices).all() and (prices > 0).all(), name
        # The CSV holds cumulative products of the relatives: the first row is the
        # first relative itself, each later row divided by the one before is the next.
        rel = np.vstack([prices[:1], prices[1:] / prices[:-1]])
        d = decimals_needed(rel, max_decimals=10, atol=1e-12)
        columns = [f"s{i + 1:02d}" for i in range(spec.n_assets)]
        if d is None:
            frame = pd.DataFrame(rel, columns=columns)
            table = encode_frame(frame, kind="relatives", encoding="float64")
        else:
            frame = pd.DataFrame(np.round(rel, d), columns=columns)
            table = encode_frame(frame, kind="relatives", encoding="decimal", decimals=d)
        path = write_bundled(OUT / f"olps_{name}.parquet", table)
        path.chmod(0o644)
        back, _ = read_bundled(path)
        assert back.equals(frame), f"{name} does not round-trip"
        err = np.abs(np.cumprod(back.to_numpy(), axis=0) / prices - 1).max()
        print(
            f"olps_{name}: {frame.shape}, decimals={d}, max rel. error of rebuilt prices "
            f"{err:.1e}, {path.stat().st_size:,} bytes"
        )
        written.append(path)
    return written


def main() -> None:
    """Parse arguments and regenerate every bundled file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skfolio", type=Path, required=True, help="skfolio/datasets/data")
    parser.add_argument("--universal", type=Path, required=True, help="universal/data")
    args = parser.parse_args()
    paths = bundle_skfolio(args.skfolio) + bundle_universal(args.universal)
    total = sum(p.stat().st_size for p in paths)
    print(f"total: {total:,} bytes in {len(paths)} files")


if __name__ == "__main__":
    main()
