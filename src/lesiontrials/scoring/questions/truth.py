"""Typed realised truth of a case for question generation (lengths in mm, RAS world mm)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lesiontrials.anatomy import Texture
from lesiontrials.errors import InputError
from lesiontrials.lesion_text.descriptors import Calcification, descriptors_from_lidc

#: LIDC calcification patterns Lung-RADS treats as benign (popcorn, laminated, diffuse,
#: central); eccentric ("non-central") calcification is not benign.
BENIGN_CALCIFICATION = frozenset({Calcification.POPCORN, Calcification.LAMINATED,
                                  Calcification.DIFFUSE, Calcification.CENTRAL})


@dataclass(frozen=True)
class NoduleTruth:
    """One realised nodule. ``attenuation``/``calcification`` are ``None`` when the truth
    does not say (no donor ratings): questions on them are answered "cannot be determined".
    ``solid_fraction``: solid-core diameter / nodule diameter."""

    index: int
    lobe: str | None
    side: str
    zone: str
    diameter_mm: float  # equivalent-sphere (mean) diameter
    max_diameter_mm: float
    volume_mm3: float
    pleural_distance_mm: float | None
    centroid_mm: tuple[float, float, float]
    attenuation: Texture | None
    solid_fraction: float | None
    calcification: Calcification | None
    #: ``baseline`` (no prior scan), ``repeat`` (in the prior scan too) or ``new`` (absent
    #: from the prior scan); ``prior_diameter_mm``: the prior scan's realised diameter
    status: str = "baseline"
    prior_diameter_mm: float | None = None

    @property
    def diameter_change_mm(self) -> float | None:
        """Current − prior mean (equivalent) diameter; ``None`` unless a repeat nodule."""
        if self.prior_diameter_mm is None:
            return None
        return self.diameter_mm - self.prior_diameter_mm

    @property
    def solid_component_mm(self) -> float | None:
        if self.solid_fraction is None:
            return None
        return self.diameter_mm * self.solid_fraction

    @property
    def benign_calcification(self) -> bool | None:
        if self.calcification is None:
            return None
        return self.calcification in BENIGN_CALCIFICATION


@dataclass(frozen=True)
class CaseTruth:
    """A case's realised nodules (empty for a nodule-free case)."""

    case_uid: str
    nodules: tuple[NoduleTruth, ...]
    #: repeat scan: the prior case and the interval; ``in_series``: the case belongs to a
    #: longitudinal trial (a round-0 case then has a prior that is *not available*)
    prior_case_uid: str | None = None
    interval_days: float | None = None
    in_series: bool = False
    #: the patient's first case of the series (splits and intervals cluster on it: repeat
    #: scans of one patient share host and nodules); ``None`` = the case itself
    series_uid: str | None = None


def _number(realised: Mapping[str, Any], key: str, where: str) -> float:
    value = realised.get(key)
    if not isinstance(value, int | float):
        raise InputError(f"realised truth has no numeric {key!r}", path=where, column=key,
                         fix="re-run `lesiontrials insert` (insert.json schema)")
    return float(value)


def nodule_from_record(record: Mapping[str, Any], *, where: str) -> NoduleTruth:
    """One ``nodules[]`` entry of insert.json → :class:`NoduleTruth`."""
    realised = record.get("realised")
    if not isinstance(realised, Mapping):
        raise InputError("nodule has no 'realised' truth", path=where, column="realised",
                         fix="re-run `lesiontrials insert`")
    ratings = record.get("donor_characteristics") or {}
    descriptors = descriptors_from_lidc(ratings) if ratings else None
    known_texture = descriptors is not None and ratings.get("texture") is not None
    known_calc = descriptors is not None and ratings.get("calcification") is not None
    pleural = realised.get("pleural_distance_mm")
    centroid = realised.get("centroid_mm")
    if not (isinstance(centroid, list) and len(centroid) == 3):
        raise InputError("realised centroid_mm must be 3 numbers", path=where,
                         column="centroid_mm", fix="re-run `lesiontrials insert`")
    return NoduleTruth(
        index=int(record.get("nodule_index", 0)),
        lobe=realised.get("lobe"), side=str(realised.get("side")),
        zone=str(realised.get("zone")),
        diameter_mm=_number(realised, "equivalent_diameter_mm", where),
        max_diameter_mm=_number(realised, "max_axis_diameter_mm", where),
        volume_mm3=_number(realised, "volume_mm3", where),
        pleural_distance_mm=None if pleural is None else float(pleural),
        centroid_mm=(float(centroid[0]), float(centroid[1]), float(centroid[2])),
        attenuation=descriptors.attenuation if descriptors and known_texture else None,
        solid_fraction=descriptors.solid_fraction if descriptors and known_texture else None,
        calcification=descriptors.calcification if descriptors and known_calc else None,
        **_growth(record.get("growth"), where),
    )


def _growth(growth: Any, where: str) -> dict[str, Any]:
    if growth is None:
        return {}
    if not isinstance(growth, Mapping) or growth.get("status") not in ("repeat", "new"):
        raise InputError("nodule growth must have status 'repeat' or 'new'", path=where,
                         column="growth.status", fix="re-run `lesiontrials insert`")
    if growth["status"] == "new":
        return {"status": "new"}
    return {"status": "repeat",
            "prior_diameter_mm": _number(growth, "prior_diameter_mm", where)}


def case_from_insert(record: Mapping[str, Any], *, where: str = "insert.json") -> CaseTruth:
    """A parsed insert.json → :class:`CaseTruth` (only cases with status ``done``)."""
    if record.get("status") != "done":
        raise InputError(f"case status is {record.get('status')!r}, not 'done'", path=where,
                         column="status", fix="generate questions for inserted cases only")
    nodules = tuple(nodule_from_record(n, where=where) for n in record.get("nodules", []))
    prior = record.get("prior")
    if prior is None:
        return CaseTruth(case_uid=str(record["case_uid"]), nodules=nodules)
    return CaseTruth(case_uid=str(record["case_uid"]), nodules=nodules,
                     prior_case_uid=str(prior["case_uid"]),
                     interval_days=_number(prior, "interval_days", where), in_series=True)
