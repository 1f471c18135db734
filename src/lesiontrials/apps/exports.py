"""A nodule selection as a trial spec or a manifest (the export endpoint's formats).

* :func:`selection_spec` — a :class:`~lesiontrials.trials.TrialSpec` whose ``donor_uids``
  are the selected nodules that can be donors (a mask is available): planned with
  ``lesiontrials plan spec.yaml`` it draws exactly those donors (each once when
  ``n_cases`` equals their number, the default) into hosts at their profile-faithful
  positions. Selected nodules without a mask are counted as skipped.
* :func:`native_manifest` — the digital-twin (native placement) manifest of the selection:
  one case per selected nodule, put back alone into its own scan at its own location. Only
  nodules with a host scan of their own qualify; donor-only rows (LIDC: a mask, no scan)
  cannot be placed natively and are counted as skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


class NoDonorsError(ValueError):
    """The selection holds no nodule that can be a donor."""


@dataclass(frozen=True)
class SpecExport:
    """The spec, its YAML text and the selected nodules that cannot be donors."""

    spec: Any
    yaml: str
    skipped: list[str] = field(default_factory=list)


def selection_spec(table: pd.DataFrame, filters: dict[str, Any], *, name: str,
                   n_cases: int | None = None, seed: int = 0) -> SpecExport:
    """A :class:`~lesiontrials.trials.TrialSpec` drawing its donors from the selected index
    rows ``table`` (chosen by ``filters``)."""
    import yaml

    from lesiontrials.trials.spec import TrialSpec

    usable = table["mask_available"].astype(bool).to_numpy()
    donors = [str(u) for u in table.loc[usable, "nodule_uid"]]
    skipped = [str(u) for u in table.loc[~usable, "nodule_uid"]]
    if not donors:
        raise NoDonorsError(f"none of the {len(table)} selected nodules has a mask to "
                            "transplant (rows without a mask cannot be donors); export "
                            "format=csv instead")
    spec = TrialSpec.model_validate({"name": name, "seed": seed,
                                     "n_cases": int(n_cases or len(donors)),
                                     "donor_uids": donors})
    header = [f"# lesiontrials trial spec: donors are the {len(donors)} nodules selected by",
              f"#   {filters_comment(filters)}",
              "# plan it with `lesiontrials plan THIS_FILE`; add prevalence, hosts, placement",
              "# or appearance fields as needed (`lesiontrials plan --schema`)."]
    if skipped:
        header.append(f"# {len(skipped)} selected nodules have no mask and are left out")
    body = yaml.safe_dump(spec.model_dump(mode="json", exclude_defaults=True),
                          sort_keys=False, allow_unicode=True)
    return SpecExport(spec, "\n".join(header) + "\n" + body, skipped)


def filters_comment(filters: dict[str, Any]) -> str:
    """One line naming the set filters."""
    parts = []
    for key, value in filters.items():
        shown = ",".join(map(str, value)) if isinstance(value, tuple | list) else value
        parts.append(f"{key}={shown:g}" if isinstance(shown, float) else f"{key}={shown}")
    return "; ".join(parts) or "no filters (every nodule)"


@dataclass(frozen=True)
class ManifestExport:
    """The release-column manifest CSV rows and the selected nodules left out."""

    frame: pd.DataFrame
    skipped: list[str]


def native_manifest(table: pd.DataFrame, hosts: pd.DataFrame, *, name: str,
                    seed: int = 0) -> ManifestExport:
    """Digital-twin manifest (release CSV columns) of the selected index rows ``table``:
    one case per nodule in its own scan (native placement); ``hosts`` is the host
    catalogue. Raises ``ValueError`` when no selected nodule has a scan of its own."""
    from lesiontrials.index import NoduleIndex
    from lesiontrials.trials import PlanContext, TrialSpec, validate_manifest
    from lesiontrials.trials.manifest import RELEASE_CSV_COLUMNS
    from lesiontrials.trials.twins import digital_twin

    scans = set(zip(hosts["host_dataset"].astype(str), hosts["host_ct_id"].astype(str),
                    strict=True))
    own_scan = np.array([(d, c) in scans for d, c in zip(
        table["dataset"].astype(str), table["ct_id"].astype(str), strict=True)], dtype=bool)
    native = (table["host_available"].to_numpy(dtype=bool)
              & table["mask_available"].to_numpy(dtype=bool)
              & (table["lobe_name"].astype(str).to_numpy() != "") & own_scan)
    skipped = [str(u) for u in table.loc[~native, "nodule_uid"]]
    if not native.any():
        raise ValueError(f"none of the {len(table)} selected nodules has a host scan of its "
                         "own, so none can be placed natively (donor-only rows such as LIDC "
                         "have a mask but no scan); export format=spec or csv instead")
    spec = TrialSpec.model_validate({"name": name, "design": "digital_twin_isolation",
                                     "seed": seed, "n_cases": 1, "allow_same_patient": True,
                                     "placement": {"mode": "native"}})
    context = PlanContext(NoduleIndex(table[native].reset_index(drop=True)), hosts)
    frame = digital_twin(context, spec, trial=name, complete=False, n_scans=None)
    frame = validate_manifest(frame, source=f"selection {name}")
    return ManifestExport(frame.loc[:, list(RELEASE_CSV_COLUMNS)], skipped)

