"""Lab in the loop: caasl_agents.propose (API), caasl_agents.design (CLI) and examples/lab_in_the_loop.py."""

import importlib.util
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from caasl_agents.design import main as design_main
from caasl_agents.propose import (
    MIN_OBSERVATIONAL_ROWS,
    check_data,
    load_policy,
    policy_view,
    posterior,
    propose,
)
from caasl_agents.redq.predict import predict_any_d
from caasl_gym.simulators.linear import sample_linear_params, simulate_linear
from caasl_gym.simulators.sergio import sample_sergio_params, simulate_sergio

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "lab_in_the_loop.py"


@pytest.fixture(scope="module")
def linear_policy():
    return load_policy("CausalLinear-v0")[0]


def lab_table(d=6, n_obs=30, n_int=0, seed=0, scale=1.0, offset=0.0):
    """A linear-SCM table ``(n_obs + n_int, d)`` (interventional rows last, single targets) and its mask."""
    rng = np.random.default_rng(seed)
    params = sample_linear_params(rng, 1, d)
    targets = np.zeros((1, n_obs + n_int, d), dtype=bool)
    targets[0, n_obs + np.arange(n_int), np.arange(n_int) % d] = True
    x = simulate_linear(rng, params, targets, np.where(targets, 1.0, 0.0))[0]
    names = [f"g{j}" for j in range(d)]
    return pd.DataFrame(offset + scale * x, columns=names), targets[0]


def counts_table(d=5, n=40, seed=0):
    rng = np.random.default_rng(seed)
    params = sample_sergio_params(rng, 1, d)
    design = np.zeros((1, d), dtype=bool)
    counts = simulate_sergio(rng, params, design, n)[0]
    assert (counts.min(axis=0) < counts.max(axis=0)).all(), "pick a seed without a constant gene"
    return pd.DataFrame(counts, columns=[f"gene{j}" for j in range(d)])


# ------------------------------------------------------------------------------------------- the API
def test_proposal_labels_shapes_and_units(linear_policy):
    data, mask = lab_table(n_int=4, scale=7.0, offset=-3.0)
    p = propose(linear_policy, data, mask, n_designs=3, seed=0)
    names = list(data.columns)
    assert p.edge_probabilities.index.tolist() == names and p.edge_probabilities.columns.tolist() == names
    assert p.edge_probabilities.index.name == "source" and p.edge_probabilities.columns.name == "target"
    probs = p.edge_probabilities.to_numpy()
    assert ((probs >= 0) & (probs <= 1)).all() and (np.diag(probs) == 0).all()
    assert p.target_probabilities.index.tolist() == names and p.target_probabilities.between(0, 1).all()
    assert len(p.designs) == 3 and p.actions.shape == (3, 6, 2) and p.reward_model == "exact"
    obs = data[~mask.any(axis=1)]
    for design, z in zip(p.designs, p.standardized_designs):
        assert set(design) == set(z) <= set(names)
        for name, value in design.items():
            assert -1 <= z[name] <= 1
            assert value == pytest.approx(obs[name].mean() + obs[name].std(ddof=0) * z[name])
    targets, values = p.as_arrays()
    assert (targets == (p.actions[..., 0] > 0)).all()
    assert np.isnan(values[~targets]).all() and np.isfinite(values[targets]).all()
    assert set(p.table().columns) == {"design", "target", "value", "standardized_value", "target_probability"}
    json.dumps(p.to_dict())


def test_units_do_not_change_the_proposal(linear_policy):
    """The policy and the posterior see z-scores, so a change of units changes only the reported values."""
    data, mask = lab_table(n_int=3)
    a = propose(linear_policy, data, mask, n_designs=2, seed=5)
    b = propose(linear_policy, 100.0 + 4.0 * data, mask, n_designs=2, seed=5)
    assert [set(d) for d in a.designs] == [set(d) for d in b.designs]
    for da, db in zip(a.designs, b.designs):
        assert [db[k] for k in da] == pytest.approx([100.0 + 4.0 * v for v in da.values()])
    np.testing.assert_allclose(a.edge_probabilities, b.edge_probabilities, atol=1e-6)


def test_seeds_batches_and_deterministic(linear_policy):
    data, _ = lab_table()
    first = propose(linear_policy, data, n_designs=3, seed=11)
    assert propose(linear_policy, data, n_designs=3, seed=11).designs == first.designs
    assert propose(linear_policy, data, n_designs=1, seed=11).designs[0] == first.designs[0]  # design i: rng.spawn
    assert propose(linear_policy, data, n_designs=3, seed=12).designs != first.designs
    mean = propose(linear_policy, data, deterministic=True)
    history, _ = policy_view(check_data(data), 60)
    assert set(mean.designs[0]) == {
        data.columns[j] for j in np.flatnonzero(predict_any_d(linear_policy, history)[:, 0] > 0)
    }


def test_intervention_column_equals_mask(linear_policy):
    data, mask = lab_table(n_int=4)
    column = data.assign(intervention=[";".join(data.columns[row]) for row in mask])
    a = propose(linear_policy, data, mask, seed=3)
    b = propose(linear_policy, column, seed=3)
    c = propose(linear_policy, data, pd.DataFrame(mask, columns=data.columns), seed=3)
    assert a.designs == b.designs == c.designs
    pd.testing.assert_frame_equal(a.edge_probabilities, b.edge_probabilities)


@pytest.mark.parametrize("d, model", [(5, "exact"), (12, "exact"), (20, "linear"), (50, "linear")])
def test_any_number_of_variables(linear_policy, d, model):
    data, mask = lab_table(d=d, n_obs=20, n_int=2, seed=d)
    p = propose(linear_policy, data, mask, n_designs=2, seed=0)
    assert p.reward_model == model and p.edge_probabilities.shape == (d, d) and p.actions.shape == (2, d, 2)


def test_long_history_warns_and_the_posterior_uses_every_row(linear_policy):
    data, mask = lab_table(n_obs=100, n_int=30)
    with pytest.warns(
        UserWarning, match=r"130 rows, more than the policy's max_rows=60: the policy sees 30 of the 100"
    ):
        p = propose(linear_policy, data, mask, seed=0)
    assert p.rows == 130 and p.policy_rows == 60
    pd.testing.assert_frame_equal(p.edge_probabilities, posterior(data, mask))
    with pytest.warns(UserWarning, match="the 30 most recent of the 30 interventional rows"):
        history, seen = policy_view(check_data(data, mask), 60)
    assert seen == 60 and history[:, :, 1].any(axis=1).sum() == 30  # the 30 most recent interventional rows
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert propose(linear_policy, data, mask, seed=0, max_rows=130).policy_rows == 130


def test_counts_domain_proposes_knockouts():
    data = counts_table()
    p = propose("SergioKnockout-v0", data, n_designs=2, seed=0)
    assert p.domain == "counts" and p.intervention == "knockout" and p.reward_model == "sergio"
    assert all(v == 0.0 for design in p.designs for v in design.values())
    assert p.edge_probabilities.shape == (5, 5)


@pytest.mark.parametrize("d", [6, 20])
def test_value_designer_proposals(d):
    data, mask = lab_table(d=d, n_obs=20, n_int=3, seed=d, scale=7.0, offset=-3.0)
    p = propose("value:CausalLinear-v0", data, mask, n_designs=3, seed=5)
    assert p.policy == "value:CausalLinear-v0" and p.target_probabilities is None and p.actions.shape == (3, d, 2)
    assert p.reward_model == ("exact" if d <= 12 else "linear")
    for design, z in zip(p.designs, p.standardized_designs):
        assert design and set(design) == set(z) and all(v == 1.0 for v in z.values())  # every value +1 (z-scores)
        for name, value in design.items():  # in the data's units: mean + std * z of the observational rows
            obs = data[name][:20]
            assert value == pytest.approx(obs.mean() + obs.std(ddof=0))
    assert propose("value:CausalLinear-v0", data, mask, n_designs=1, seed=5).designs[0] == p.designs[0]
    assert p.table()["target_probability"].isna().all()
    assert json.loads(json.dumps(p.to_dict()))["target_probabilities"] is None
    mean = propose("value:CausalLinear-v0", data, mask, deterministic=True)
    assert propose("value:CausalLinear-v0", data, mask, deterministic=True, seed=9).designs == mean.designs


def test_value_designer_counts_and_bad_ids():
    data = counts_table(d=10, n=100, seed=12)  # d = 10: the network's own d (native_d), not random targets
    p = propose("value:SergioKnockout-v0", data, n_designs=2, seed=0, max_rows=100)
    assert p.domain == "counts" and p.intervention == "knockout" and p.target_probabilities is None
    assert all(v == 0.0 for design in p.designs for v in design.values())
    assert all(len(design) < 10 for design in p.designs)  # never the null experiment
    with pytest.raises(ValueError, match=r"unknown value designer 'value:Nope-v0'; valid: value:CausalLinear-v0"):
        propose("value:Nope-v0", counts_table())
    with pytest.raises(ValueError, match="works on the 'counts' domain, not 'linear'"):
        propose("value:SergioKnockout-v0", lab_table()[0], domain="linear")


# ------------------------------------------------------------------------------------------- bad input
def _bad(frame, column, row, value):
    out = frame.astype(object)
    out.loc[row, column] = value
    return out


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: _bad(t, "g2", 3, "abc"), r"column 'g2', row 3: 'abc' is not a number"),
        (lambda t: _bad(t, "g1", 4, np.nan), r"column 'g1', row 4: missing value"),
        (lambda t: _bad(t, "g0", 5, np.inf), r"column 'g0', row 5: inf is infinite"),
        (lambda t: t.assign(g3=2.5), r"column 'g3' is constant \(= 2.5\) in the observational rows"),
        (lambda t: t[["g0"]], r"at least 2 variables \(columns\), the data has 1"),
        (lambda t: t.head(MIN_OBSERVATIONAL_ROWS - 1), rf"at least {MIN_OBSERVATIONAL_ROWS} observational rows.*has 4"),
        (lambda t: t.assign(intervention=[""] * 7 + ["g1;Z"] + [""] * 22), r"row 7 \('g1;Z'\): unknown variable 'Z'"),
        (lambda t: t.assign(intervention=[""] * 2 + ["g1;"] + [""] * 27), r"row 2 \('g1;'\): an empty name"),
    ],
)
def test_bad_data_names_the_problem(linear_policy, change, message):
    data, _ = lab_table()
    with pytest.raises(ValueError, match=message):
        propose(linear_policy, change(data))


def test_bad_intervened_and_arguments(linear_policy):
    data, mask = lab_table(n_int=2)
    with pytest.raises(ValueError, match=r"shape of the data \(n, d\) = \(32, 6\), got \(31, 6\)"):
        propose(linear_policy, data, mask[:-1])
    with pytest.raises(ValueError, match=r"intervened column 'g0', row 1: 2 is not True/False or 1/0"):
        propose(linear_policy, data, np.where(np.eye(32, 6, k=-1) > 0, 2, 0))
    with pytest.raises(ValueError, match=r"columns \['a', 'b'\], the data has"):
        propose(linear_policy, data, pd.DataFrame(np.zeros((32, 2), dtype=bool), columns=["a", "b"]))
    with pytest.raises(ValueError, match="either as an 'intervention' column or as intervened"):
        propose(linear_policy, data.assign(intervention=""), mask)
    with pytest.raises(ValueError, match="n_designs must be an integer >= 1, got 0"):
        propose(linear_policy, data, n_designs=0)
    with pytest.raises(ValueError, match="max_rows must be an integer >= 1, got 0"):
        propose(linear_policy, data, max_rows=0)
    with pytest.raises(ValueError, match="deterministic=True gives one design"):
        propose(linear_policy, data, n_designs=2, deterministic=True)
    with pytest.raises(ValueError, match=r"works on the 'linear' domain, not 'counts'; e\.g\. use SergioKnockout-v0"):
        propose(linear_policy, data, domain="counts")
    with pytest.raises(ValueError, match=r"unknown policy 'NoSuch-v9': not a shipped id \(CausalLinear-v0, "):
        propose("NoSuch-v9", data)
    with pytest.raises(ValueError, match=r"data must be a table \(n, d\)"):
        propose(linear_policy, np.zeros(5))


def test_reward_model_limits(linear_policy):
    data, _ = lab_table(d=13, n_obs=10)
    with pytest.raises(ValueError, match=r"reward model 'exact' cannot score this data \(d = 13\).*2 <= d <= 12"):
        propose(linear_policy, data, reward_model="exact")
    with pytest.raises(ValueError, match=r"trained on the 'linear' domain.*use a sergio model"):
        propose("SergioKnockout-v0", counts_table(), reward_model="linear")


def test_bad_counts():
    data = counts_table()
    with pytest.raises(ValueError, match=r"column 'gene2', row 6: -1 is negative; counts must be >= 0"):
        propose("SergioKnockout-v0", _bad(data, "gene2", 6, -1.0))
    with pytest.raises(ValueError, match=r"column 'gene4' is constant \(= 3\) in every row"):
        propose("SergioKnockout-v0", data.assign(gene4=3.0))
    with pytest.warns(UserWarning, match="genes with zero counts in every cell: gene4; they are kept"):
        proposal = propose("SergioKnockout-v0", data.assign(gene4=0.0), seed=0)
    assert proposal.edge_probabilities.shape == (data.shape[1], data.shape[1])


# ------------------------------------------------------------------------------------------- the CLI
def test_cli_gives_the_api_proposal(tmp_path, capsys, linear_policy):
    data, mask = lab_table(n_int=3, scale=3.0, offset=10.0)
    data.assign(intervention=[";".join(data.columns[row]) for row in mask]).to_csv(tmp_path / "exp.csv", index=False)
    code = design_main(["--policy", "CausalLinear-v0", "--data", str(tmp_path / "exp.csv"), "--n-designs", "2",
                        "--seed", "7", "--out", str(tmp_path / "out")])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "Proposed experiments" in printed and "Most probable edges" in printed
    saved = json.loads((tmp_path / "out" / "proposal.json").read_text())
    api = propose(linear_policy, data, mask, n_designs=2, seed=7)
    assert saved["designs"] == [dict(d) for d in api.designs] and saved["seed"] == 7
    edges = pd.read_csv(tmp_path / "out" / "edge_posterior.csv", index_col=0)
    np.testing.assert_allclose(edges.to_numpy(), api.edge_probabilities.to_numpy(), atol=1e-12)
    assert {"proposal.csv", "edge_posterior.png"} <= {p.name for p in (tmp_path / "out").iterdir()}
    pd.DataFrame(mask, columns=data.columns).to_csv(tmp_path / "mask.csv", index=False)
    data.to_csv(tmp_path / "values.csv", index=False)
    argv = ["--policy", "CausalLinear-v0", "--data", str(tmp_path / "values.csv"), "--intervened",
            str(tmp_path / "mask.csv"), "--n-designs", "2", "--seed", "7", "--out", str(tmp_path / "out2")]  # fmt: skip
    assert design_main(argv) == 0
    assert json.loads((tmp_path / "out2" / "proposal.json").read_text())["designs"] == saved["designs"]


@pytest.mark.parametrize(
    "content, extra, message",
    [
        ("a,b\n1,2\n", [], "at least 5 observational rows"),
        ("a,b,intervention\n" + "1,2,\n3,5,\n" * 3 + "1,2,c\n", [], r"row 6 \('c'\): unknown variable 'c'"),
        ("a,b\n1,x\n", [], r"column 'b', row 0: 'x' is not a number"),
        ("a,b\n" + "1,2\n3,5\n" * 3, ["--intervened", "MASK"], r"column 'b', row 1: 'maybe' is not true/false"),
        ("a,b\n", ["--n-designs", "x"], "argument --n-designs: invalid int value: 'x'"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, content, extra, message):
    (tmp_path / "d.csv").write_text(content)
    (tmp_path / "m.csv").write_text("a,b\n" + "false,true\ntrue,maybe\n" * 3)
    extra = [str(tmp_path / "m.csv") if e == "MASK" else e for e in extra]
    try:
        code = design_main(["--policy", "CausalLinear-v0", "--data", str(tmp_path / "d.csv"), *extra])
    except SystemExit as exit_:  # argparse's errors exit from parse_args
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and re.search(message, err[0])
    assert "Traceback" not in err[0]


def test_cli_missing_file(tmp_path, capsys):
    assert design_main(["--policy", "CausalLinear-v0", "--data", str(tmp_path / "none.csv")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


# ------------------------------------------------------------------------------------------- the example
def _example():
    spec = importlib.util.spec_from_file_location("lab_in_the_loop", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_loop_improves_the_posterior(tmp_path, linear_policy, capsys):
    table = _example().run_loop(rounds=5, designs=2, seed=0, out=tmp_path, policy=linear_policy)
    assert table["round"].tolist() == list(range(6)) and table.rows.tolist() == [50, 52, 54, 56, 58, 60]
    assert table.auprc.iloc[-1] > table.auprc.iloc[0] + 0.05
    assert table.expected_correct.iloc[-1] > table.expected_correct.iloc[0] + 3
    written = pd.read_csv(tmp_path / "experiments.csv")
    assert len(written) == 60 and written.intervention.iloc[:50].isna().all()  # the 50 observational rows
    assert written.intervention.iloc[50:].notna().sum() >= 8  # ten designed rows; a design may be observational
    assert design_main(["--policy", "CausalLinear-v0", "--data", str(tmp_path / "experiments.csv")]) == 0


def test_example_loop_with_the_value_designer(tmp_path):
    table = _example().run_loop(rounds=2, designs=2, seed=0, d=6, policy="value:CausalLinear-v0")
    assert table.rows.tolist() == [50, 52, 54] and table.designs.iloc[0] and table.designs.iloc[1]


def test_shipped_example_csv_is_what_its_command_writes(tmp_path):
    _example().write_example_csv(tmp_path / "experiments.csv")
    assert (tmp_path / "experiments.csv").read_text() == (ROOT / "examples" / "experiments.csv").read_text()


def test_policy_from_a_run_folder_or_zip(tmp_path, linear_policy):
    (tmp_path / "run").mkdir()
    linear_policy.save(tmp_path / "run" / "model.zip")
    data, _ = lab_table()
    expected = propose(linear_policy, data, seed=2).designs
    assert propose(tmp_path / "run", data, seed=2).designs == expected
    assert propose(str(tmp_path / "run" / "model.zip"), data, seed=2).designs == expected
    with pytest.raises(ValueError, match=r"has no model\.zip"):
        propose(tmp_path, data)
