// Results page: each report's figures, tables and the full HTML report.

import { api, el, show, table } from "./util.js";

export async function pageResults() {
  const reports = await api("/api/reports");
  const parts = [el("h2", {}, "Results")];
  if (!reports.items.length) parts.push(el("p", { class: "note" }, "no reports in this workspace yet (`lesiontrials analyze`)"));
  const pending = [];
  for (const report of reports.items) {
    const base = `/api/files/reports/${encodeURIComponent(report.name)}`;
    const tableBox = el("div", { id: `table-${report.name}` });
    const chooser = el("select", { id: "report-table" }, report.tables.map((t) => el("option", { value: t.replace(/\.csv$/, "") }, t)));
    async function showTable() {
      const t = await api(`/api/reports/${encodeURIComponent(report.name)}/tables/${encodeURIComponent(chooser.value)}?limit=50`);
      tableBox.replaceChildren(el("p", {}, `${t.total} rows (first 50)`), table(t.items, t.columns));
    }
    chooser.addEventListener("change", showTable);
    parts.push(el("h3", {}, report.name), report.has_html ? el("a", { href: `${base}/report.html`, target: "_blank", rel: "noopener" }, "full HTML report") : null,
      el("div", { class: "row" }, report.figures.map((f) => el("figure", {}, el("img", { src: `${base}/figures/${encodeURIComponent(f)}`, alt: f }), el("figcaption", {}, f)))),
      report.tables.length ? el("div", {}, "table ", chooser) : null, tableBox);
    if (report.tables.length) pending.push(showTable());
  }
  show(...parts);
  await Promise.all(pending);
}
