"""load_pretrained: package-data lookup, sidecar checksum, clear errors for ids without a policy."""

import hashlib
import json

import numpy as np
import pytest
import torch as th

from caasl_agents import REDQ, available_pretrained, load_pretrained, make_vec_env
from caasl_agents.common.envs import TOY_ENV_ID
from caasl_agents.pretrained import pretrained_info


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A folder laid out like the package data, holding one tiny policy."""
    threads = th.get_num_threads()
    th.set_num_threads(1)
    folder = tmp_path_factory.mktemp("pretrained")
    env = make_vec_env(TOY_ENV_ID, 2, seed=0)
    kwargs = dict(features_extractor_kwargs=dict(features_dim=8, n_layers=1, n_heads=2), n_critics=2)
    model = REDQ("TransformerPolicy", env, buffer_size=100, seed=0, device="cpu", policy_kwargs=kwargs)
    model.save(folder / "Toy-v0.zip")
    digest = hashlib.sha256((folder / "Toy-v0.zip").read_bytes()).hexdigest()
    (folder / "Toy-v0.json").write_text(json.dumps({"env_id": "Toy-v0", "sha256": digest}))
    (folder / "Orphan-v0.zip").write_bytes(b"no sidecar")  # not listed: a policy needs its sidecar
    yield folder, model, env.reset()
    th.set_num_threads(threads)


def test_load_pretrained_from_folder(shipped):
    folder, model, obs = shipped
    assert available_pretrained(folder) == ["Toy-v0"]
    assert pretrained_info("Toy-v0", folder)["env_id"] == "Toy-v0"
    loaded = load_pretrained("Toy-v0", device="cpu", directory=folder)
    assert isinstance(loaded, REDQ) and loaded.env is None
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


def test_unknown_id_lists_shipped_ids(shipped):
    folder, _, _ = shipped
    with pytest.raises(ValueError, match=r"no pretrained policy for 'Nope-v0'; ids with one: Toy-v0"):
        load_pretrained("Nope-v0", directory=folder)
    with pytest.raises(ValueError, match=r"load_pretrained\('CausalLinear-v0'\)"):
        load_pretrained("CausalLinear-OOD-D20-v0", directory=folder)


def test_package_data_lookup():
    shipped_ids = available_pretrained()
    assert all(isinstance(i, str) for i in shipped_ids)
    with pytest.raises(ValueError, match="no pretrained policy for 'NoSuchEnv-v0'; ids with one: "):
        load_pretrained("NoSuchEnv-v0")


def test_checksum_mismatch_raises(shipped, tmp_path):
    folder, _, _ = shipped
    (tmp_path / "Toy-v0.zip").write_bytes((folder / "Toy-v0.zip").read_bytes() + b"tampered")
    (tmp_path / "Toy-v0.json").write_text((folder / "Toy-v0.json").read_text())
    with pytest.raises(ValueError, match="does not match its sidecar"):
        load_pretrained("Toy-v0", directory=tmp_path)


def test_orphan_zip_and_unloadable_file_get_clear_errors(shipped, tmp_path):
    folder, _, _ = shipped
    with pytest.raises(ValueError, match=r"has no Orphan-v0\.json beside it"):
        load_pretrained("Orphan-v0", directory=folder)
    (tmp_path / "Bad-v0.zip").write_bytes(b"not a policy archive")
    digest = hashlib.sha256(b"not a policy archive").hexdigest()
    (tmp_path / "Bad-v0.json").write_text(json.dumps({"env_id": "Bad-v0", "sha256": digest}))
    with pytest.raises(ValueError, match="does not load as a caasl REDQ policy"):
        load_pretrained("Bad-v0", directory=tmp_path)


def _wrong_architecture_zip(folder, path):
    """``model``'s zip with the parameters of a wider network: the recorded architecture no longer fits them."""
    import zipfile

    env = make_vec_env(TOY_ENV_ID, 2, seed=0)
    kwargs = dict(features_extractor_kwargs=dict(features_dim=16, n_layers=1, n_heads=2), n_critics=2)
    REDQ("TransformerPolicy", env, buffer_size=100, seed=0, device="cpu", policy_kwargs=kwargs).save(path / "wide.zip")
    with zipfile.ZipFile(folder / "Toy-v0.zip") as small, zipfile.ZipFile(path / "wide.zip") as wide:
        with zipfile.ZipFile(path / "Wrong-v0.zip", "w") as out:
            for name in small.namelist():
                out.writestr(name, (wide if name == "policy.pth" else small).read(name))
    return path / "Wrong-v0.zip"


def test_wrong_architecture_names_the_file_and_the_fix(shipped, tmp_path):
    folder, _, _ = shipped
    wrong = _wrong_architecture_zip(folder, tmp_path)
    with pytest.raises(ValueError) as info:
        REDQ.load(wrong, device="cpu")
    message = str(info.value)
    assert message.startswith(f"{wrong}: its parameters do not fit the network architecture recorded in it: ")
    assert "size mismatch for actor.features_extractor" in message
    assert "more)" in message and "python -m caasl_agents.train writes one" in message and "\n" not in message
    with pytest.raises(FileNotFoundError, match=r"missing\.zip: no such policy file; python -m caasl_agents.train"):
        REDQ.load(tmp_path / "missing.zip")
    command = "python -m caasl_agents.train --env Wrong-v0 --seed 0"
    digest = hashlib.sha256(wrong.read_bytes()).hexdigest()
    (tmp_path / "Wrong-v0.json").write_text(json.dumps({"env_id": "Wrong-v0", "sha256": digest, "command": command}))
    with pytest.raises(ValueError, match=rf"Wrong-v0.zip does not load .* retrain it with {command}, then python -m"):
        load_pretrained("Wrong-v0", directory=tmp_path)
