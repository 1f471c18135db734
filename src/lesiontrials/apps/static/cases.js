// Trials, one trial, and the case viewer: axial slices (window/level, the four guidance
// overlays), a NiiVue 3-D pane, and a button per inserted nodule centring both on it.
// @ts-check
// Record types (plan.json, insert.json, render.json as the API returns them) are generated
// from the Python records: `python -m lesiontrials.apps.schemas` writes record_types.js.
/** @typedef {import("./record_types.js").PlanRecord} PlanRecord */
/** @typedef {import("./record_types.js").InsertRecord} InsertRecord */
/** @typedef {import("./record_types.js").InsertedNodule} InsertedNodule */
/** @typedef {import("./record_types.js").RenderRecord} RenderRecord */

import { api, el, errorOf, fmt, labelLegend, pretty, show, showError, table, view } from "./util.js";
import { createViewer } from "./viewer3d.js";

export async function pageTrials() {
  const result = await api("/api/trials?limit=200");
  const rows = result.items.map((t) => ({ trial: t.trial, cases: t.audit.cases, nodules: t.audit.nodules,
    prevalence: t.audit.prevalence_achieved, hosts: t.audit.hosts_distinct, donors: t.audit.donors_distinct, on_disk: t.cases_on_disk }));
  view.replaceChildren(el("h2", {}, "Trials"),
    table(rows, ["trial", "cases", "nodules", "prevalence", "hosts", "donors", "on_disk"], (row) => { location.hash = `#/trial/${row.trial}`; }));
}

export async function pageTrial(trial) {
  const result = await api(`/api/trials/${encodeURIComponent(trial)}?limit=100`);
  const cases = result.cases.map((c) => ({ case: c }));
  view.replaceChildren(el("h2", {}, `Trial ${trial}`), el("h3", {}, "Plan audit"), el("pre", {}, JSON.stringify(result.plan.audit, null, 1)),
    el("h3", {}, "Cases"), table(cases, ["case"], (row) => { location.hash = `#/case/${trial}/${row.case}`; }),
    el("h3", {}, `Manifest (${result.manifest.total} rows)`),
    table(result.manifest.items, Object.keys(result.manifest.items[0] || {}).slice(0, 10)));
}

function qcImage(src) {
  const image = el("img", { src, alt: "QC montage", id: "case-qc" });
  // what qc.png draws (lesiontrials.render.qc): say it next to the picture
  const box = el("figure", {}, image, el("figcaption", { id: "case-qc-legend" },
    "insert/render QC, 80 mm around the first nodule, three axial slices (its centre and a quarter of its extent "
    + "either side). Top row: CT in the lung window (centre −600 HU, width 1500 HU; black ≤ −1350 HU, "
    + "white ≥ +150 HU). Bottom row: the same slices, ",
    el("span", { class: "swatch qc-red" }), " red outline = the inserted nodules' masks. Anterior up, patient right on the left."));
  image.addEventListener("error", () => box.remove());
  return box;
}

/** A nodule's centre on the case grid from ``insert.json``: the realised centroid (voxel
 *  and world mm; the record requires both), null when not finite.
 *  @param {InsertedNodule} nodule
 *  @returns {{vox: number[], mm: number[]} | null} */
export function noduleCentre(nodule) {
  const { centroid_voxel: vox, centroid_mm: mm } = nodule.realised;
  return vox.every((x) => Number.isFinite(x)) ? { vox, mm } : null;
}

/** The case endpoint's answer (routes_results.case_detail).
 *  @typedef {{insert: Partial<InsertRecord>, render: Partial<RenderRecord>, shape: number[] | null,
 *             has_ct: boolean, has_labels: boolean, has_qc: boolean, synthetic: boolean,
 *             ct_viewable: boolean}} CaseInfo */

export async function pageCase(trial, name) {
  const base = `/api/cases/${encodeURIComponent(trial)}/${encodeURIComponent(name)}`;
  /** @type {CaseInfo} */
  const info = await api(base);
  const depth = info.shape ? info.shape[2] : 1;
  const inPlane = info.shape ? Math.max(info.shape[0], info.shape[1]) : 256;
  const zoom = Math.max(1, Math.min(4, Math.floor(400 / inPlane)));
  const image = el("img", { class: "slice", id: "case-slice", alt: "axial slice" });
  const z = el("input", { type: "range", id: "case-z", min: 0, max: depth - 1, value: 0 });
  const zLabel = el("span", { id: "case-z-label" });
  const centre = el("input", { type: "number", id: "case-center", value: -600, step: 50 });
  const width = el("input", { type: "number", id: "case-width", value: 1500, step: 50 });
  const overlay = el("select", { id: "case-overlay" }, ["contour", "bbox", "bbox_contour", "plain"].map((o) => el("option", { value: o }, pretty(o))));
  const source = el("select", { id: "case-source" }, (info.ct_viewable ? ["ct", "labels"] : ["labels"]).map((o) => el("option", { value: o }, o === "ct" ? "CT" : "label map")));
  const note = el("p", { class: "note", id: "case-msg", hidden: true });
  const legend = el("div", { class: "legend", id: "case-legend", hidden: true });
  const windowBox = el("div", { class: "window", hidden: source.value !== "ct" },
    el("label", { for: "case-center" }, "window centre (HU) ", centre),
    el("label", { for: "case-width" }, "window width (HU) ", width));
  source.addEventListener("input", () => { windowBox.hidden = source.value !== "ct"; });
  let first = true, latest = 0, viewer = null;

  async function update() {
    const ticket = ++latest;
    const q = new URLSearchParams({ source: source.value, overlay: overlay.value, center: centre.value, width: width.value, zoom: String(zoom) });
    if (!first) q.set("z", z.value);
    const response = await fetch(`${base}/slice.png?${q}`);
    if (ticket !== latest) return;
    if (!response.ok) {
      const message = await errorOf(response);
      note.textContent = message; note.hidden = false; note.classList.add("refused");
      showError(message);
      return;
    }
    note.hidden = true;
    if (first) { z.value = response.headers.get("X-Slice"); first = false; if (viewer) viewer.setZ(Number(z.value)); }
    zLabel.textContent = `z = ${z.value} / ${depth - 1}`;
    const shown = { z: z.value, overlay: overlay.value, source: source.value };
    const labelIds = source.value === "labels" ? response.headers.get("X-Labels") : null;
    legend.hidden = !labelIds;
    legend.replaceChildren(...(labelIds ? await labelLegend(labelIds) : []));
    if (ticket !== latest) return;
    const blob = await response.blob();
    if (ticket !== latest) return;
    const old = image.src;
    image.onload = () => { Object.assign(image.dataset, { loaded: shown.z, overlay: shown.overlay, source: shown.source }); };
    image.src = URL.createObjectURL(blob);
    if (old) URL.revokeObjectURL(old);
  }
  z.addEventListener("input", () => { update(); if (viewer) viewer.setZ(Number(z.value)); });
  for (const control of [centre, width, overlay, source]) control.addEventListener("input", update);
  for (const control of [centre, width]) {  // the 3-D view's CT window follows the slice's
    control.addEventListener("change", () => { if (viewer && info.ct_viewable) viewer.setWindow(Number(centre.value), Number(width.value)); });
  }

  // inserted nodules, each with a button centring the slices and the crosshair on it
  const nodules = info.insert.nodules || [];  // {} when the case has no insert.json
  const rows = nodules.map((n, i) => {
    const target = noduleCentre(n);
    const button = el("button", { type: "button", id: `centre-${i}`, class: "centre",
      disabled: !target, title: target ? "move the slices and the crosshair to this nodule's centre"
        : "insert.json has no realised.centroid_voxel (or bbox_voxel) for this nodule",
      "data-z": target ? Math.round(target.vox[2]) : null,
      on: { click: () => centreOn(i, target) } }, `◎ nodule ${i}`);
    return { centre: button, donor: n.donor_uid, label: n.label, lobe: n.realised.lobe,
      diameter_mm: n.realised.equivalent_diameter_mm, diameter_error_mm: n.diameter_error_mm,
      centre_voxel: target ? target.vox.map((v) => fmt(v)).join(", ") : "unknown" };
  });
  const nodulesTable = table(rows, [["centre", ""], "donor", "label", "lobe", ["diameter_mm", "diameter (mm)"],
    ["diameter_error_mm", "|planned − realised| (mm)"], ["centre_voxel", "centre (voxel x, y, z)"]],
    null, { id: "case-nodules" });
  function centreOn(i, target) {
    for (const [k, row] of [...nodulesTable.tBodies[0].rows].entries()) row.classList.toggle("current", k === i);
    const slice = Math.max(0, Math.min(depth - 1, Math.round(target.vox[2])));
    if (String(slice) !== z.value || first) { first = false; z.value = slice; update(); }
    if (viewer) viewer.goTo(target);
  }

  const box3d = el("div", { id: "viewer3d-box" });
  show(el("h2", { id: "case-title" }, `Case ${trial}/${name}`),
    el("p", { class: "summary" }, `status ${info.insert.status}; render backend ${info.render.backend || "none"}; synthetic ${info.synthetic}`,
      info.ct_viewable ? "" : "; CT not viewable on this server (label map shown)"),
    el("div", { class: "case-grid" },
      el("section", { class: "panel" }, el("h3", {}, "Axial slice"),
        el("div", { class: "controls" },
          el("label", { for: "case-z" }, "slice ", z, " ", zLabel),
          windowBox,
          el("label", { for: "case-overlay" }, "overlay ", overlay),
          el("label", { for: "case-source" }, "image ", source)),
        note, image, legend),
      el("section", { class: "panel" }, el("h3", {}, "3-D view (NiiVue)"), box3d)),
    el("h3", {}, "Inserted nodules (realised)"), nodulesTable,
    info.has_qc ? qcImage(`/api/files/cases/${encodeURIComponent(trial)}/${encodeURIComponent(name)}/qc.png`) : null,
    el("h3", {}, "Render audit"), el("pre", {}, JSON.stringify(info.render.brief || info.render, null, 1)));
  await update();
  const has3d = info.has_labels;
  if (has3d) {
    viewer = createViewer(box3d, {
      base, withCt: info.ct_viewable,
      onLocation: (vox, byUser) => {
        if (!byUser || String(vox[2]) === z.value || vox[2] < 0 || vox[2] >= depth) return;
        z.value = vox[2];
        update();
      },
    });
    viewer.ready.then((ready) => { if (ready) ready.setZ(Number(z.value)); });
  } else {
    box3d.replaceChildren(el("p", { class: "note" }, "no labels.nii.gz: nothing to show in 3-D"));
  }
}
