"""benchmarks.paired_gain: gains over any strategy, paired by episode."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.paired_gain import main, paired_gains


def _episodes(scores: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = [dict(env_id="X-v0", strategy=s, episode=i, seed=10_000_000 + i, t=t, score=v * t)
            for s, values in scores.items() for i, v in enumerate(values) for t in (0, 2)]  # fmt: skip
    return pd.DataFrame(rows)


def test_gains_are_paired_with_the_chosen_reference():
    base = np.array([10.0, 20.0, 30.0, 40.0])
    episodes = _episodes({"A": base + 1.0, "RoundRobin": base, "Random": base - 3.0})
    table = paired_gains(episodes, "RoundRobin").set_index("strategy")
    assert list(table.index) == ["A", "Random"] and (table.t == 2).all()
    assert table.gain["A"] == pytest.approx(2.0) and table.gain_ci95["A"] == pytest.approx(0.0)  # + 1 at t = 2
    assert table.gain["Random"] == pytest.approx(-6.0)
    with pytest.raises(ValueError, match="no strategy 'Nope' in these runs; they hold: A, Random, RoundRobin"):
        paired_gains(episodes, "Nope")
    other = _episodes({"A": base, "Random": base}).assign(env_id="Y-v0")  # an id without the reference
    assert set(paired_gains(pd.concat([episodes, other]), "RoundRobin").env_id) == {"X-v0"}


def test_cli_joins_runs_and_refuses_an_unknown_reference(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    _episodes({"A": np.arange(1.0, 5.0), "Random": np.zeros(4)}).to_csv(run / "episodes.csv", index=False)
    with pytest.raises(SystemExit):
        main([str(run), "--reference", "RoundRobin", "--out", "unused"])
    assert "no strategy 'RoundRobin'" in capsys.readouterr().err
