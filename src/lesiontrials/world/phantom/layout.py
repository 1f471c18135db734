"""The decided phantom: shape, scale, fissures and every tube, in world millimetres.

``build_layout`` makes every random and calibrated decision for a host; rendering it on
a grid (:mod:`.generate`) is then deterministic and independent of the voxel size, so
demo and full grids show the same anatomy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lesiontrials.world.phantom.airways import Tree, bronchial_tree, trachea_tubes
from lesiontrials.world.phantom.body import BodyWalls, body_walls, centring_shift_y
from lesiontrials.world.phantom.calibrate import LungCalibration, calibrate_lungs
from lesiontrials.world.phantom.fields import Frame
from lesiontrials.world.phantom.lungs import FissureOffsets
from lesiontrials.world.phantom.mediastinum import mediastinal_tubes
from lesiontrials.world.phantom.params import PhantomParams, lung_height_mm, target_lung_volume_ml
from lesiontrials.world.phantom.shape import H, ThoraxShape, sample_thorax_shape
from lesiontrials.world.phantom.tubes import Tubes
from lesiontrials.world.phantom.vessels import pulmonary_vessels

#: World z (mm) of the lung apices: a grid centred on z = 0 and 320 mm tall starts
#: about 9 mm above them, as a chest CT does.
APEX_Z_MM = 151.0
#: Lung volume lost to drawn airways and vessels inside the lobes (fraction).
_INTRAPULMONARY_LOSS = 0.045


@dataclass(frozen=True, eq=False)
class PhantomLayout:
    """Everything decided about one host before any voxel is drawn."""

    params: PhantomParams
    shape: ThoraxShape
    frame: Frame
    walls: BodyWalls
    offsets: FissureOffsets
    target_lung_volume_ml: float
    trachea: Tubes
    airways: Tree
    vessels: Tubes
    mediastinum: dict[int, Tubes]


def fit_frame(params: PhantomParams, shape: ThoraxShape, calibration: LungCalibration,
              *, volume_ml: float) -> Frame:
    """Scales that give each lung its target volume: lung height sets kz, the chest's
    depth/width ratio sets ky/kx, and kx differs per side to hit the right/left split."""
    t = shape.lobe_targets
    right_share = (t["right_lung_upper_lobe"] + t["right_lung_middle_lobe"]
                   + t["right_lung_lower_lobe"])
    volume_mm3 = volume_ml * 1000.0 * (1.0 + _INTRAPULMONARY_LOSS)
    kz = lung_height_mm(params) / H
    v_right, v_left = calibration.volume_right_mm3, calibration.volume_left_mm3
    k = np.sqrt(volume_mm3 / (shape.ap_ratio * kz * (v_right + v_left)))
    ky = shape.ap_ratio * k
    return Frame(kx_right=float(right_share * volume_mm3 / (ky * kz * v_right)),
                 kx_left=float((1.0 - right_share) * volume_mm3 / (ky * kz * v_left)),
                 ky=float(ky), kz=float(kz), y0_mm=0.0, z0_mm=float(APEX_Z_MM - kz * H))


def build_layout(params: PhantomParams) -> PhantomLayout:
    """Decide the whole phantom for ``params`` (deterministic in ``params``)."""
    shape = sample_thorax_shape(params)
    calibration = calibrate_lungs(shape)
    volume_ml = target_lung_volume_ml(params, variation=shape.volume_variation)
    frame = fit_frame(params, shape, calibration, volume_ml=volume_ml)
    walls = body_walls(params)
    frame = replace(frame, y0_mm=centring_shift_y(shape, frame, walls))
    rng = np.random.default_rng([params.shape_seed, 1])
    airways = bronchial_tree(rng, shape, frame, calibration.lobe_points)
    vessels = pulmonary_vessels(rng, shape, frame, airways, calibration.lobe_points)
    return PhantomLayout(
        params=params, shape=shape, frame=frame, walls=walls, offsets=calibration.offsets,
        target_lung_volume_ml=volume_ml, trachea=trachea_tubes(shape, frame), airways=airways,
        vessels=vessels, mediastinum=mediastinal_tubes(shape, frame),
    )
