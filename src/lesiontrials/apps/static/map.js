// Map page: every nodule as a point (PCA or UMAP of the reinsertion features and LIDC
// characteristics), coloured by a column, filtered like the search; clicking a point shows
// the nodule and its k nearest neighbours, highlighted on the map.

import { filterForm, loadFilters } from "./filters.js";
import { api, el, fmt, noduleLink, nodulePath, pretty, setHashQuery, showError, view } from "./util.js";

const WIDTH = 720, HEIGHT = 540, PAD = 20;
const CATEGORICAL = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
  "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#9edae5"];
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const MISSING = "#b8b8b8";
function viridis(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
  const c = VIRIDIS[i].map((v, k) => Math.round(v + f * (VIRIDIS[i + 1][k] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** The server's colour columns ``{name, label}`` and layout methods ``{name, available,
 *  hint}``; on failure only ``dataset``, with the server's message as a note. */
async function loadColours() {
  try {
    const body = await api("/api/nodules/map/colours", { quiet: true });
    return { colours: body.colours.map((c) => ({ name: c.name, label: c.label || pretty(c.name) })),
      methods: Object.fromEntries((body.methods || []).map((m) => [m.name, m])), default: body.default, note: null };
  } catch (error) {
    return { colours: [{ name: "dataset", label: "dataset" }], methods: {}, note: `colour list unavailable: ${error.message}` };
  }
}

/** How to colour ``values``: a function value → CSS colour, and legend entries. */
function colourScale(values, kind, categories) {
  const present = values.filter((v) => v !== null && v !== undefined && v !== "");
  const numeric = kind ? kind === "numeric" : present.length > 0 && present.every((v) => typeof v === "number");
  if (numeric && present.length) {
    const distinct = [...new Set(present)].sort((a, b) => a - b);
    if (distinct.length <= 7 && distinct.every(Number.isInteger)) {  // ordinal: labels, scores 1–5
      const of = (v) => viridis(distinct.length > 1 ? distinct.indexOf(v) / (distinct.length - 1) : 0.5);
      return { kind: "ordinal", colour: (v) => (v === null || v === undefined ? MISSING : of(v)),
        entries: distinct.map((v) => [String(v), of(v)]) };
    }
    const lo = distinct[0], hi = distinct[distinct.length - 1];
    return { kind: "continuous", lo, hi, colour: (v) => (v === null || v === undefined ? MISSING : viridis((v - lo) / (hi - lo || 1))) };
  }
  const counts = new Map();
  for (const v of present) counts.set(String(v), (counts.get(String(v)) || 0) + 1);
  const cats = Array.isArray(categories) && categories.length ? categories.map(String)
    : [...counts.keys()].sort((a, b) => counts.get(b) - counts.get(a) || a.localeCompare(b));
  const of = (v) => CATEGORICAL[cats.indexOf(String(v)) % CATEGORICAL.length];
  return { kind: "categorical", colour: (v) => (v === null || v === undefined || v === "" ? MISSING : of(v)),
    entries: cats.slice(0, CATEGORICAL.length).map((c) => [c, of(c)]), more: Math.max(0, cats.length - CATEGORICAL.length) };
}

function swatch(colour) {
  const box = el("span", { class: "swatch" });
  box.style.background = colour;
  return box;
}

function legendOf(scale, hasMissing) {
  const parts = [];
  if (scale.kind === "continuous") {
    const bar = el("canvas", { width: 160, height: 12, class: "ramp" });
    const ctx = bar.getContext("2d");
    for (let i = 0; i < 160; i++) { ctx.fillStyle = viridis(i / 159); ctx.fillRect(i, 0, 1, 12); }
    parts.push(el("span", {}, fmt(scale.lo), " ", bar, " ", fmt(scale.hi)));
  } else {
    parts.push(...scale.entries.map(([name, colour]) => el("span", {}, swatch(colour), pretty(name))));
    if (scale.more) parts.push(el("span", {}, `+${scale.more} more`));
  }
  if (hasMissing) parts.push(el("span", {}, swatch(MISSING), "missing"));
  return parts;
}

export async function pageMap(params) {
  const [filterSpec, colours] = await Promise.all([loadFilters(), loadColours()]);
  const names = colours.colours.map((c) => c.name);
  const wanted = params.get("colour");
  const state = {
    method: params.get("method") === "umap" ? "umap" : "pca",
    colour: names.includes(wanted) ? wanted : (names.includes(colours.default) ? colours.default
      : (names.includes("dataset") ? "dataset" : names[0])),
    chosen: params.get("nodule"), neighbours: [], data: null,
  };
  const methods = ["pca", "umap"].map((m) => {
    const known = colours.methods[m];
    const missing = Boolean(known && known.available === false);
    // a layout the server has not stored cannot be shown: disabled, with how to get it
    return el("label", { class: "option", for: `map-method-${m}`, title: missing ? (known.hint || "not computed for this index") : "" },
      el("input", { type: "radio", name: "map-method", value: m, id: `map-method-${m}`, checked: state.method === m,
        disabled: missing,
        on: { change: () => { state.method = m; reload(); } } }), ` ${m.toUpperCase()}`,
      missing ? el("span", { class: "count" }, " (unavailable)") : null);
  });
  const colourSelect = el("select", { id: "map-colour", on: { change: () => { state.colour = colourSelect.value; reload(); } } },
    colours.colours.map((c) => el("option", { value: c.name, selected: c.name === state.colour }, c.label)));
  const others = el("select", { id: "map-others", on: { change: () => draw() } },
    el("option", { value: "dim" }, "dimmed"), el("option", { value: "hide" }, "hidden"));
  const edges = el("input", { type: "checkbox", id: "map-edges", on: { change: () => draw() } });
  const canvas = el("canvas", { id: "map-canvas", width: WIDTH, height: HEIGHT });
  const legend = el("div", { class: "legend", id: "map-legend" });
  const info = el("p", { id: "map-info", class: "summary" });
  const message = el("p", { id: "map-msg", class: "note", hidden: true });
  const hover = el("p", { id: "map-hover", class: "note" }, "hover a point for its uid; click it for its neighbours");
  const panel = el("div", { id: "map-selected", class: "panel" }, el("p", { class: "note" }, "click a point"));
  const filters = filterForm(filterSpec, params, { id: "map-form", onSubmit: () => reload(), submitLabel: "Apply to map" });
  view.replaceChildren(el("h2", {}, "Nodule map"),
    el("div", { class: "with-sidebar" },
      el("aside", { class: "sidebar" },
        el("div", { class: "map-controls" },
          el("fieldset", { id: "map-method" }, el("legend", {}, "method"), methods),
          el("label", { for: "map-colour" }, "colour by ", colourSelect),
          el("label", { for: "map-others" }, "points outside the filters ", others),
          el("label", { for: "map-edges", class: "option" }, edges, " k-NN edges"),
          colours.note ? el("p", { class: "note" }, colours.note) : null),
        el("h3", {}, "Filters"), filters.form),
      el("section", { class: "content" }, info, message,
        el("div", { class: "row" }, el("div", {}, canvas, legend, hover), panel))));

  let project = null;  // data coordinates → canvas pixels, fixed per data set
  const visible = (i) => others.value !== "hide" || state.data.selected[i];

  function draw() {
    const data = state.data;
    if (!data) return;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, WIDTH, HEIGHT);
    const n = data.x.length;
    const xy = (i) => project(data.x[i], data.y[i]);
    if (edges.checked && data.edges) {  // edges among the selection stand out
      for (const kept of [false, true]) {
        ctx.strokeStyle = kept ? "rgba(0,0,0,0.16)" : "rgba(0,0,0,0.04)";
        ctx.lineWidth = 1;
        ctx.beginPath();
        for (const [a, b] of data.edges) {
          if ((data.selected[a] && data.selected[b]) !== kept || !visible(a) || !visible(b)) continue;
          const [ax, ay] = xy(a), [bx, by] = xy(b);
          ctx.moveTo(ax, ay); ctx.lineTo(bx, by);
        }
        ctx.stroke();
      }
    }
    const dot = (i, radius) => { const [x, y] = xy(i); ctx.beginPath(); ctx.arc(x, y, radius, 0, 2 * Math.PI); ctx.fill(); };
    if (others.value === "dim") {
      ctx.fillStyle = "rgba(120,120,120,0.35)";  // outside the filters: small and grey
      for (let i = 0; i < n; i++) if (!data.selected[i]) dot(i, 2.5);
    }
    for (let i = 0; i < n; i++) if (data.selected[i]) { ctx.fillStyle = state.scale.colour(data.values[i]); dot(i, 3.5); }
    const chosen = state.index.get(state.chosen);
    if (chosen !== undefined) {
      const [cx, cy] = xy(chosen);
      ctx.strokeStyle = "#ff6a00";
      ctx.lineWidth = 1.5;
      for (const i of state.neighbours) {
        const [nx, ny] = xy(i);
        ctx.beginPath(); ctx.moveTo(cx, cy); ctx.lineTo(nx, ny); ctx.stroke();
        ctx.beginPath(); ctx.arc(nx, ny, 6, 0, 2 * Math.PI); ctx.stroke();
      }
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 2.5;
      ctx.beginPath(); ctx.arc(cx, cy, 8, 0, 2 * Math.PI); ctx.stroke();
    }
  }

  function nearest(event, radius) {
    if (!state.data) return -1;
    const rect = canvas.getBoundingClientRect();
    const mx = (event.clientX - rect.left) * (WIDTH / rect.width), my = (event.clientY - rect.top) * (HEIGHT / rect.height);
    let best = -1, bestD = radius * radius;
    for (let i = 0; i < state.data.x.length; i++) {
      if (!visible(i)) continue;
      const [x, y] = project(state.data.x[i], state.data.y[i]);
      const d = (x - mx) ** 2 + (y - my) ** 2;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  async function choose(uid) {
    state.chosen = uid;
    state.neighbours = [];
    draw();
    updateHash();
    if (!uid) return;
    panel.replaceChildren(el("p", { class: "note" }, `loading ${uid}…`));
    let detail;
    try {
      detail = await api(`/api/nodules/${nodulePath(uid)}`, { quiet: true });
    } catch (error) {
      panel.replaceChildren(el("p", { class: "refused" }, error.message));
      return;
    }
    if (state.chosen !== uid) return;
    const neighbourUids = (detail.map && detail.map.neighbours) || [];
    state.neighbours = neighbourUids.map((u) => state.index.get(u)).filter((i) => i !== undefined);
    const valueOf = (u) => { const i = state.index.get(u); return i === undefined ? "" : fmt(state.data.values[i]); };
    const inFilter = (u) => { const i = state.index.get(u); return i !== undefined && state.data.selected[i]; };
    const facts = ["dataset", "label", "lobe_name", "lung_zone", "nodule_mean_diam_mm", "malignancy", "texture"]
      .map((k) => el("tr", {}, el("th", {}, pretty(k)), el("td", {}, fmt(detail[k] ?? "—"))));
    panel.replaceChildren(
      el("h3", { id: "map-chosen" }, uid),
      el("a", { href: `#/nodule/${nodulePath(uid)}`, id: "map-open" }, "open the nodule page →"),
      el("table", { class: "facts" }, el("tbody", {}, facts)),
      el("h4", {}, `${neighbourUids.length} nearest neighbours (k-NN in feature space)`),
      el("ol", { id: "map-neighbours" }, neighbourUids.map((u) => el("li", { "data-uid": u, class: inFilter(u) ? "" : "outside" },
        noduleLink(u), " ", el("span", { class: "count" }, `${pretty(state.colour)} ${valueOf(u)}`),
        " ", el("button", { type: "button", class: "small", title: "select on the map", on: { click: () => choose(u) } }, "◎")))));
    panel.dataset.uid = uid;
    draw();
  }

  function updateHash() {
    const query = filters.query();
    query.set("method", state.method);
    query.set("colour", state.colour);
    if (state.chosen) query.set("nodule", state.chosen);
    setHashQuery("/map", query);
  }

  async function reload() {
    const query = filters.query();
    query.set("method", state.method);
    query.set("colour", state.colour);
    query.set("edges", "true");
    delete canvas.dataset.ready;
    let data;
    try {
      data = await api(`/api/nodules/map?${query}`, { quiet: true });
    } catch (error) {
      message.textContent = `${state.method.toUpperCase()} map: ${error.message}`;
      message.hidden = false;
      message.classList.add("refused");
      showError(error.message);
      if (state.data) {  // keep showing the last map, and say which one it is
        state.method = state.data.method;
        document.getElementById(`map-method-${state.method}`).checked = true;
        canvas.dataset.ready = "1";
      }
      return;
    }
    message.hidden = true;
    const n = data.uids.length;
    if (data.colour && data.colour !== state.colour && [...colourSelect.options].some((o) => o.value === data.colour)) {
      state.colour = data.colour;  // the server's name for an alias (e.g. lobe_name → lobe)
      colourSelect.value = data.colour;
    }
    state.data = data;
    state.index = new Map(data.uids.map((u, i) => [u, i]));
    state.scale = colourScale(data.values, data.colour_kind, data.categories);
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (let i = 0; i < n; i++) {
      x0 = Math.min(x0, data.x[i]); x1 = Math.max(x1, data.x[i]);
      y0 = Math.min(y0, data.y[i]); y1 = Math.max(y1, data.y[i]);
    }
    project = (x, y) => [PAD + (x - x0) / (x1 - x0 || 1) * (WIDTH - 2 * PAD),
      HEIGHT - PAD - (y - y0) / (y1 - y0 || 1) * (HEIGHT - 2 * PAD)];
    canvas.dataset.bounds = JSON.stringify([x0, x1, y0, y1, PAD]);
    legend.replaceChildren(...legendOf(state.scale, data.values.some((v) => v === null || v === undefined)));
    const chosenCount = data.selected.filter(Boolean).length;
    const method = String(data.method).toUpperCase();
    const variance = Array.isArray(data.explained_variance) && method === "PCA"
      ? `; axes explain ${(100 * data.explained_variance[0]).toFixed(1)}% and ${(100 * data.explained_variance[1]).toFixed(1)}% of the variance` : "";
    const colourLabel = (colours.colours.find((c) => c.name === data.colour) || { label: pretty(data.colour) }).label;
    info.textContent = `${n} nodules, ${chosenCount} match the filters; ${method}${variance}; colour: ${colourLabel}`;
    info.dataset.selected = chosenCount;
    canvas.dataset.method = data.method;
    canvas.dataset.colour = data.colour;
    updateHash();
    draw();
    canvas.dataset.ready = "1";
    if (state.chosen && state.index.has(state.chosen)) await choose(state.chosen);
  }

  canvas.addEventListener("click", (event) => { const i = nearest(event, 12); if (i >= 0) choose(state.data.uids[i]); });
  canvas.addEventListener("mousemove", (event) => {
    const i = nearest(event, 8);
    hover.textContent = i >= 0 ? `${state.data.uids[i]} — ${pretty(state.colour)}: ${fmt(state.data.values[i])}` : "\u00a0";
    canvas.classList.toggle("pointing", i >= 0);
  });
  await reload();
}
