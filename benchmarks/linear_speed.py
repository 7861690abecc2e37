"""Throughput of the batched linear-SCM simulator.

For B in {1, 256} and d in {10, 30}: median wall time to draw one 60-row dataset per model (50
observational + 10 rows under random multi-target do-interventions), parameter sampling excluded and
included, as samples/s and ms per dataset, next to avici's linear sampler (a median 0.95 ms per 60-row
d=10 dataset on a 2-core machine, parameters included; see shared/reference/avici_sergio.md §4).

Run: ``python -m benchmarks.linear_speed``
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from benchmarks._common import median_seconds, write_results
from caasl_gym.simulators.linear import sample_linear_params, simulate_linear

AVICI_MS_PER_DATASET = 0.95


def run(repeats: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for noise in ("gaussian", "heteroskedastic"):
        for d in (10, 30):
            for batch in (1, 256):
                n = 60
                targets = np.zeros((batch, n, d), bool)
                targets[:, 50:] = rng.random((batch, 10, d)) < 0.5
                values = rng.uniform(-1, 1, (batch, n, d))
                params = sample_linear_params(rng, batch, d, noise=noise)
                sim, _ = median_seconds(lambda p=params, t=targets, v=values: simulate_linear(rng, p, t, v), repeats)

                def full(batch=batch, d=d, targets=targets, values=values, noise=noise):
                    p = sample_linear_params(rng, batch, d, noise=noise)
                    simulate_linear(rng, p, targets, values)

                tot, _ = median_seconds(full, repeats)
                rows.append(
                    dict(
                        noise=noise,
                        d=d,
                        B=batch,
                        ms_per_call=1e3 * tot,
                        ms_per_dataset=1e3 * tot / batch,
                        samples_per_s=batch * n / tot,
                        samples_per_s_fixed_params=batch * n / sim,
                        speedup_vs_avici_d10=(AVICI_MS_PER_DATASET / (1e3 * tot / batch)) if d == 10 else np.nan,
                    )
                )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    table = run(args.repeats)
    notes = (
        "One dataset = 60 rows (50 observational + 10 under random multi-target do-interventions). "
        "`ms_per_call` includes sampling the B models' parameters; `samples_per_s_fixed_params` excludes it. "
        f"Reference: avici's linear sampler, {AVICI_MS_PER_DATASET} ms per 60-row d=10 dataset (2 cores)."
    )
    path = write_results("linear_speed", table, title="Linear SCM simulator throughput", notes=notes)
    print(path.read_text())


if __name__ == "__main__":
    main()
