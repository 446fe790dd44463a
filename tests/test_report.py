"""The report's ledger reads values by address; review.reread finds them again independently."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from portfolio_lab.exceptions import InputError
from portfolio_lab.report import Ledger, MissingArtifact, format_value
from portfolio_lab.review import absent, reread


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    run = tmp_path / "run"
    run.mkdir()
    (run / "a.json").write_text(
        json.dumps(
            {
                "gmv": {"risk": 0.123456789},
                "rows": [{"n": 1, "v": 2.5}, {"n": 2, "v": 3.5}],
                "status": ["optimal", "infeasible", "optimal"],
            }
        )
    )
    frame = pd.DataFrame(
        {
            "strategy": ["x", "x", "y"],
            "fee": ["0.10%", "0.00%", "0.10%"],
            "sharpe": [1.0, 2.0, 4.0],
        },
        index=["i", "j", "k"],
    )
    frame.to_parquet(run / "t.parquet")
    return Ledger({"run": str(run)})


def test_every_kind_is_recorded_and_reread_equal(ledger: Ledger) -> None:
    assert ledger.json("s", "risk", "run", "a.json", ["gmv", "risk"]) == 0.123456789
    assert ledger.json("s", "v of n 2", "run", "a.json", ["rows", {"n": 2}, "v"]) == 3.5
    assert ledger.count("s", "optimal", "run", "a.json", ["status"], "optimal") == 2
    assert (
        ledger.cell(
            "s", "x sharpe", "run", "t.parquet", {"strategy": "x", "fee": "0.10%"}, "sharpe"
        )
        == 1.0
    )
    assert ledger.cell("s", "by index", "run", "t.parquet", {"index": "k"}, "sharpe") == 4.0
    assert ledger.agg("s", "x mean", "run", "t.parquet", {"strategy": "x"}, "sharpe", "mean") == 1.5
    assert ledger.agg(
        "s", "x std", "run", "t.parquet", {"strategy": "x"}, "sharpe", "std"
    ) == pytest.approx(0.7071067811865476)
    ledger.constant(
        "s", "toolbox ubah", "portfolio_lab.backtest.survey", "OLPS_TOOLBOX_DJIA", ["ubah"]
    )
    for entry in ledger.entries:
        assert reread(entry, ledger.roots) == pytest.approx(entry["value"], rel=1e-15)
    table = ledger.table("s")
    assert table.loc["risk", "value"] == "0.1235" and table.loc["risk", "artifact"] == "run/a.json"


def test_reread_sees_a_changed_artifact(ledger: Ledger, tmp_path) -> None:
    ledger.json("s", "risk", "run", "a.json", ["gmv", "risk"])
    path = tmp_path / "run" / "a.json"
    data = json.loads(path.read_text())
    data["gmv"]["risk"] = 0.2
    path.write_text(json.dumps(data))
    assert reread(ledger.entries[0], ledger.roots) == 0.2 != ledger.entries[0]["value"]


def test_bad_addresses_are_errors_that_name_them(ledger: Ledger) -> None:
    with pytest.raises(InputError, match="matches 0 items"):
        ledger.json("s", "l", "run", "a.json", ["rows", {"n": 9}, "v"])
    with pytest.raises(InputError, match="no entry 'nope'"):
        ledger.json("s", "l", "run", "a.json", ["nope"])
    with pytest.raises(InputError, match="is not one cell"):
        ledger.cell("s", "l", "run", "t.parquet", {"strategy": "x"}, "sharpe")
    with pytest.raises(InputError, match="no column"):
        ledger.cell("s", "l", "run", "t.parquet", {"strat": "x"}, "sharpe")
    with pytest.raises(InputError, match="aggregate must be"):
        ledger.agg("s", "l", "run", "t.parquet", {}, "sharpe", "median")
    with pytest.raises(InputError, match="unknown ledger root"):
        ledger.path("elsewhere", "a.json")


def test_missing_artifacts_are_recorded_and_typed(ledger: Ledger, tmp_path) -> None:
    assert not ledger.has("run", "gone.json") and ledger.missing == ["run:gone.json"]
    with pytest.raises(MissingArtifact):
        ledger.read_json("run", "gone.json")
    assert absent([str(tmp_path / "run" / "a.json"), str(tmp_path / "gone")]) == [
        str(tmp_path / "gone")
    ]
    saved = json.loads(ledger.save(tmp_path / "out").read_text())
    assert saved["missing"] == ["run:gone.json"] and saved["roots"] == ledger.roots


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.123456, "0.1235"), (1234567.0, "1.235e+06"), (5, "5"), (True, "True"), ("a", "a")],
)
def test_format_value(value, text) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (479.3, "3", "479"),
        (12345.0, "3", "12,300"),
        (0.01234, "3", "0.0123"),
        (999.6, "3", "1,000"),
        (1.3e-15, "3", "1.30e-15"),
        (106.99, "x", "107×"),
        (0.0394, "ms", "39.4 ms"),
        (2.5, "s", "2.50 s"),
        (0.3, "pct", "30.0 %"),
        (7, "3", "7"),
        ("none.", "text", "none."),
    ],
)
def test_reading_formats(value, fmt, text) -> None:
    assert format_value(value, fmt) == text


def test_unknown_format_is_refused_and_shown_finds_the_text(ledger) -> None:
    with pytest.raises(InputError):
        format_value(1.0, "eur")
    ledger.json("s", "x", "run", "a.json", ["gmv", "risk"], fmt="pct")
    entry = ledger.entries[-1]
    assert entry["fmt"] == "pct" and ledger.shown("s", "x") == entry["shown"]
    with pytest.raises(InputError):
        ledger.shown("s", "absent")
