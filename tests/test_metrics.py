import numpy as np
import pytest

from caasl_gym import metrics

A = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=bool)  # 0 -> 1 -> 2
P = np.array([[0.0, 0.9, 0.2], [0.4, 0.0, 0.6], [0.1, 0.3, 0.0]])


def test_expected_correct_hand_computed():
    # diagonal: 3 x 1; edges: 0.9 + 0.6; non-edges: 0.8 + 0.6 + 0.9 + 0.7
    assert metrics.expected_correct(P, A)[0] == pytest.approx(3 + 1.5 + 3.0)
    assert metrics.expected_correct(A.astype(float), A)[0] == 9
    assert metrics.all_zeros_score(A)[0] == 7
    assert metrics.expected_correct(np.zeros((3, 3)), A)[0] == 7


def test_shd_counts_reversal_once():
    pred = np.array([[0, 0, 0], [1, 0, 1], [0, 0, 0]], dtype=bool)  # 1 -> 0 reversed, 1 -> 2 kept
    assert metrics.shd(pred, A)[0] == 1
    pred2 = np.array([[0, 0, 1], [0, 0, 0], [0, 0, 0]], dtype=bool)  # missing 2, extra 1
    assert metrics.shd(pred2, A)[0] == 3


def test_expected_shd_matches_monte_carlo_and_hard_case():
    rng = np.random.default_rng(0)
    samples = rng.random((20000, 3, 3)) < P
    mc = metrics.shd(samples, np.broadcast_to(A, samples.shape)).mean()
    assert metrics.expected_shd(P, A)[0] == pytest.approx(mc, abs=0.03)
    pred = np.array([[0, 0, 0], [1, 0, 1], [0, 0, 0]], dtype=float)
    assert metrics.expected_shd(pred, A)[0] == metrics.shd(pred, A)[0]


def test_auprc_auroc_hand_computed():
    # off-diagonal scores: edges 0.9, 0.6; non-edges 0.2, 0.4, 0.1, 0.3
    assert metrics.auroc(P, A)[0] == 1.0
    assert metrics.auprc(P, A)[0] == 1.0
    P2 = P.copy()
    P2[1, 0] = 0.95  # a non-edge ranked first
    # ranking: neg, pos, pos, ... -> precision at the two recall steps is 1/2 and 2/3
    assert metrics.auprc(P2, A)[0] == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    assert metrics.auroc(P2, A)[0] == pytest.approx(6 / 8)
    # ties: all scores equal -> AP equals the edge rate, AUROC 0.5
    flat = np.full((3, 3), 0.5)
    assert metrics.auprc(flat, A)[0] == pytest.approx(2 / 6)
    assert metrics.auroc(flat, A)[0] == pytest.approx(0.5)


def test_degenerate_graphs():
    empty = np.zeros((1, 3, 3), bool)
    assert np.isnan(metrics.auprc(P[None], empty)[0])
    assert np.isnan(metrics.auroc(P[None], empty)[0])
    assert metrics.edge_f1(np.zeros((1, 3, 3)), empty)[0] == 1.0
    assert metrics.edge_f1(P[None], empty)[0] == 0.0


def test_edge_f1():
    # predicted at 0.5: 0->1, 1->2 (both true) -> F1 = 1
    assert metrics.edge_f1(P, A)[0] == 1.0
    # threshold 0.3: adds 1->0 as a false positive -> 2*2/(2*2+1)
    assert metrics.edge_f1(P, A, threshold=0.35)[0] == pytest.approx(4 / 5)


def test_batched_equals_single_and_validation():
    rng = np.random.default_rng(1)
    probs = rng.random((4, 5, 5))
    adj = rng.random((4, 5, 5)) < 0.3
    for fn in (metrics.expected_correct, metrics.expected_shd, metrics.auprc, metrics.auroc, metrics.edge_f1):
        batched = fn(probs, adj)
        assert batched.shape == (4,)
        np.testing.assert_allclose(batched, [fn(probs[b], adj[b])[0] for b in range(4)])
    with pytest.raises(ValueError, match="shape"):
        metrics.expected_correct(probs, adj[:, :4, :4])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.expected_correct(probs + 1, adj)
