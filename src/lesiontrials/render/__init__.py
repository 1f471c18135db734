"""Rendering: inserted label maps → CT volumes, lesion appearance, fidelity checks.

Backends share one contract (:class:`Renderer`): ``analytic`` (default, CPU), ``physics``
(projection, Poisson noise, FBP on a slab), ``host-ct`` (insertion into a real CT) and
``maisi`` (MONAI MAISI ControlNet, user weights; :mod:`lesiontrials.render.maisi`).
"""

from lesiontrials.render.analytic import (
    AnalyticParams,
    AnalyticRenderer,
    render_analytic,
    sample_analytic_params,
)
from lesiontrials.render.backends import (
    BACKEND_NAMES,
    host_acquisition,
    host_facts,
    resolve_backend,
)
from lesiontrials.render.case import RenderJob, lesion_descriptors, render_case
from lesiontrials.render.fidelity import (
    histogram_intersection,
    host_histograms,
    texture_diversity,
    texture_features,
    trial_fidelity,
)
from lesiontrials.render.hostct import HostCTRenderer
from lesiontrials.render.interface import (
    Acquisition,
    HostFacts,
    LesionSpec,
    Renderer,
    RenderResult,
    kernel_class,
)
from lesiontrials.render.lesion import (
    LesionLayer,
    LesionParams,
    composite,
    lesion_layer,
    sample_lesion_params,
)
from lesiontrials.render.noise_measure import NoiseEstimate, estimate_noise
from lesiontrials.render.physics import PhysicsRenderer, physics_slab
from lesiontrials.render.qc import qc_png
from lesiontrials.render.scanner import noise_sd_hu, nps_peak_cyc_per_mm, psf_sigma_mm
from lesiontrials.render.tissue import TISSUES, Tissue, label_tissue
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
    "composite",
    "estimate_noise",
    "histogram_intersection",
    "host_acquisition",
    "host_facts",
    "host_histograms",
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
