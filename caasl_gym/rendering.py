"""Rendering of the current edge posterior ``q(A | h)`` next to the true graph.

``"ansi"`` returns text and needs nothing beyond numpy; ``"rgb_array"`` draws two heatmaps with
matplotlib (imported lazily, Agg canvas, no pyplot state) and is offered only when matplotlib is
installed.
"""

from __future__ import annotations

import importlib.util

import numpy as np

RENDER_MODES: tuple[str, ...] = (
    ("ansi", "rgb_array") if importlib.util.find_spec("matplotlib") is not None else ("ansi",)
)
"""Render modes available in this installation."""


def render_ansi(probs: np.ndarray, adjacency: np.ndarray, *, t: int, budget: int, score: float) -> str:
    """Text rendering: one row per parent ``i``, one column per child ``j``.

    Each cell shows ``q(i -> j)`` to two decimals, followed by ``*`` where the true graph has the edge.

    Args:
        probs: ``(d, d)`` edge probabilities.
        adjacency: ``(d, d)`` bool true graph.
        t: experiments done so far.
        budget: experiments per episode.
        score: the current score ``S(h_t)``.
    """
    d = probs.shape[0]
    width = max(5, len(str(d - 1)) + 1)
    lines = [
        f"step {t}/{budget}  score {score:.3f}  (q(i->j), * = true edge; rows = parent i, columns = child j)",
        " " * width + "".join(f"{j:>{width}} " for j in range(d)),
    ]
    for i in range(d):
        cells = "".join(
            f"{'-':>{width}} " if i == j else f"{probs[i, j]:>{width}.2f}{'*' if adjacency[i, j] else ' '}"
            for j in range(d)
        )
        lines.append(f"{i:>{width}}{cells}")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def render_rgb_array(probs: np.ndarray, adjacency: np.ndarray, *, t: int, budget: int, score: float) -> np.ndarray:
    """Image rendering: heatmaps of ``q(A | h_t)`` and of the true adjacency.

    Args: as :func:`render_ansi`.

    Returns:
        ``(H, W, 3)`` uint8 RGB image.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.2), dpi=80)
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    for ax, data, title in [
        (axes[0], probs, f"q(A | h), step {t}/{budget}"),
        (axes[1], adjacency.astype(float), "true graph"),
    ]:
        ax.imshow(data, vmin=0.0, vmax=1.0, cmap="viridis")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("child j", fontsize=8)
        ax.set_ylabel("parent i", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.suptitle(f"score {score:.3f}", fontsize=9)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
