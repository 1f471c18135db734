"""Rendering: inserted label maps → CT volumes, lesion appearance, fidelity checks.

Backends share one contract (:class:`Renderer`): ``analytic`` (default, CPU), ``physics``
(projection, Poisson noise, FBP on a slab), ``host-ct`` (insertion into a real CT) and
``maisi`` (MONAI MAISI ControlNet, user weights; :mod:`lesiontrials.render.backends.maisi`).
"""

from lesiontrials.render.appearance.lesion import (
    LesionLayer,
    LesionParams,
    composite,
    lesion_layer,
    sample_lesion_params,
)
from lesiontrials.render.appearance.tissue import TISSUES, Tissue, label_tissue
from lesiontrials.render.backends.analytic import (
    AnalyticParams,
    AnalyticRenderer,
    render_analytic,
    sample_analytic_params,
)
from lesiontrials.render.backends.hostct import HostCTRenderer
from lesiontrials.render.backends.physics import PhysicsRenderer, physics_slab
from lesiontrials.render.backends.registry import (
    BACKEND_NAMES,
    host_acquisition,
    host_facts,
    host_z_spread,
    resolve_backend,
)
from lesiontrials.render.backends.scanner import noise_sd_hu, nps_peak_cyc_per_mm, psf_sigma_mm
from lesiontrials.render.case import RenderJob, lesion_descriptors, render_case
from lesiontrials.render.fidelity.fidelity import (
    histogram_intersection,
    host_histograms,
    texture_diversity,
    texture_features,
    trial_fidelity,
)
from lesiontrials.render.fidelity.noise_measure import NoiseEstimate, estimate_noise
from lesiontrials.render.interface import (
    Acquisition,
    HostFacts,
    LesionSpec,
    Renderer,
    RenderResult,
    ZSpread,
    kernel_class,
)
from lesiontrials.render.qc import qc_png
from lesiontrials.render.trial import inserted_trials, render_trial, render_trials

__all__ = [
    "BACKEND_NAMES",
    "TISSUES",
    "Acquisition",
    "AnalyticParams",
    "AnalyticRenderer",
    "HostCTRenderer",
    "HostFacts",
    "LesionLayer",
    "LesionParams",
    "LesionSpec",
    "NoiseEstimate",
    "PhysicsRenderer",
    "RenderJob",
    "RenderResult",
    "Renderer",
    "Tissue",
    "ZSpread",
    "composite",
    "estimate_noise",
    "histogram_intersection",
    "host_acquisition",
    "host_facts",
    "host_histograms",
    "host_z_spread",
    "inserted_trials",
    "kernel_class",
    "label_tissue",
    "lesion_descriptors",
    "lesion_layer",
    "noise_sd_hu",
    "nps_peak_cyc_per_mm",
    "physics_slab",
    "psf_sigma_mm",
    "qc_png",
    "render_analytic",
    "render_case",
    "render_trial",
    "render_trials",
    "resolve_backend",
    "sample_analytic_params",
    "sample_lesion_params",
    "texture_diversity",
    "texture_features",
    "trial_fidelity",
]
