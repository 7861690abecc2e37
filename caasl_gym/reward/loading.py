"""The inference wrapper :class:`RewardModel` and loading of (shipped) weights with checksum checks.

Shipped weights live in ``caasl_gym/reward/weights/<name>.pt`` (a torch state dict) next to
``<name>.json`` (architecture, domain, training command and seed, held-out metrics and the sha256 of
the ``.pt``). :func:`load_reward_model` accepts a shipped name (``"linear"``, ``"sergio"``) or a path to
any ``.pt``/``.json`` pair written by ``python -m caasl_gym.reward.train``.
"""

from __future__ import annotations

import hashlib
import io
import json
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from caasl_gym.reward.inputs import check_histories, encode_histories
from caasl_gym.reward.model import EdgePosteriorNet, ModelConfig

SHIPPED_MODELS = ("linear", "linear-small", "sergio")
"""Names of the reward models shipped as package data: ``linear`` (distilled from the exact posterior, with
the log-std input channel), ``linear-small`` (its scale-blind predecessor and warm start), ``sergio``."""
EXACT_MODEL = "exact"
"""Name of the exact linear-SCM posterior (:mod:`caasl_gym.reward.exact`): no weights, ``d <= 12``."""
GUARDED_SUFFIX = "-guarded"
"""A shipped name plus this suffix loads that model wrapped in
:class:`~caasl_gym.reward.uninformative.IgnoreFullInterventions` (rows that intervene on every variable are
ignored), so ``gym.make(id, reward_model="sergio-guarded")`` and JSON env kwargs can ask for it by name."""

REGENERATE_COMMANDS = {
    "linear": "python -m caasl_gym.reward.train --domain linear --init linear-small --scale-channel --teacher "
    "runs/teacher --teacher-shards 300 --steps 5230 --workers 1 --threads 1 --warmup 100 --eval-every 1000 "
    "--eval-datasets 128 --final-eval-datasets 256 --seed 4 --no-progress --out caasl_gym/reward/weights/linear",
    "linear-small": "python -m caasl_gym.reward.train --domain linear --dim 32 --layers 2 --heads 2 --batch-size 512 "
    "--seed 1 --steps 6900 --workers 7 --no-progress --out caasl_gym/reward/weights/linear-small",
    "sergio": "python -m caasl_gym.reward.train --domain sergio --dim 32 --layers 2 --heads 2 --batch-size 512 "
    "--seed 3 --steps 2682 --workers 7 --no-progress --out caasl_gym/reward/weights/sergio",
}
"""Default commands that regenerate the shipped files (the sidecar's ``command`` takes precedence)."""

MAX_TOKENS_PER_CHUNK = 1 << 20
"""Histories are run through the network in chunks of at most this many ``n * d`` tokens."""


class RewardWeightsError(RuntimeError):
    """A weights file or its sidecar is missing, unreadable or fails its sha256 check."""


def sha256_file(path: str | Path) -> str:
    """Hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_weights(state: dict[str, torch.Tensor], path: str | Path) -> str:
    """Write a state dict so that its bytes depend only on the tensors (not on the file name).

    ``torch.save`` names the archive's inner folder after the file; saving through a buffer fixes it.

    Returns:
        the sha256 of the written file.
    """
    buffer = io.BytesIO()
    torch.save({k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}, buffer)
    data = buffer.getvalue()
    Path(path).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


class RewardModel:
    """Edge posterior ``q(A | h)`` for numpy histories, as the environments use it.

    Args:
        net: the network (moved to ``device`` and put in eval mode).
        metadata: the sidecar contents (kept for reference).
        device: torch device for inference.
    """

    def __init__(self, net: EdgePosteriorNet, metadata: dict | None = None, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.metadata = dict(metadata or {})

    @property
    def config(self) -> ModelConfig:
        return self.net.config

    @property
    def domain(self) -> str:
        """``"linear"`` (inputs are real values) or ``"sergio"`` (inputs are counts)."""
        return self.net.config.domain

    def edge_probabilities(
        self, values: np.ndarray, intervened: np.ndarray, mask: np.ndarray | None = None
    ) -> np.ndarray:
        """Posterior edge probabilities of a batch of histories.

        Args:
            values: ``(B, n, d)`` raw values (linear) or counts (SERGIO) as the environments observe them.
            intervened: ``(B, n, d)`` bool (or 0/1) intended intervention indicators.
            mask: optional ``(B, n)`` bool, True for filled rows, False for padding; padding rows never
                change the result.

        Returns:
            ``(B, d, d)`` float64 probabilities of ``i -> j``; the diagonal is exactly 0.

        Raises:
            ValueError: bad shapes, non-finite values, or a history without a valid row.
        """
        x, iv, m = check_histories(values, intervened, mask, domain=self.domain)
        if m is not None:
            keep = m.any(axis=0)  # rows that are padding in every history can be dropped
            if not keep.all():
                x, iv, m = x[:, keep], iv[:, keep], m[:, keep]
            if m.all():
                m = None
        enc = encode_histories(x, iv, m, self.domain, self.config.scale_channel)
        b, n, d, _ = enc.shape
        chunk = max(1, MAX_TOKENS_PER_CHUNK // (n * d))
        out = np.empty((b, d, d), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, b, chunk):
                xt = torch.from_numpy(enc[start : start + chunk]).to(self.device)
                mt = None if m is None else torch.from_numpy(m[start : start + chunk]).to(self.device)
                out[start : start + chunk] = torch.sigmoid(self.net(xt, mt)).double().cpu().numpy()
        idx = np.arange(d)
        out[:, idx, idx] = 0.0
        return out

    __call__ = edge_probabilities


def available_reward_models() -> list[str]:
    """Names of the shipped models whose files are present in the package."""
    root = resources.files("caasl_gym.reward") / "weights"
    return [name for name in SHIPPED_MODELS if (root / f"{name}.json").is_file()]


def _resolve(name_or_path: str | Path) -> tuple[Path, Path, str]:
    """``(pt_path, json_path, regenerate_command)`` of a shipped name or a path."""
    if isinstance(name_or_path, str) and name_or_path in SHIPPED_MODELS:
        root = resources.files("caasl_gym.reward") / "weights"
        base = Path(str(root / name_or_path))
        return base.with_suffix(".pt"), base.with_suffix(".json"), REGENERATE_COMMANDS[name_or_path]
    path = Path(name_or_path)
    base = path.with_suffix("") if path.suffix in (".pt", ".json") else path
    pt, js = Path(str(base) + ".pt"), Path(str(base) + ".json")
    if not (pt.exists() or js.exists()) and "/" not in str(name_or_path) and path.suffix == "":
        raise RewardWeightsError(
            f"unknown reward model {str(name_or_path)!r}: not a shipped name "
            f"({', '.join((*SHIPPED_MODELS, EXACT_MODEL))}, or a shipped name + {GUARDED_SUFFIX!r}) "
            f"and no file {pt} / {js}"
        )
    cmd = f"python -m caasl_gym.reward.train --domain <linear|sergio> --out {base}"
    return pt, js, cmd


def load_reward_model(name_or_path: str | Path = "linear", device: str | torch.device = "cpu"):
    """Load a reward model after verifying its sha256.

    Args:
        name_or_path: a shipped name (see :data:`SHIPPED_MODELS`), a shipped name with :data:`GUARDED_SUFFIX`
            (``"sergio-guarded"``: the model wrapped in
            :class:`~caasl_gym.reward.uninformative.IgnoreFullInterventions`), ``"exact"`` (the exact posterior
            of the ``CausalLinear-v0`` prior, :class:`~caasl_gym.reward.exact.ExactLinearPosterior`), or the
            path of a ``.pt`` file, its ``.json`` sidecar, or their common stem.
        device: torch device for inference.

    Returns:
        :class:`RewardModel` in eval mode (or the exact posterior, or a guarded model).

    Raises:
        RewardWeightsError: a missing, unreadable, truncated or altered file; the message names the
            file and the command that regenerates it.
    """
    if isinstance(name_or_path, str) and name_or_path == EXACT_MODEL:
        from caasl_gym.reward.exact import ExactLinearPosterior

        return ExactLinearPosterior(device=device)
    if isinstance(name_or_path, str) and name_or_path.endswith(GUARDED_SUFFIX):
        base = name_or_path.removesuffix(GUARDED_SUFFIX)
        if base in SHIPPED_MODELS:
            from caasl_gym.reward.uninformative import IgnoreFullInterventions

            return IgnoreFullInterventions(load_reward_model(base, device))
    pt, js, cmd = _resolve(name_or_path)
    if not js.is_file():
        raise RewardWeightsError(f"reward-model sidecar {js} is missing; regenerate it with: {cmd}")
    try:
        meta = json.loads(js.read_text())
        config = ModelConfig(**meta["config"])
        expected = meta["sha256"]
    except (ValueError, KeyError, TypeError) as err:
        raise RewardWeightsError(f"reward-model sidecar {js} is unreadable ({err}); regenerate it with: {cmd}") from err
    cmd = meta.get("command", cmd)
    if not pt.is_file():
        raise RewardWeightsError(f"reward-model weights {pt} are missing; regenerate them with: {cmd}")
    actual = sha256_file(pt)
    if actual != expected:
        raise RewardWeightsError(
            f"reward-model weights {pt} fail the sha256 check (expected {expected}, got {actual}): the file "
            f"is truncated or altered; regenerate it with: {cmd}"
        )
    net = EdgePosteriorNet(config)
    try:
        state = torch.load(pt, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except Exception as err:  # a file that matches its checksum but does not fit the architecture
        raise RewardWeightsError(f"reward-model weights {pt} do not load ({err}); regenerate with: {cmd}") from err
    return RewardModel(net, metadata=meta, device=device)
