"""The encoder blocks shared by the reward model and the policies: plain and stacked layouts, old weight names."""

from __future__ import annotations

import re

import torch

from caasl_gym.reward.layers import AttentionBlock
from caasl_gym.reward.model import EdgePosteriorNet, ModelConfig


def test_plain_block_equals_a_stacked_block_of_one_member() -> None:
    torch.manual_seed(0)
    plain = AttentionBlock(None, 8, 2, 2, activation_fn=torch.nn.ReLU).eval()
    stacked = AttentionBlock(1, 8, 2, 2, activation_fn=torch.nn.ReLU).eval()
    with torch.no_grad():
        for name, p in plain.named_parameters():
            q = stacked.get_parameter(name)
            q.copy_(p.T.reshape(q.shape) if p.ndim == 2 else p.reshape(q.shape))  # (out, in) -> (1, in, out)
    x = torch.randn(3, 5, 8)
    key_mask = torch.rand(3, 5) > 0.3
    key_mask[:, 0] = True
    torch.testing.assert_close(stacked(x[None], key_mask)[0], plain(x, key_mask), atol=1e-6, rtol=0)


def test_weights_saved_with_the_old_block_names_load() -> None:
    """The shipped ``.pt`` files name the feed-forward sublayers ``norm_ffn``, ``ffn.0`` and ``ffn.2``."""
    torch.manual_seed(0)
    config = ModelConfig(dim=8, layers=2, heads=2)
    net, fresh = EdgePosteriorNet(config), EdgePosteriorNet(config)  # different initialisations
    renamed = {"norm_ff": "norm_ffn", "ff_in": "ffn.0", "ff_out": "ffn.2"}
    rename = re.compile(r"\.(norm_ff|ff_in|ff_out)\.")
    old = {rename.sub(lambda m: f".{renamed[m[1]]}.", k): v for k, v in net.state_dict().items()}
    assert "row_blocks.1.ffn.2.weight" in old and len(old) == len(net.state_dict())
    fresh.load_state_dict(old)  # strict
    x = torch.randn(2, 7, 4, 2)
    torch.testing.assert_close(fresh(x), net(x), atol=0, rtol=0)
