"""The progress bar's estimate: planned gradient steps, the timed gradient step, the ETA and the long-run warning."""

import numpy as np
import pytest
import torch as th

from caasl_agents import REDQ, make_vec_env
from caasl_agents.common.callbacks import ProgressBarCallback
from caasl_agents.common.envs import TOY_ENV_ID
from caasl_agents.common.timing import format_duration, planned_gradient_steps, time_gradient_step

KWARGS = dict(n_critics=2, features_extractor_kwargs=dict(features_dim=8, n_layers=1))


@pytest.fixture
def model(one_torch_thread):
    env = make_vec_env(TOY_ENV_ID, 4, seed=0)
    return REDQ("TransformerPolicy", env, buffer_size=200, learning_starts=16, batch_size=8, gradient_steps=2,
                seed=0, policy_kwargs=KWARGS)  # fmt: skip


@pytest.mark.parametrize(("total", "learning_starts", "train_freq"), [(48, 16, 1), (50, 0, 1), (48, 20, 2), (8, 40, 1)])
def test_planned_gradient_steps_are_the_steps_learn_takes(total, learning_starts, train_freq, one_torch_thread):
    env = make_vec_env(TOY_ENV_ID, 4, seed=0)
    model = REDQ("TransformerPolicy", env, buffer_size=200, learning_starts=learning_starts, batch_size=4,
                 train_freq=train_freq, gradient_steps=3, seed=0, policy_kwargs=KWARGS)  # fmt: skip
    model.learn(total)
    assert planned_gradient_steps(model, total) == model._n_updates


def test_timing_a_gradient_step_changes_nothing(model):
    model._last_obs = model.env.reset()
    params = {k: v.clone() for k, v in model.policy.state_dict().items()}
    torch_state, optimizer = th.get_rng_state(), str(model.critic.optimizer.state_dict())
    seconds = time_gradient_step(model)
    assert seconds is not None and 0 < seconds < 10
    assert th.equal(th.get_rng_state(), torch_state) and str(model.critic.optimizer.state_dict()) == optimizer
    for name, value in model.policy.state_dict().items():
        assert th.equal(value, params[name]), name
    model._last_obs = None
    assert time_gradient_step(model) is None  # no observations yet


def test_estimate_counts_gradient_steps_and_a_long_run_warns(model, capsys):
    progress = ProgressBarCallback(bar=False, warn_after_s=0.0, advice="to cut it: --preset cpu", warn_rounds=2)
    model.learn(32, callback=progress)
    assert progress.probe_s is not None and progress.train_steps == model._n_updates == 2 * (32 - 16) // 4
    assert progress.seconds_per_gradient_step == pytest.approx(progress.train_s / progress.train_steps)
    assert np.isfinite(progress.remaining_s()) and progress.warned
    err = capsys.readouterr().err
    assert err.count("warning: this run needs about") == 1 and err.rstrip().endswith("to cut it: --preset cpu")
    quiet = ProgressBarCallback(bar=False, warn_rounds=2)
    model.learn(8, callback=quiet, reset_num_timesteps=False)
    assert not quiet.warned and "warning" not in capsys.readouterr().err


def test_the_bar_shows_gradient_steps_per_second_and_an_eta(model, capsys):
    model.learn(32, callback=ProgressBarCallback())
    err = capsys.readouterr().err
    assert "grad/s" in err and "ETA" in err and "32/32 env steps" in err


def test_format_duration():
    assert [format_duration(s) for s in (5, 600, 7200, 5 * 86400, float("nan"))] == [
        "5 s", "10 min", "2.0 h", "5.0 days", "?"
    ]  # fmt: skip
