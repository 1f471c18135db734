// Shared helpers for the lesiontrials web UI: DOM building, JSON API calls, tables.
// Data is inserted with textContent only (never innerHTML), so index values cannot
// inject markup; no inline scripts or styles (the app's CSP forbids them).

export const view = document.getElementById("view");

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else if (value === true) node.setAttribute(key, "");
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function show(...nodes) { view.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined)); }

export function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

/** An error carrying the server's JSON ``{"error": ...}`` message and HTTP status. */
export class ApiFailure extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

/** The body of a failed response as the server's message (JSON ``error`` or status text). */
export async function errorOf(response) {
  const body = await response.json().catch(() => null);
  return (body && body.error) || `${response.status} ${response.statusText}`;
}

/** GET/POST JSON; failures throw :class:`ApiFailure`. ``quiet`` skips the error toast. */
export async function api(path, { quiet = false, ...options } = {}) {
  const response = await fetch(path, options);
  if (!response.ok) {
    const message = await errorOf(response);
    if (!quiet) showError(message);
    throw new ApiFailure(message, response.status);
  }
  return response.json();
}

let healthPromise = null;
/** ``/api/health`` once per page load (``{status, real_pixels}``). */
export function health() {
  if (!healthPromise) healthPromise = api("/api/health", { quiet: true }).catch(() => ({ real_pixels: null }));
  return healthPromise;
}

export function fmt(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** Text as a readable label: ``lobe_name`` → ``lobe name``. */
export function pretty(name) { return String(name).replace(/_/g, " "); }

/** A table of ``rows``; ``columns`` are keys, or ``[key, header]`` pairs. */
export function table(rows, columns, onClick, attrs) {
  const headers = columns.map((c) => (Array.isArray(c) ? c[1] : c));
  columns = columns.map((c) => (Array.isArray(c) ? c[0] : c));
  const head = el("tr", {}, headers.map((c) => el("th", {}, c)));
  const body = rows.map((row) => el("tr", onClick ? { class: "link", on: { click: () => onClick(row) } } : {},
    columns.map((c) => el("td", {}, row[c] instanceof Node ? row[c] : fmt(row[c])))));
  return el("table", attrs || {}, el("thead", {}, head), el("tbody", {}, body));
}

export function pager(result, go) {
  const last = result.offset + result.items.length;
  return el("div", { class: "pager" },
    el("button", { type: "button", id: "prev", disabled: result.offset === 0,
      on: { click: () => go(Math.max(0, result.offset - result.limit)) } }, "◀ prev"),
    el("span", { id: "page-info" }, `${result.total ? result.offset + 1 : 0}–${last} of ${result.total}`),
    el("button", { type: "button", id: "next", disabled: last >= result.total,
      on: { click: () => { if (last < result.total) go(last); } } }, "next ▶"));
}

export function nodulePath(uid) { return String(uid).split("/").map(encodeURIComponent).join("/"); }

export function noduleLink(uid) { return el("a", { href: `#/nodule/${nodulePath(uid)}` }, uid); }

/** Replace the hash's query without re-rendering the page (no ``hashchange``). */
export function setHashQuery(path, query) {
  const text = query.toString();
  history.replaceState(null, "", `#${path}${text ? `?${text}` : ""}`);
}

export function loadScript(src) {
  return new Promise((resolve, reject) => {
    const existing = document.querySelector(`script[src="${src}"]`);
    if (existing && existing.dataset.loaded) { resolve(); return; }
    const script = existing || el("script", { src });
    script.addEventListener("load", () => { script.dataset.loaded = "1"; resolve(); });
    script.addEventListener("error", () => reject(new Error(`could not load ${src}`)));
    if (!existing) document.head.append(script);
  });
}

/** Fetch an image endpoint into ``img``; on failure show the server's message in ``note``
 *  and hide the image. Resolves to the response (or null on failure). */
export async function loadImage(img, url, note) {
  const response = await fetch(url);
  if (!response.ok) {
    const message = await errorOf(response);
    img.hidden = true;
    if (note) { note.textContent = message; note.hidden = false; note.classList.add("refused"); }
    img.dataset.failed = "1";
    return null;
  }
  const blob = await response.blob();
  const old = img.src;
  await new Promise((resolve) => {
    img.addEventListener("load", resolve, { once: true });
    img.addEventListener("error", resolve, { once: true });
    img.src = URL.createObjectURL(blob);
  });
  if (old && old.startsWith("blob:")) URL.revokeObjectURL(old);
  img.hidden = false;
  delete img.dataset.failed;
  if (note) { note.hidden = true; note.classList.remove("refused"); }
  return response;
}

/** Download a server file with fetch: a JSON error becomes a visible message instead of
 *  a saved error file. Resolves to the response (null on failure). */
export async function download(url, fallbackName, note) {
  const response = await fetch(url);
  if (!response.ok) {
    const message = await errorOf(response);
    showError(message);
    if (note) { note.textContent = message; note.classList.add("refused"); }
    return null;
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  const name = match ? decodeURIComponent(match[1]) : fallbackName;
  const href = URL.createObjectURL(await response.blob());
  const link = el("a", { href, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
  if (note) { note.textContent = `saved ${name}`; note.classList.remove("refused"); }
  return response;
}

let labelTable = null;
/** Legend entries (colour swatch + name) for a comma-separated list of label ids, with the
 *  colours the server draws label maps in (GET /api/labels, fetched once). */
export async function labelLegend(ids) {
  if (!labelTable) labelTable = await api("/api/labels");
  return String(ids).split(",").filter((id) => id !== "" && id !== "0").map((id) => {
    const entry = labelTable[id] || { name: `label ${id}`, colour: "#888888" };
    const swatch = el("span", { class: "swatch" });
    swatch.style.backgroundColor = entry.colour;  // CSSOM, allowed by the page's style-src
    return el("span", { class: "legend-item", "data-label": id }, swatch, ` ${entry.name}`);
  });
}
