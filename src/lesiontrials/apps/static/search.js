// Search page: filters (every LIDC characteristic as a range), facets, results, and
// exports of the current selection.

import { filterForm, loadFilters } from "./filters.js";
import { api, download, el, noduleLink, pager, pretty, setHashQuery, table, view } from "./util.js";

const COLUMNS = [["nodule_uid", "nodule"], "dataset", "label", ["lobe_name", "lobe"], ["lung_zone", "zone"],
  ["nodule_mean_diam_mm", "diameter (mm)"], ["pleural_distance_mm", "pleural (mm)"], ["n_nodules_in_patient", "in scan"],
  "malignancy", "texture", "spiculation"];
const EXPORTS = [
  { format: "csv", label: "CSV", name: "nodules.csv", title: "one row per selected nodule" },
  { format: "manifest", label: "manifest", name: "manifest.csv", title: "a trial manifest of the selection" },
  { format: "spec", label: "spec", name: "spec.yaml", title: "a targeted trial spec drawing donors from the selection" },
];

export async function pageSearch(params) {
  const facets = el("div", { class: "facets", id: "facets" });
  const results = el("div", { id: "results" });
  const count = el("span", { id: "result-count" });
  const exportNote = el("span", { id: "export-msg", class: "note" });
  const filters = filterForm(await loadFilters(), params, { id: "search-form", onSubmit: () => run(0), submitLabel: "Search" });
  const exports = el("div", { class: "exports", id: "exports" }, "Export selection: ",
    EXPORTS.map((e) => el("button", { type: "button", id: `export-${e.format}`, title: e.title,
      on: { click: () => exportAs(e) } }, e.label)),
    exportNote);
  view.replaceChildren(el("h2", {}, "Nodule search"),
    el("div", { class: "with-sidebar" },
      el("aside", { class: "sidebar" }, filters.form),
      el("section", { class: "content" }, el("p", { class: "summary" }, count), exports, facets, results)));

  async function exportAs(kind) {
    // the selection shown (the last search), not unsubmitted edits of the form
    const response = await download(`/api/nodules/export?format=${kind.format}&${shown}`, kind.name, exportNote);
    if (!response) return;
    // what the server says about the export (cases made, rows left out)
    const said = response.headers.get("X-Export-Note");
    const skipped = response.headers.get("X-Export-Skipped");
    if (said) exportNote.textContent += ` — ${said}`;
    else if (skipped && skipped !== "0") exportNote.textContent += ` — ${skipped} selected nodules left out (no mask / no scan of their own)`;
  }

  let shown = filters.query();
  async function run(offset) {
    const query = filters.query();
    shown = filters.query();
    setHashQuery("/search", query);
    query.set("offset", offset);
    query.set("limit", 25);
    const result = await api(`/api/nodules?${query}`);
    count.textContent = `${result.total} nodule${result.total === 1 ? "" : "s"} match`;
    count.dataset.total = result.total;
    facets.replaceChildren(...Object.entries(result.facets || {}).map(([name, counts]) =>
      el("div", { class: "facet" }, el("strong", {}, pretty(name)),
        Object.entries(counts).map(([k, v]) => el("div", {}, `${pretty(k)}: ${v}`)))));
    const rows = result.items.map((row) => ({ ...row, nodule_uid: noduleLink(row.nodule_uid) }));
    results.replaceChildren(pager(result, run), el("div", { class: "scroll" }, table(rows, COLUMNS, null, { id: "results-table" })));
    results.dataset.total = result.total;
  }
  await run(0);
}
