"""Demonstration archives: the actions alone rebuild the shards exactly, and a bad archive is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from caasl_agents.demo_archive import main, obs_digest, pack_demonstrations, replay_kwargs, unpack_demonstrations
from caasl_agents.imitation import collect_demonstrations, load_demonstrations, shard_path
from caasl_gym.evaluation.strategies import RandomStrategy

TINY = {"linear": dict(num_nodes=4, n_initial=6, budget=3, reward_model="linear"),
        "sergio": dict(num_nodes=4, n_initial=6, budget=2)}  # fmt: skip
IDS = {"linear": "CausalLinear-v0", "sergio": "SergioKnockout-v0"}


def _collect(folder, domain, episodes=range(0, 5)):
    env_id, kwargs = IDS[domain], TINY[domain]
    collect_demonstrations(env_id, RandomStrategy(), episodes, folder, shard_episodes=2, env_kwargs=kwargs,
                           progress=False)  # fmt: skip
    (folder / "expert.json").write_text(json.dumps({"env": env_id, "env_kwargs": kwargs, "expert": "Random"}))


@pytest.mark.parametrize("domain", ["linear", "sergio"])
def test_unpack_rebuilds_the_collected_shards_exactly(tmp_path, domain):
    _collect(tmp_path / "demos", domain)
    info = pack_demonstrations(tmp_path / "demos", tmp_path / "a.npz", replay_kwargs(IDS[domain], TINY[domain]))
    assert info["shards"] == 3 and info["designs"] == 5 * TINY[domain]["budget"]
    assert unpack_demonstrations(tmp_path / "a.npz", tmp_path / "back") == 3
    for a, b in zip(load_demonstrations(tmp_path / "demos"), load_demonstrations(tmp_path / "back")):
        np.testing.assert_array_equal(a, b)
    assert json.loads((tmp_path / "back" / "expert.json").read_text())["expert"] == "Random"
    # an interrupted unpack resumes: intact shards are kept, missing ones rebuilt
    shard_path(tmp_path / "back", 2).unlink()
    assert unpack_demonstrations(tmp_path / "a.npz", tmp_path / "back") == 1


def test_the_archive_holds_actions_only(tmp_path):
    _collect(tmp_path / "demos", "linear", range(0, 40))
    pack_demonstrations(tmp_path / "demos", tmp_path / "a.npz", replay_kwargs("CausalLinear-v0", TINY["linear"]))
    shards = sum(p.stat().st_size for p in (tmp_path / "demos").glob("demos_*.npz"))
    assert (tmp_path / "a.npz").stat().st_size < shards / 3


def test_a_replay_that_differs_is_refused(tmp_path):
    _collect(tmp_path / "demos", "linear")
    kwargs = replay_kwargs("CausalLinear-v0", TINY["linear"])
    pack_demonstrations(tmp_path / "demos", tmp_path / "a.npz", kwargs)
    with np.load(tmp_path / "a.npz") as data:
        fields = dict(data)
    fields["played"] = fields["played"].copy()
    fields["played"][12, :, 0] *= -1  # the other targets in the first design of shard 4 (episode 4)
    np.savez(tmp_path / "bad.npz", **fields)
    with pytest.raises(ValueError, match="replaying shard 4 does not reproduce"):
        unpack_demonstrations(tmp_path / "bad.npz", tmp_path / "back")
    assert shard_path(tmp_path / "back", 2).exists() and not shard_path(tmp_path / "back", 4).exists()
    # packing refuses shards whose observations are not those of their actions
    with np.load(shard_path(tmp_path / "demos", 0)) as shard:
        obs, actions = shard["obs"], shard["actions"].copy()
    actions[0, :, 0] *= -1
    np.savez(shard_path(tmp_path / "demos", 0), obs=obs, actions=actions)
    with pytest.raises(ValueError, match="does not reproduce its observations"):
        pack_demonstrations(tmp_path / "demos", tmp_path / "c.npz", kwargs)


def test_dagger_shards_keep_their_played_designs_and_behaviour(tmp_path):
    """A DAgger shard's observations come from the behaviour's designs: the archive replays those and keeps the
    expert's as labels; a format-1 archive (the expert played every shard) still unpacks."""
    kwargs = TINY["linear"]
    collect_demonstrations("CausalLinear-v0", RandomStrategy(), range(0, 2), tmp_path / "demos", shard_episodes=2,
                           env_kwargs=kwargs, progress=False)  # fmt: skip
    collect_demonstrations("CausalLinear-v0", RandomStrategy(), range(2, 4), tmp_path / "demos", shard_episodes=2,
                           env_kwargs=kwargs, progress=False, behaviour=RandomStrategy(target_probability=0.2),
                           behaviour_id="sparse")  # fmt: skip
    (tmp_path / "demos" / "expert.json").write_text(json.dumps({"env": "CausalLinear-v0", "env_kwargs": kwargs}))
    pack_demonstrations(tmp_path / "demos", tmp_path / "a.npz", kwargs)
    assert unpack_demonstrations(tmp_path / "a.npz", tmp_path / "back") == 2
    for start in (0, 2):
        with np.load(shard_path(tmp_path / "demos", start)) as a, np.load(shard_path(tmp_path / "back", start)) as b:
            assert sorted(a.files) == sorted(b.files)
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key])
    with np.load(shard_path(tmp_path / "back", 2)) as shard:
        assert str(shard["behaviour"]) == "sparse" and not np.array_equal(shard["played"], shard["actions"])
    with np.load(tmp_path / "a.npz") as data:
        fields = {k: data[k] for k in data.files if k not in ("played", "behaviours")}
    meta = json.loads(str(fields["meta"]))
    fields["meta"] = np.array(json.dumps({**meta, "format": 1}))
    fields["actions"] = fields["actions"][:6]  # format 1: the expert's shards only
    fields.update(starts=fields["starts"][:1], lengths=fields["lengths"][:1], obs_sha256=fields["obs_sha256"][:1])
    np.savez(tmp_path / "v1.npz", **fields)
    assert unpack_demonstrations(tmp_path / "v1.npz", tmp_path / "v1") == 1
    np.testing.assert_array_equal(
        load_demonstrations(tmp_path / "v1")[0], load_demonstrations(tmp_path / "demos", range(0, 2))[0]
    )


def test_bad_archives_and_folders_get_clear_errors(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a demonstrations archive"):
        unpack_demonstrations(tmp_path / "junk.npz", tmp_path / "back")
    _collect(tmp_path / "demos", "linear")
    pack_demonstrations(tmp_path / "demos", tmp_path / "a.npz", replay_kwargs("CausalLinear-v0", TINY["linear"]))
    other = tmp_path / "other"
    other.mkdir()
    (other / "expert.json").write_text(json.dumps({"env": "CausalLinear-v0", "env_kwargs": {}, "expert": "Greedy"}))
    with pytest.raises(ValueError, match="another expert or env"):
        unpack_demonstrations(tmp_path / "a.npz", other)
    with pytest.raises(FileNotFoundError, match=r"no expert\.json"):
        pack_demonstrations(tmp_path / "empty", tmp_path / "b.npz", {})
    assert obs_digest(np.zeros((2, 3), np.float32)) != obs_digest(np.zeros((3, 2), np.float32))


def test_cli_round_trip(tmp_path, capsys):
    _collect(tmp_path / "demos", "linear")
    main(["pack", str(tmp_path / "demos"), str(tmp_path / "a.npz")])
    main(["unpack", str(tmp_path / "a.npz"), str(tmp_path / "back")])
    assert "3 shards rebuilt" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"demo_archive: .*no demos_"):
        (tmp_path / "none").mkdir()
        (tmp_path / "none" / "expert.json").write_text((tmp_path / "demos" / "expert.json").read_text())
        main(["pack", str(tmp_path / "none"), str(tmp_path / "b.npz")])
