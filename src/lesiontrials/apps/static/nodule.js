// Nodule page: every index column that matters, an axial slice (label map, or CT when the
// server allows real pixels), similar nodules by features or by image embedding.

import { api, el, health, labelLegend, loadImage, noduleLink, nodulePath, pretty, table, view } from "./util.js";

const FACTS = ["dataset", "label", "lobe_name", "lung_side", "lung_zone", "central_peripheral", "nodule_mean_diam_mm",
  "nodule_vol_mm3", "pleural_distance_mm", "airway_distance_mm", "n_nodules_in_patient", "host_available", "mask_available"];
const CHARACTERISTICS = ["subtlety", "internal_structure", "calcification", "sphericity", "margin", "lobulation",
  "spiculation", "texture", "malignancy"];
const SPACES = [
  { space: "features", label: "features", title: "donor matcher: placement and diameter (the distance trials pick donors by)" },
  { space: "image", label: "image", title: "image embedding (needs `lesiontrials index embed`)" },
];
const SOURCES = {
  labels: { label: "label map", caption: "host label map, nodule outlined (colours: legend below)" },
  ct: { label: "CT", caption: "host CT, nodule outlined" },
  mask: { label: "mask", caption: "mask outline, no CT in the embedded data: the nodule's mask alone "
    + "(axial, coronal, sagittal; filled grey, outline red, 10 mm bar)" },
};
const WHY_DIFFERENT = "Similar nodules and map neighbours are found in different spaces, so the lists differ: "
  + "\"similar by features\" ranks donors by the matcher's weighted placement distance (lobe, zone, position in "
  + "the lobe, pleural and airway distance, diameter; diameter alone for a nodule without a location), the distance "
  + "used to pick donors for a trial; "
  + "\"similar by image\" by CT-crop embeddings; map neighbours are the nearest nodules in the map's "
  + "standardised feature space (placement, size and the nine LIDC reader scores, all weighted equally), "
  + "the space the map is drawn from.";

function radios(name, options, chosen, onChange) {
  return options.map((o) => el("label", { class: "option", for: `${name}-${o.value}`, title: o.title || "" },
    el("input", { type: "radio", name, value: o.value, id: `${name}-${o.value}`, checked: o.value === chosen,
      on: { change: () => onChange(o.value) } }), ` ${o.label}`));
}

function distanceColumn(items) {
  const keys = ["distance", "match_distance", "cosine_similarity", "similarity", "score"];
  return keys.find((k) => items.some((row) => row[k] !== undefined && row[k] !== null));
}

export async function pageNodule(uid) {
  const base = `/api/nodules/${nodulePath(uid)}`;
  const [detail, status] = await Promise.all([api(base), health()]);

  // slice: label map or CT
  const image = el("img", { class: "slice", id: "nodule-slice", alt: "axial slice through the nodule", hidden: true });
  const note = el("p", { class: "note", id: "slice-msg", hidden: true });
  const centre = el("input", { type: "number", id: "slice-center", value: -600, step: 50 });
  const width = el("input", { type: "number", id: "slice-width", value: 1500, step: 50 });
  const overlay = el("select", { id: "slice-overlay" },
    ["contour", "bbox", "bbox_contour", "plain"].map((o) => el("option", { value: o }, pretty(o))));
  const caption = el("figcaption", { id: "slice-caption" });
  const ctNote = status.real_pixels === false ? " (real pixels are off on this server)" : "";
  const pictures = detail.pictures || { labels: true, ct: true, mask: false };
  const offered = ["labels", "ct", "mask"].filter((s) => pictures[s]);
  let source = offered[0] || "labels";
  const legend = el("div", { class: "legend", id: "slice-legend", hidden: true });
  const windowControls = el("div", { class: "window", hidden: true },
    el("label", { for: "slice-center" }, "window centre (HU) ", centre), el("label", { for: "slice-width" }, "width ", width));
  async function updateSlice() {
    windowControls.hidden = source !== "ct";
    const q = new URLSearchParams({ source, overlay: overlay.value, zoom: 3 });
    if (source === "ct") { q.set("center", centre.value); q.set("width", width.value); }
    image.dataset.source = "";
    const response = await loadImage(image, `${base}/slice.png?${q}`, note);
    caption.textContent = response ? SOURCES[source].caption : `no ${SOURCES[source].label} picture`;
    overlay.disabled = source === "mask";
    const shownLabels = response && source === "labels" ? response.headers.get("X-Labels") : null;
    legend.hidden = !shownLabels;
    legend.replaceChildren(...(shownLabels ? await labelLegend(shownLabels) : []));
    image.dataset.source = response ? source : "refused";
    note.dataset.source = source;
  }
  // only the pictures this nodule has: no CT toggle where no CT exists (or real pixels are off)
  const sourceOptions = offered.map((value) => ({ value, label: SOURCES[value].label,
    title: value === "ct" ? "the host's real CT" : "" }));
  const noCt = pictures.ct ? null : el("span", { class: "note", id: "slice-no-ct" },
    status.real_pixels === false && pictures.labels ? `no CT${ctNote}` : "no CT for this nodule");
  const sourceToggle = el("fieldset", { class: "toggle", id: "slice-source" }, el("legend", {}, "image"),
    radios("slice-source", sourceOptions, source, (value) => { source = value; updateSlice(); }), noCt);
  for (const control of [overlay, centre, width]) control.addEventListener("change", updateSlice);

  // similar nodules
  const similarBox = el("div", { id: "similar" });
  const similarNote = el("p", { class: "note", id: "similar-msg", hidden: true });
  async function updateSimilar(space) {
    similarBox.dataset.space = "";
    similarNote.hidden = true;
    let result;
    try {
      result = await api(`${base}/similar?space=${space}&k=8`, { quiet: true });
    } catch (error) {
      similarBox.replaceChildren();
      similarNote.textContent = error.message;
      similarNote.hidden = false;
      similarNote.classList.add("refused");
      similarBox.dataset.space = `${space}-failed`;
      return;
    }
    const items = result.items || [];
    const distance = distanceColumn(items);
    const columns = [["nodule_uid", "nodule"], "dataset", ["lobe_name", "lobe"], ["nodule_mean_diam_mm", "diameter (mm)"],
      "malignancy", ...(distance ? [[distance, pretty(distance)]] : [])];
    const named = (v) => (v === null || v === undefined || String(v).trim() === "" ? "unknown" : v);
    similarBox.replaceChildren(table(items.map((row) => ({ ...row, lobe_name: named(row.lobe_name),
      nodule_uid: noduleLink(row.nodule_uid) })), columns,
      null, { id: "similar-table" }));
    similarBox.dataset.space = space;
  }

  const known = (v) => v !== null && v !== undefined && String(v).trim() !== "";
  const facts = [...FACTS, ...CHARACTERISTICS].filter((k) => k in detail)
    .map((k) => ({ field: pretty(k), value: known(detail[k]) ? detail[k] : "unknown" }));
  const located = ["lobe_name", "lung_side", "lung_zone"].some((k) => known(detail[k]));
  const locationNote = located ? null : el("p", { class: "note", id: "nodule-location-note" },
    "Location unknown: this nodule's dataset has no lung or lobe mask (donor-only rows such as LIDC "
    + "carry the readers' outline only); a trial places it by the spec's target.");
  const neighbours = (detail.map && detail.map.neighbours) || [];
  view.replaceChildren(el("h2", { id: "nodule-title" }, uid),
    el("div", { class: "row" },
      table(facts, ["field", "value"], null, { id: "nodule-facts" }),
      el("figure", { class: "slice-figure" },
        el("div", { class: "controls" }, sourceToggle, el("label", { for: "slice-overlay" }, "overlay ", overlay), windowControls),
        note, image, caption, legend)),
    ...(locationNote ? [locationNote] : []),
    el("h3", {}, "Similar nodules"),
    el("fieldset", { class: "toggle", id: "similar-space" }, el("legend", {}, "similar by"),
      radios("similar-space", SPACES.map((s) => ({ value: s.space, label: s.label, title: s.title })), "features", updateSimilar)),
    similarNote, similarBox,
    el("h3", {}, "Map neighbours"),
    el("p", { class: "note", id: "why-different" }, WHY_DIFFERENT),
    el("p", { id: "nodule-neighbours" }, neighbours.flatMap((u, i) => [i ? ", " : "", noduleLink(u)]), " ",
      el("a", { href: `#/map?nodule=${encodeURIComponent(uid)}` }, "(show on the map)")));
  await Promise.all([updateSlice(), updateSimilar("features")]);
}
