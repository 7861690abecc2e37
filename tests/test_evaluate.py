"""python -m benchmarks.evaluate: the thin CLI over caasl_gym.evaluation (strategies by name, tables, --score)."""

import numpy as np
import pandas as pd
import pytest

from benchmarks.evaluate import final_table, make_strategies, run
from caasl_gym.evaluation import summarize

SMALL = dict(num_nodes=4, n_initial=6, budget=3)


def test_run_is_paired_and_the_table_reports_score_and_gain():
    episodes = run(["CausalLinear-v0"], ["Random", "Observational"], n_envs=3, env_kwargs=SMALL)
    assert len(episodes) == 2 * 3 * (SMALL["budget"] + 1)
    t0 = episodes[episodes.t == 0].pivot(index="episode", columns="strategy", values="score")
    np.testing.assert_allclose(t0["Random"], t0["Observational"])  # same hidden models and initial data
    assert np.isfinite(episodes[["expected_shd", "edge_f1"]].to_numpy()).all()
    table = final_table(summarize(episodes))
    assert list(table.strategy) == ["Random", "Observational"] and (table["T"] == SMALL["budget"]).all()
    assert table["gain vs Random (paired)"].tolist()[0] == "" and table["gain vs Random (paired)"][1][0] in "+-"
    assert {"score S(h_T)", "E[SHD]", "AUPRC", "edge F1", "s / design"} <= set(table.columns)


def test_caasl_strategy_from_a_saved_policy_is_paired_and_reproducible(tmp_path, one_torch_thread):
    from caasl_agents import REDQ, make_vec_env

    env = make_vec_env("CausalLinear-v0", 2, seed=0, env_kwargs=SMALL)
    kwargs = dict(features_extractor_kwargs=dict(features_dim=8, n_layers=1, n_heads=2), n_critics=2)
    REDQ("TransformerPolicy", env, buffer_size=50, seed=0, device="cpu", policy_kwargs=kwargs).save(tmp_path / "p.zip")
    names = [f"CAASL:{tmp_path / 'p.zip'}", "Random"]
    sampled = run(["CausalLinear-v0"], names, n_envs=3, env_kwargs=SMALL)
    again = run(["CausalLinear-v0"], names, n_envs=3, env_kwargs=SMALL)
    mean = run(["CausalLinear-v0"], names, n_envs=3, env_kwargs=SMALL, deterministic=True)
    np.testing.assert_array_equal(sampled.score, again.score)  # sampled designs come from the episode's rng
    caasl = sampled[sampled.strategy == "CAASL"]
    assert not np.allclose(caasl.score, mean[mean.strategy == "CAASL"].score)
    t0 = sampled[sampled.t == 0].pivot(index="episode", columns="strategy", values="score")
    np.testing.assert_allclose(t0["CAASL"], t0["Random"])
    with pytest.raises(ValueError, match="unknown strategy 'Oracle'; valid: Random, Observational, RoundRobin, CAASL"):
        make_strategies(["Oracle"])
    with pytest.raises(ValueError, match="Greedy needs an environment id"):
        make_strategies(["Greedy"])
    kinds = make_strategies(["CAASL-deterministic", "Greedy"], "CausalLinear-v0", env_kwargs={"num_nodes": 5})
    assert kinds[0].deterministic and kinds[1].name == "Greedy" and kinds[1].posterior.prior.edges_per_node == 3.0
    with pytest.raises(ValueError, match="CAASL needs an environment id"):
        make_strategies(["CAASL"])
    with pytest.raises(ValueError, match="CAASL-value needs an environment id"):
        make_strategies(["CAASL-value"])
    value = make_strategies(["CAASL-value", "CAASL-value-deterministic"], "CausalLinear-OOD-D20-v0")
    assert [(s.name, s.deterministic) for s in value] == [("CAASL-value", False), ("CAASL-value-deterministic", True)]
    assert make_strategies(["CAASL-value"], "CausalLinear-v0", deterministic=True)[0].deterministic
    (sergio,) = make_strategies(["CAASL-value"], "SergioKnockout-OOD-D20-v0")
    assert sergio.native_d == 10 and not sergio.full_sets  # the d = 10 network, uniform targets at d = 20


def test_score_exact_rescores_the_same_designs_and_skips_large_d(tmp_path, monkeypatch, capsys):
    import benchmarks.evaluate as ev

    monkeypatch.setattr(ev, "RESULTS_DIR", tmp_path)
    argv = ["--ids", "CausalLinear-v0", "CausalLinear-OOD-D20-v0", "--strategies", "Random", "Observational"]
    argv += ["--n-envs", "2", "--score", "exact", "--env-kwargs", '{"n_initial": 6, "budget": 2}']
    table = ev.main([*argv, "--out", "exact"])
    assert "skipping CausalLinear-OOD-D20-v0" in capsys.readouterr().out
    assert set(table.env_id) == {"CausalLinear-v0"}
    assert "`exact` posterior" in (tmp_path / "exact" / "summary.md").read_text()
    # observations do not depend on the reward model, so the exact scores are those of the designs' histories
    kwargs = {"n_initial": 6, "budget": 2, "reward_model": "exact"}
    exact = run(["CausalLinear-v0"], ["Random"], n_envs=2, env_kwargs=kwargs)
    saved = pd.read_csv(tmp_path / "exact" / "episodes.csv")
    np.testing.assert_allclose(saved[saved.strategy == "Random"].score, exact.score)


def test_expected_calibration_error():
    from caasl_gym.metrics import expected_calibration_error

    adj = np.zeros((1, 3, 3), dtype=bool)
    adj[0, 0, 1] = True
    assert expected_calibration_error(adj.astype(float), adj) == 0.0
    p = np.full((1, 3, 3), 0.5)
    # one bin holds all six entries: mean probability 0.5, edge frequency 1/6
    assert expected_calibration_error(p, adj) == pytest.approx(0.5 - 1 / 6)


def test_probe_is_a_labelled_reference_and_the_table_reports_each_strategys_share_of_its_gain(tmp_path):
    from benchmarks.evaluate import probe_share
    from caasl_gym.evaluation import PROBE_NAME

    (probe,) = make_strategies(["Probe"], "CausalLinear-v0", probe_random=2)
    assert probe.name == PROBE_NAME == "Probe (privileged)" and probe.privileged and probe.n_random == 2
    episodes = run(
        ["CausalLinear-v0"], ["Random", "Observational", "Probe"], n_envs=3, env_kwargs=SMALL, probe_random=2
    )
    shares = probe_share(episodes)
    assert list(shares.strategy) == ["Observational"]  # neither the reference nor the probe itself
    last = episodes[episodes.t == SMALL["budget"]].pivot(index="episode", columns="strategy", values="score")
    by_hand = (last["Observational"] - last["Random"]).mean() / (last[PROBE_NAME] - last["Random"]).mean()
    assert shares.share[0] == pytest.approx(by_hand) and shares.share_low[0] <= shares.share_high[0]
    table = final_table(summarize(episodes), shares).set_index("strategy")
    assert table.loc["Observational", "share of probe gain"].startswith(f"{by_hand:.2f} [")
    assert table.loc[PROBE_NAME, "share of probe gain"] == "" and table.loc["Random", "share of probe gain"] == ""
    assert "share of probe gain" not in final_table(summarize(episodes)).columns  # only with the probe's shares
    assert probe_share(episodes[episodes.strategy != PROBE_NAME]).empty
    from benchmarks.evaluate import write_outputs

    write_outputs(episodes, tmp_path, "python -m benchmarks.evaluate ...")
    text = (tmp_path / "summary.md").read_text()
    assert "Probe (privileged) is privileged: a reference, not a method" in text and "share of probe gain" in text
    assert (tmp_path / "probe_share.csv").exists()


def test_random_designs_at_a_target_rate_are_nested_and_the_rate_table_pairs_them_with_random():
    from benchmarks.targeting_rate import rate_table
    from caasl_gym.evaluation import VALIDATION, ObservationalStrategy, RandomStrategy, evaluate

    obs = np.zeros((400, 5, 10, 3), np.float32)
    draws = {q: RandomStrategy(q).act(obs, [np.random.default_rng(i) for i in range(400)]) for q in (0.2, 0.5, 0.8)}
    targets = {q: a[..., 0] > 0 for q, a in draws.items()}
    assert abs(targets[0.2].mean() - 0.2) < 0.02 and abs(targets[0.8].mean() - 0.8) < 0.02
    assert not (targets[0.2] & ~targets[0.5]).any() and not (targets[0.5] & ~targets[0.8]).any()  # nested
    np.testing.assert_array_equal(draws[0.2][..., 1], draws[0.5][..., 1])  # the same values
    assert RandomStrategy().name == "Random" and RandomStrategy(0.25).name == "Random(q=0.25)"
    with pytest.raises(ValueError, match=r"target_probability must be in \[0, 1\], got 1.5"):
        RandomStrategy(1.5)
    extreme = RandomStrategy(extreme_values=True).act(obs, [np.random.default_rng(i) for i in range(400)])
    np.testing.assert_array_equal(extreme[..., 0], draws[0.5][..., 0])  # Random's targets
    np.testing.assert_array_equal(extreme[..., 1], np.sign(draws[0.5][..., 1]))  # its values at the ends, +-1
    assert RandomStrategy(extreme_values=True).name == "Random-extreme"
    assert RandomStrategy(0.25, extreme_values=True).name == "Random-extreme(q=0.25)"
    kwargs = {**SMALL, "reward_model": "linear"}
    table = rate_table("CausalLinear-v0", [0.0, 1.0], 3, VALIDATION.start, kwargs).set_index("q")
    assert list(table.index) == [0.0, 0.5, 1.0] and np.isnan(table.loc[0.5, "gain_vs_random"])
    observational = evaluate("CausalLinear-v0", [ObservationalStrategy()], 3, VALIDATION.start, kwargs)
    final_score = observational[observational.t == observational.t.max()].score.mean()
    np.testing.assert_allclose(table.loc[0.0, "score"], final_score, rtol=1e-5)  # q = 0 targets nothing
