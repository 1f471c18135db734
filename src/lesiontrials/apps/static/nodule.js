// Nodule page: every index column that matters, an axial slice (label map, or CT when the
// server allows real pixels), similar nodules by features or by image embedding.

import { api, el, health, loadImage, noduleLink, nodulePath, pretty, table, view } from "./util.js";

const FACTS = ["dataset", "label", "lobe_name", "lung_side", "lung_zone", "central_peripheral", "nodule_mean_diam_mm",
  "nodule_vol_mm3", "pleural_distance_mm", "airway_distance_mm", "n_nodules_in_patient", "host_available", "mask_available"];
const CHARACTERISTICS = ["subtlety", "internal_structure", "calcification", "sphericity", "margin", "lobulation",
  "spiculation", "texture", "malignancy"];
const SPACES = [
  { space: "features", label: "features", title: "donor matcher: placement, size and LIDC characteristics" },
  { space: "image", label: "image", title: "image embedding (needs `lesiontrials index embed`)" },
];

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
  let source = "labels";
  const windowControls = el("div", { class: "window", hidden: true },
    el("label", { for: "slice-center" }, "window centre (HU) ", centre), el("label", { for: "slice-width" }, "width ", width));
  async function updateSlice() {
    windowControls.hidden = source !== "ct";
    const q = new URLSearchParams({ source, overlay: overlay.value, zoom: 3 });
    if (source === "ct") { q.set("center", centre.value); q.set("width", width.value); }
    image.dataset.source = "";
    const response = await loadImage(image, `${base}/slice.png?${q}`, note);
    caption.textContent = response ? (source === "ct" ? "host CT, nodule outlined" : "host label map, nodule outlined")
      : `no ${source === "ct" ? "CT" : "label-map"} slice`;
    image.dataset.source = response ? source : "refused";
    note.dataset.source = source;
  }
  const sourceToggle = el("fieldset", { class: "toggle", id: "slice-source" }, el("legend", {}, "image"),
    radios("slice-source", [{ value: "labels", label: "label map" },
      { value: "ct", label: `CT${ctNote}`, title: "the host's real CT; refused under --no-real-pixels" }],
    source, (value) => { source = value; updateSlice(); }));
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
    similarBox.replaceChildren(table(items.map((row) => ({ ...row, nodule_uid: noduleLink(row.nodule_uid) })), columns,
      null, { id: "similar-table" }));
    similarBox.dataset.space = space;
  }

  const facts = [...FACTS, ...CHARACTERISTICS].filter((k) => k in detail).map((k) => ({ field: pretty(k), value: detail[k] ?? "—" }));
  const neighbours = (detail.map && detail.map.neighbours) || [];
  view.replaceChildren(el("h2", { id: "nodule-title" }, uid),
    el("div", { class: "row" },
      table(facts, ["field", "value"], null, { id: "nodule-facts" }),
      el("figure", { class: "slice-figure" },
        el("div", { class: "controls" }, sourceToggle, el("label", { for: "slice-overlay" }, "overlay ", overlay), windowControls),
        note, image, caption)),
    el("h3", {}, "Similar nodules"),
    el("fieldset", { class: "toggle", id: "similar-space" }, el("legend", {}, "similar by"),
      radios("similar-space", SPACES.map((s) => ({ value: s.space, label: s.label, title: s.title })), "features", updateSimilar)),
    similarNote, similarBox,
    el("h3", {}, "Map neighbours"),
    el("p", { id: "nodule-neighbours" }, neighbours.flatMap((u, i) => [i ? ", " : "", noduleLink(u)]), " ",
      el("a", { href: `#/map?nodule=${encodeURIComponent(uid)}` }, "(show on the map)")));
  await Promise.all([updateSlice(), updateSimilar("features")]);
}
