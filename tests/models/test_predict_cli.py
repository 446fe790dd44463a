import json

import numpy as np
import pandas as pd
import pytest

from portfolio_lab.cli import main
from portfolio_lab.data import load_prices
from portfolio_lab.models import LSTMSharpe

from ._fixtures import TINY, make_prices


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    prices = load_prices("sp500", tickers=["AAPL", "KO", "XOM"], start="2020-01-01")
    folder = tmp_path_factory.mktemp("cli") / "model"
    LSTMSharpe(**TINY).fit(prices).save(folder)
    return folder, prices


def test_predict_prints_json_weights(saved, capsys):
    folder, prices = saved
    assert main(["predict", "--model", str(folder), "--json", "--asof", "2021-06-30"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["class"] == "LSTMSharpe" and record["asof"] == "2021-06-30"
    assert list(record["weights"]) == ["AAPL", "KO", "XOM"]
    assert sum(record["weights"].values()) == pytest.approx(1.0)
    expected = LSTMSharpe.load(folder).predict(prices.loc[:"2021-06-30"])
    assert record["weights"] == pytest.approx(expected.to_dict(), abs=1e-12)


def test_predict_reads_a_prices_file_and_prints_a_table(saved, tmp_path, capsys):
    folder, prices = saved
    csv = tmp_path / "p.csv"
    prices.to_csv(csv)
    assert main(["predict", "--model", str(folder), "--prices", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "weights for the next period" in out and "KO" in out


def test_predict_errors_exit_2(saved, tmp_path, capsys):
    folder, _ = saved
    assert main(["predict", "--model", str(tmp_path / "none")]) == 2
    assert "no saved model" in capsys.readouterr().err
    assert main(["predict", "--model", str(folder), "--asof", "1990-01-05"]) == 2
    assert "needs at least" in capsys.readouterr().err
    other = tmp_path / "other"
    LSTMSharpe(**{**TINY, "epochs": 1}).fit(make_prices(60, 2)).save(other)
    assert main(["predict", "--model", str(other)]) == 2
    assert "lack the model's assets" in capsys.readouterr().err
    assert main(["predict", "--model", str(folder), "--prices", str(tmp_path / "x.csv")]) == 2
    assert "no prices file" in capsys.readouterr().err


def test_predict_loads_an_eiie_agent(tmp_path, capsys):
    from portfolio_lab.models import EIIE

    prices = load_prices("olps:djia").iloc[:120]
    folder = tmp_path / "agent"
    agent = EIIE(window=10, steps=5, batch_size=16, random_state=0).fit(prices)
    agent.save(folder)
    cmd = ["predict", "--model", str(folder), "--source", "olps:djia", "--json"]
    # the agent trades from what it holds: without --previous the command refuses
    assert main(cmd) == 2
    assert "--previous" in capsys.readouterr().err
    assert main([*cmd, "--previous", "cash"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["class"] == "EIIE" and list(record["weights"])[0] == "cash"
    assert sum(record["weights"].values()) == pytest.approx(1.0)
    full = load_prices("olps:djia")
    cash = np.r_[1.0, np.zeros(full.shape[1])]
    want = EIIE.load(folder).predict(full.iloc[-10:], previous=cash)
    assert record["weights"] == pytest.approx(want.to_dict(), abs=1e-12)
    # yesterday's record as today's held weights (JSON), and a two-column CSV
    held = tmp_path / "held.json"
    held.write_text(json.dumps(record))
    assert main([*cmd, "--previous", str(held)]) == 0
    again = json.loads(capsys.readouterr().out)
    want = EIIE.load(folder).predict(full.iloc[-10:], previous=list(record["weights"].values()))
    assert again["weights"] == pytest.approx(want.to_dict(), abs=1e-12)
    csv = tmp_path / "held.csv"
    pd.Series(record["weights"]).rename_axis("asset").rename("weight").to_csv(csv)
    assert main([*cmd, "--previous", str(csv)]) == 0
    assert json.loads(capsys.readouterr().out)["weights"] == pytest.approx(again["weights"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"cash": 0.5, "NOPE": 0.5}))
    assert main([*cmd, "--previous", str(bad)]) == 2
    assert "does not hold" in capsys.readouterr().err
    bad.write_text(json.dumps({"cash": 0.5}))
    assert main([*cmd, "--previous", str(bad)]) == 2
    assert "sum to one" in capsys.readouterr().err
