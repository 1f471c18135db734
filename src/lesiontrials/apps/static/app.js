"use strict";
// lesiontrials web UI: plain JS, no build step, no CDN. Data is inserted with
// textContent only (never innerHTML), so index values cannot inject markup.

const view = document.getElementById("view");

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(...nodes) { view.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined)); }

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.hidden = false;
  setTimeout(() => { box.hidden = true; }, 5000);
}

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) { showError(body.error || response.statusText); throw new Error(body.error); }
  return body;
}

function fmt(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function table(rows, columns, onClick) {
  const head = el("tr", {}, columns.map((c) => el("th", {}, c)));
  const body = rows.map((row) => el("tr", onClick ? { class: "link", on: { click: () => onClick(row) } } : {},
    columns.map((c) => el("td", {}, fmt(row[c])))));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, body));
}

function pager(result, go) {
  const last = result.offset + result.items.length;
  return el("div", { class: "pager" },
    el("button", { id: "prev", on: { click: () => go(Math.max(0, result.offset - result.limit)) } }, "◀ prev"),
    el("span", { id: "page-info" }, `${result.total ? result.offset + 1 : 0}–${last} of ${result.total}`),
    el("button", { id: "next", on: { click: () => { if (last < result.total) go(last); } } }, "next ▶"));
}

function nodulePath(uid) { return uid.split("/").map(encodeURIComponent).join("/"); }

// ---------- search ----------
const FIELDS = ["dataset", "label", "lobe", "zone", "side"];
async function pageSearch(params) {
  const form = el("form", { class: "filters", id: "search-form" },
    FIELDS.map((name) => el("label", {}, name, el("input", { name, id: `f-${name}`, value: params.get(name) || "", size: 10 }))),
    ["diameter_min", "diameter_max", "pleural_min", "pleural_max", "malignancy_min", "malignancy_max"].map((name) =>
      el("label", {}, name, el("input", { name, id: `f-${name}`, type: "number", step: "any", value: params.get(name) || "" }))),
    el("button", { type: "submit", id: "search-go" }, "Search"));
  const facets = el("div", { class: "facets", id: "facets" });
  const results = el("div", { id: "results" });
  view.replaceChildren(el("h2", {}, "Nodule search"), form, facets, results);
  async function run(offset) {
    const query = new URLSearchParams();
    for (const [key, value] of new FormData(form).entries()) {
      if (!value) continue;
      for (const part of String(value).split(",")) query.append(key, part.trim());
    }
    query.set("offset", offset); query.set("limit", 25);
    const result = await api(`/api/nodules?${query}`);
    facets.replaceChildren(...Object.entries(result.facets).map(([name, counts]) =>
      el("div", {}, el("strong", {}, name), el("br"), Object.entries(counts).map(([k, v]) => el("div", {}, `${k}: ${v}`)))));
    const columns = ["nodule_uid", "dataset", "label", "lobe_name", "lung_zone", "nodule_mean_diam_mm", "pleural_distance_mm", "n_nodules_in_patient"];
    query.delete("offset"); query.delete("limit");
    const exportLink = el("a", { id: "export", href: `/api/nodules/export.csv?${query}` }, `export ${result.total} as CSV`);
    results.replaceChildren(exportLink, pager(result, run),
      table(result.items, columns, (row) => { location.hash = `#/nodule/${nodulePath(row.nodule_uid)}`; }));
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); run(0); });
  await run(0);
}

// ---------- nodule detail ----------
async function pageNodule(uid) {
  const detail = await api(`/api/nodules/${nodulePath(uid)}`);
  const similar = await api(`/api/nodules/${nodulePath(uid)}/similar?k=8`);
  const keys = ["dataset", "label", "lobe_name", "lung_side", "lung_zone", "central_peripheral", "nodule_mean_diam_mm",
    "nodule_vol_mm3", "pleural_distance_mm", "airway_distance_mm", "n_nodules_in_patient", "malignancy", "texture",
    "spiculation", "host_available", "mask_available"];
  const rows = keys.map((k) => ({ field: k, value: detail[k] }));
  const image = el("img", { class: "slice", id: "nodule-slice", alt: "slice through the nodule",
    src: `/api/nodules/${nodulePath(uid)}/slice.png?zoom=2` });
  image.addEventListener("error", () => image.replaceWith(el("p", {}, "no label map / mask for this nodule")));
  view.replaceChildren(el("h2", { id: "nodule-title" }, uid),
    el("div", { class: "row" }, table(rows, ["field", "value"]), el("figure", {}, image, el("figcaption", {}, "host label map, nodule outlined"))),
    el("h3", {}, "Similar nodules (donor matcher)"),
    table(similar.items, ["nodule_uid", "lobe_name", "nodule_mean_diam_mm", "match_distance"],
      (row) => { location.hash = `#/nodule/${nodulePath(row.nodule_uid)}`; }),
    el("h3", {}, "Map neighbours"), el("p", {}, detail.map.neighbours.join(", ")));
}

// ---------- map ----------
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
async function pageMap(params) {
  const colour = params.get("colour") || "dataset";
  const select = el("select", { id: "map-colour" }, ["dataset", "label", "lobe_name", "lung_zone", "size_bin",
    "nodule_mean_diam_mm", "malignancy", "texture", "spiculation"].map((c) => el("option", c === colour ? { value: c, selected: "" } : { value: c }, c)));
  select.addEventListener("change", () => { location.hash = `#/map?colour=${select.value}`; });
  const edges = el("input", { type: "checkbox", id: "map-edges" });
  const canvas = el("canvas", { id: "map-canvas", width: 760, height: 560 });
  const legend = el("div", { class: "legend", id: "map-legend" });
  const info = el("p", { id: "map-info" }, "click a point to open the nodule");
  view.replaceChildren(el("h2", {}, "Nodule map (PCA of standardised reinsertion features and LIDC characteristics)"),
    el("div", {}, "colour by ", select, " ", el("label", {}, edges, " k-NN edges")), canvas, legend, info);
  const data = await api(`/api/nodules/map?colour=${colour}&edges=true`);
  const pad = 20, xs = data.x, ys = data.y;
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const px = (x) => pad + (x - x0) / (x1 - x0 || 1) * (canvas.width - 2 * pad);
  const py = (y) => canvas.height - pad - (y - y0) / (y1 - y0 || 1) * (canvas.height - 2 * pad);
  const numeric = data.values.every((v) => v === null || typeof v === "number");
  const finite = data.values.filter((v) => typeof v === "number");
  const [v0, v1] = [Math.min(...finite), Math.max(...finite)];
  const cats = [...new Set(data.values.map(String))].sort();
  const colourOf = (v) => {
    if (v === null) return "#bbbbbb";
    if (numeric) { const t = (v - v0) / (v1 - v0 || 1); return `hsl(${240 - 240 * t}, 80%, 45%)`; }
    return PALETTE[cats.indexOf(String(v)) % PALETTE.length];
  };
  function draw() {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (edges.checked) {
      ctx.strokeStyle = "rgba(0,0,0,0.07)";
      for (const [a, b] of data.edges) { ctx.beginPath(); ctx.moveTo(px(xs[a]), py(ys[a])); ctx.lineTo(px(xs[b]), py(ys[b])); ctx.stroke(); }
    }
    xs.forEach((x, i) => { ctx.fillStyle = colourOf(data.values[i]); ctx.beginPath(); ctx.arc(px(x), py(ys[i]), 3, 0, 2 * Math.PI); ctx.fill(); });
  }
  legend.replaceChildren(...(numeric ? [el("span", {}, `${fmt(v0)} (blue) → ${fmt(v1)} (red)`)]
    : cats.slice(0, 20).map((c) => { const s = el("span", { class: "swatch" }); s.style.background = colourOf(c === "null" ? null : data.values.find((v) => String(v) === c)); return el("span", {}, s, c); })));
  edges.addEventListener("change", draw);
  canvas.addEventListener("click", (event) => {
    const rect = canvas.getBoundingClientRect();
    const cx = event.clientX - rect.left, cy = event.clientY - rect.top;
    let best = -1, bestD = 100;
    xs.forEach((x, i) => { const d = (px(x) - cx) ** 2 + (py(ys[i]) - cy) ** 2; if (d < bestD) { bestD = d; best = i; } });
    if (best >= 0) location.hash = `#/nodule/${nodulePath(data.uids[best])}`;
  });
  draw();
  info.textContent = `${xs.length} nodules; PC1 ${(100 * data.explained_variance[0]).toFixed(1)}%, PC2 ${(100 * data.explained_variance[1]).toFixed(1)}% of variance; UMAP: ${data.umap}`;
}

// ---------- trials and cases ----------
async function pageTrials() {
  const result = await api("/api/trials?limit=200");
  const rows = result.items.map((t) => ({ trial: t.trial, cases: t.audit.cases, nodules: t.audit.nodules,
    prevalence: t.audit.prevalence_achieved, hosts: t.audit.hosts_distinct, donors: t.audit.donors_distinct, on_disk: t.cases_on_disk }));
  view.replaceChildren(el("h2", {}, "Trials"),
    table(rows, ["trial", "cases", "nodules", "prevalence", "hosts", "donors", "on_disk"], (row) => { location.hash = `#/trial/${row.trial}`; }));
}

async function pageTrial(trial) {
  const result = await api(`/api/trials/${encodeURIComponent(trial)}?limit=100`);
  const cases = result.cases.map((c) => ({ case: c }));
  view.replaceChildren(el("h2", {}, `Trial ${trial}`), el("h3", {}, "Plan audit"), el("pre", {}, JSON.stringify(result.plan.audit, null, 1)),
    el("h3", {}, "Cases"), table(cases, ["case"], (row) => { location.hash = `#/case/${trial}/${row.case}`; }),
    el("h3", {}, `Manifest (${result.manifest.total} rows)`),
    table(result.manifest.items, Object.keys(result.manifest.items[0] || {}).slice(0, 10)));
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    if (document.querySelector(`script[src="${src}"]`)) { resolve(); return; }
    const script = el("script", { src });
    script.addEventListener("load", resolve);
    script.addEventListener("error", () => reject(new Error(`could not load ${src}`)));
    document.head.append(script);
  });
}

// 3-D view with the vendored NiiVue bundle (WebGL2), loaded only when asked for.
async function show3d(box, base, withCt) {
  const status = el("p", { id: "viewer3d-status" }, "loading NiiVue…");
  const canvas = el("canvas", { id: "viewer3d", width: 640, height: 480 });
  box.replaceChildren(status, el("div", { class: "canvas3d" }, canvas));
  try {
    await loadScript("/static/vendor/niivue.umd.js");
    const nv = new window.niivue.Niivue({ backColor: [0, 0, 0, 1], show3Dcrosshair: true });
    await nv.attachToCanvas(canvas);
    const volumes = [{ url: `${base}/volume/nodules.nii.gz`, colormap: "red", opacity: 0.9, cal_min: 0.5, cal_max: 1 }];
    if (withCt) volumes.unshift({ url: `${base}/volume/ct.nii.gz`, colormap: "gray", cal_min: -1000, cal_max: 400 });
    else volumes.unshift({ url: `${base}/volume/labels.nii.gz`, colormap: "gray", opacity: 0.6 });
    await nv.loadVolumes(volumes);
    nv.setSliceType(nv.sliceTypeMultiplanar);
    status.textContent = "NiiVue: axial, coronal and sagittal views; click to move the crosshair";
    box.dataset.ready = "1";
  } catch (error) {
    status.textContent = `3-D view unavailable: ${error.message}`;
    box.dataset.ready = "failed";
  }
}

function qcImage(src) {
  const image = el("img", { src, alt: "QC montage", id: "case-qc" });
  const box = el("figure", {}, image, el("figcaption", {}, "insert/render QC"));
  image.addEventListener("error", () => box.remove());
  return box;
}

async function pageCase(trial, name) {
  const info = await api(`/api/cases/${encodeURIComponent(trial)}/${encodeURIComponent(name)}`);
  const depth = info.shape ? info.shape[2] : 1;
  const image = el("img", { class: "slice", id: "case-slice", alt: "axial slice" });
  const z = el("input", { type: "range", id: "case-z", min: 0, max: depth - 1, value: 0 });
  const zLabel = el("span", { id: "case-z-label" });
  const centre = el("input", { type: "number", id: "case-center", value: -600, step: 50 });
  const width = el("input", { type: "number", id: "case-width", value: 1500, step: 50 });
  const overlay = el("select", { id: "case-overlay" }, ["contour", "bbox", "bbox_contour", "plain"].map((o) => el("option", { value: o }, o)));
  const source = el("select", { id: "case-source" }, (info.ct_viewable ? ["ct", "labels"] : ["labels"]).map((o) => el("option", { value: o }, o)));
  let first = true;
  async function update() {
    const q = new URLSearchParams({ source: source.value, overlay: overlay.value, center: centre.value, width: width.value, zoom: 3 });
    if (!first) q.set("z", z.value);
    const response = await fetch(`/api/cases/${encodeURIComponent(trial)}/${encodeURIComponent(name)}/slice.png?${q}`);
    if (!response.ok) { showError((await response.json()).error); return; }
    if (first) { z.value = response.headers.get("X-Slice"); first = false; }
    zLabel.textContent = `z = ${z.value} / ${depth - 1}`;
    const old = image.src;
    const shown = { z: z.value, overlay: overlay.value };
    image.onload = () => { image.dataset.loaded = shown.z; image.dataset.overlay = shown.overlay; };
    image.src = URL.createObjectURL(await response.blob());
    if (old) URL.revokeObjectURL(old);
  }
  for (const control of [z, centre, width, overlay, source]) control.addEventListener("input", update);
  const nodules = (info.insert.nodules || []).map((n) => ({ donor: n.donor_uid, label: n.label, lobe: n.realised && n.realised.lobe,
    diameter_mm: n.realised && n.realised.equivalent_diameter_mm, diameter_error_mm: n.diameter_error_mm }));
  const base = `/api/cases/${encodeURIComponent(trial)}/${encodeURIComponent(name)}`;
  const viewer3d = el("div", { id: "viewer3d-box" });
  viewer3d.append(el("button", { id: "open-3d", on: { click: () => show3d(viewer3d, base, info.ct_viewable) } }, "3-D view (NiiVue)"));
  show(el("h2", { id: "case-title" }, `Case ${trial}/${name}`),
    el("p", {}, `status ${info.insert.status}; render backend ${info.render.backend || "none"}; synthetic ${info.synthetic}`),
    el("div", { class: "row" }, image, el("div", { class: "controls" },
      el("label", {}, "slice ", z, " ", zLabel), el("label", {}, "window centre (HU) ", centre),
      el("label", {}, "window width (HU) ", width), el("label", {}, "overlay ", overlay), el("label", {}, "image ", source))),
    info.has_qc ? qcImage(`/api/files/cases/${encodeURIComponent(trial)}/${encodeURIComponent(name)}/qc.png`) : null,
    viewer3d,
    el("h3", {}, "Inserted nodules (realised)"), table(nodules, ["donor", "label", "lobe", "diameter_mm", "diameter_error_mm"]),
    el("h3", {}, "Render audit"), el("pre", {}, JSON.stringify(info.render.brief || info.render, null, 1)));
  await update();
}

// ---------- results ----------
async function pageResults() {
  const reports = await api("/api/reports");
  const parts = [el("h2", {}, "Results")];
  for (const report of reports.items) {
    const base = `/api/files/reports/${encodeURIComponent(report.name)}`;
    const tableBox = el("div", { id: `table-${report.name}` });
    const chooser = el("select", { id: "report-table" }, report.tables.map((t) => el("option", { value: t.replace(/\.csv$/, "") }, t)));
    async function showTable() {
      const t = await api(`/api/reports/${encodeURIComponent(report.name)}/tables/${chooser.value}?limit=50`);
      tableBox.replaceChildren(el("p", {}, `${t.total} rows (first 50)`), table(t.items, t.columns));
    }
    chooser.addEventListener("change", showTable);
    parts.push(el("h3", {}, report.name), report.has_html ? el("a", { href: `${base}/report.html`, target: "_blank" }, "full HTML report") : null,
      el("div", { class: "row" }, report.figures.map((f) => el("figure", {}, el("img", { src: `${base}/figures/${f}`, alt: f }), el("figcaption", {}, f)))),
      el("div", {}, "table ", chooser), tableBox);
    if (report.tables.length) await showTable();
  }
  show(...parts);
}

// ---------- router ----------
async function route() {
  const [path, query] = (location.hash.slice(1) || "/search").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.id === `nav-${parts[0]}`);
  view.replaceChildren(el("p", {}, "loading…"));
  try {
    if (parts[0] === "map") await pageMap(params);
    else if (parts[0] === "trials") await pageTrials();
    else if (parts[0] === "trial") await pageTrial(parts[1]);
    else if (parts[0] === "case") await pageCase(parts[1], parts[2]);
    else if (parts[0] === "nodule") await pageNodule(parts.slice(1).join("/"));
    else if (parts[0] === "results") await pageResults();
    else await pageSearch(params);
    view.dataset.ready = "1";
  } catch (error) {
    view.replaceChildren(el("p", { class: "failed" }, `could not load: ${error.message}`));
  }
}

window.addEventListener("hashchange", () => { delete view.dataset.ready; route(); });
api("/api/health").then((h) => { document.getElementById("pixels").textContent = h.real_pixels ? "real pixels on" : "real pixels off"; });
route();
