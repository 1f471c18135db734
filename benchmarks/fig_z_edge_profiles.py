"""The z profiles the host's z-edge fit rests on (``docs/images/z_edge_profiles.png``), and a
check of their per-sample values against edges of known spread. Prints JSON.

Top row: every qualifying column's normalised profile (0 = the lung level, 1 = the tissue
level) against z minus its fitted boundary height, with the median and the fitted edge,
for each packaged real CT. Bottom row: the distribution of each sample's value. JSON: per
host, the reading and the quantiles of the samples just below (tissue side) and just
above (lung side) the boundary, next to what a Gaussian edge of each SD in ``SIMULATED_MM``
gives under a uniform spread of sub-slice phases (the columns of a dome), with the same
selection (the first sample under 0.4 starts the lung) and 0.04 of the step of noise.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import ndtr

from lesion_fidelity.z_profile import all_real_hosts
from lesiontrials import z_edge

SIMULATED_MM = (0.5, 0.85, 1.1, 1.44, 1.8, 2.12)


def _profiles(ct: np.ndarray, lung: np.ndarray, spacing: tuple[float, float, float]
              ) -> np.ndarray:
    slice_mm, pixel = spacing[2], (spacing[0], spacing[1])
    return np.concatenate([
        z_edge._boundary_columns(ct, lung, slice_mm, pixel),
        z_edge._boundary_columns(ct[:, :, ::-1], lung[:, :, ::-1], slice_mm, pixel)])


def _aligned(profiles: np.ndarray, slice_mm: float, sigma: float
             ) -> tuple[np.ndarray, np.ndarray]:
    k = z_edge._reach(slice_mm)
    z = np.arange(-k, k) * slice_mm
    phases = np.linspace(-1.5, 0.5, z_edge.PHASE_STEPS) * slice_mm
    model = ndtr((phases[:, None] - z[None, :]) / sigma)
    best = ((profiles[:, None, :] - model[None]) ** 2).sum(axis=2).argmin(axis=1)
    return (z[None, :] - phases[best][:, None]).ravel(), profiles.ravel()


def _simulated(slice_mm: float, sigma: float, n: int = 200_000) -> dict[str, float]:
    rng = np.random.default_rng(1)
    boundary = rng.uniform(0, slice_mm, n)
    z = np.arange(-4, 5) * slice_mm
    values = ndtr((boundary[:, None] - z[None]) / sigma) + rng.normal(0, 0.04, (n, len(z)))
    first = np.argmax(values < 0.4, axis=1)
    rows = np.arange(n)
    below, above = values[rows, first - 1], values[rows, first]
    return {"below_median": round(float(np.median(below)), 3),
            "below_p10": round(float(np.percentile(below, 10)), 3),
            "above_median": round(float(np.median(above)), 3),
            "above_p90": round(float(np.percentile(above, 90)), 3)}


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/images/z_edge_profiles.png"))
    args = parser.parse_args()
    hosts = all_real_hosts()
    fig, axes = plt.subplots(2, len(hosts), figsize=(4.2 * len(hosts), 6.4))
    report: dict[str, Any] = {}
    for j, (name, ct, lung, spacing, _thick) in enumerate(hosts):
        reading = z_edge.z_edge_sigma_mm(ct, lung, spacing)
        if reading is None:
            continue
        profiles = _profiles(ct, lung, spacing)
        k = z_edge._reach(spacing[2])
        x, y = _aligned(profiles, spacing[2], reading.sigma_mm)
        ax = axes[0, j]
        pick = np.random.default_rng(0).choice(x.size, min(x.size, 40_000), replace=False)
        ax.plot(x[pick], y[pick], ",", alpha=0.3)
        bins = np.arange(-12.0, 12.01, 0.5)
        index = np.digitize(x, bins)
        median = [np.median(y[index == i]) if (index == i).sum() > 20 else np.nan
                  for i in range(1, len(bins))]
        ax.plot(0.5 * (bins[1:] + bins[:-1]), median, "r-", lw=2, label="median")
        line = np.linspace(-12, 12, 300)
        ax.plot(line, ndtr(-line / reading.sigma_mm), "k--",
                label=f"fitted edge, σ = {reading.sigma_mm:.2f} mm")
        ax.set(ylim=(-0.5, 1.5), xlim=(-12, 12), xlabel="z − fitted boundary (mm)",
               ylabel="(HU − lung) / (tissue − lung)",
               title=f"{name} ({spacing[2]:g} mm): {len(profiles)} columns, "
                     f"residual {reading.rms_residual:.3f}")
        ax.title.set_fontsize(8)
        ax.legend(fontsize=7)
        ax = axes[1, j]
        for i in range(profiles.shape[1]):
            ax.hist(np.clip(profiles[:, i], -0.5, 1.5), bins=80, histtype="step",
                    label=f"slice {i - k:+d}")
        ax.set_yscale("log")
        ax.set_xlabel("normalised value")
        ax.set_title("each sample's values (slice 0: the lung's first)", fontsize=8)
        ax.legend(fontsize=6)
        below, above = profiles[:, k - 1], profiles[:, k]
        report[name] = {
            "sigma_mm": reading.sigma_mm, "residual": round(reading.rms_residual, 3),
            "columns": len(profiles),
            "below_median": round(float(np.median(below)), 3),
            "below_p10": round(float(np.percentile(below, 10)), 3),
            "above_median": round(float(np.median(above)), 3),
            "above_p90": round(float(np.percentile(above, 90)), 3),
            "simulated_gaussian_edges": {str(s): _simulated(spacing[2], s)
                                         for s in SIMULATED_MM}}
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
