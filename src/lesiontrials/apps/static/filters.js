// The nodule filter form, generated from GET /api/nodules/filters and shared by the search
// and map pages. Range filters send ``{name}_min`` / ``{name}_max``; choice filters send
// ``name`` once per ticked value.

import { api, el, pretty } from "./util.js";

function asList(body) {
  if (Array.isArray(body)) return body;
  for (const key of ["filters", "items"]) if (body && Array.isArray(body[key])) return body[key];
  return [];
}

function choiceOf(choice) {
  if (choice !== null && typeof choice === "object") {
    const value = choice.value ?? choice.name;
    return { value: String(value), label: String(choice.label ?? value), count: choice.count };
  }
  return { value: String(choice), label: String(choice) };
}

/** The server's filter list; on failure none, with the server's message as a note. */
export async function loadFilters() {
  try {
    return { filters: asList(await api("/api/nodules/filters", { quiet: true })), note: null };
  } catch (error) {
    return { filters: [], note: `no filters: ${error.message}` };
  }
}

const safeId = (text) => String(text).replace(/[^A-Za-z0-9_-]/g, "_");

function choiceField(filter, params) {
  const param = filter.param || filter.name;
  const chosen = new Set(params.getAll(param).flatMap((v) => v.split(",")));
  const title = el("legend", {}, pretty(filter.label || filter.name));
  if (!Array.isArray(filter.choices) || !filter.choices.length) {  // free text, comma separated
    return el("fieldset", { class: "choice" }, title,
      el("input", { name: param, id: `f-${filter.name}`, value: [...chosen].join(","), size: 14,
        placeholder: "any (comma separated)", "data-split": "1" }));
  }
  const single = filter.multiple === false;
  const counts = filter.counts || {};
  const options = filter.choices.map(choiceOf).map((choice) => {
    const id = `f-${filter.name}-${safeId(choice.value)}`;
    const count = choice.count ?? counts[choice.value];
    return el("label", { for: id, class: "option" },
      el("input", { type: single ? "radio" : "checkbox", name: param, value: choice.value, id,
        checked: chosen.has(choice.value) }),
      ` ${pretty(choice.label)}`, count !== undefined ? el("span", { class: "count" }, ` ${count}`) : null);
  });
  if (single) {
    const id = `f-${filter.name}-any`;
    options.unshift(el("label", { for: id, class: "option" },
      el("input", { type: "radio", name: param, value: "", id, checked: !chosen.size }), " any"));
  }
  return el("fieldset", { class: "choice", id: `f-${filter.name}` }, title, el("div", { class: "options" }, options));
}

function rangeField(filter, params) {
  const [low, high] = filter.limits || [filter.min, filter.max];
  const [seenLow, seenHigh] = filter.bounds || [low, high];
  const integer = filter.integer ?? (Number.isInteger(low) && Number.isInteger(high) && high - low <= 10);
  const step = filter.step ?? (integer || filter.characteristic ? 1 : "any");
  const names = { min: filter.min_param || `${filter.name}_min`, max: filter.max_param || `${filter.name}_max` };
  const input = (end, shown) => el("input", {
    type: "number", name: names[end], id: `f-${filter.name}_${end}`, step, min: low, max: high,
    placeholder: typeof shown === "number" ? String(+shown.toFixed(1)) : end,
    value: params.get(names[end]) || "", "aria-label": `${filter.label || filter.name} ${end}`,
  });
  const unit = filter.unit && !filter.characteristic ? ` (${filter.unit})` : "";
  const missing = filter.missing ? `; ${filter.missing} nodules have no value (kept unless a bound is set)` : "";
  const seen = filter.bounds ? `values ${seenLow}–${seenHigh}` : "no values in this index";
  return el("div", { class: "range", title: `${filter.description || seen}${missing}` },
    el("label", { for: `f-${filter.name}_min` }, `${pretty(filter.label || filter.name)}${unit}`),
    input("min", seenLow), el("span", {}, "–"), input("max", seenHigh));
}

function flagField(filter, params) {
  const param = filter.param || filter.name;
  const id = `f-${filter.name}`;
  return el("label", { for: id, class: "option flag" },
    el("input", { type: "checkbox", name: param, value: "true", id, checked: params.get(param) === "true" }),
    ` ${filter.label || pretty(filter.name)}`);
}

/**
 * A filter form. ``onSubmit`` runs on submit and reset; ``query()`` gives the current
 * filters as URLSearchParams.
 */
export function filterForm({ filters, note }, params, { id, onSubmit, submitLabel = "Apply filters" }) {
  const choices = filters.filter((f) => f.kind === "choice");
  const ranges = filters.filter((f) => f.kind === "range" && !f.characteristic);
  const scores = filters.filter((f) => f.kind === "range" && f.characteristic);
  const flags = filters.filter((f) => f.kind === "bool" || f.kind === "flag");
  const form = el("form", { class: "filters", id },
    note ? el("p", { class: "note", id: `${id}-note` }, note) : null,
    choices.map((f) => choiceField(f, params)),
    ranges.length ? el("fieldset", { class: "ranges" }, el("legend", {}, "ranges (min – max)"),
      ranges.map((f) => rangeField(f, params))) : null,
    scores.length ? el("fieldset", { class: "ranges", id: `${id}-scores` },
      el("legend", {}, "LIDC characteristics (reader score)"), scores.map((f) => rangeField(f, params))) : null,
    flags.map((f) => flagField(f, params)),
    el("div", { class: "buttons" },
      el("button", { type: "submit", id: `${id}-go` }, submitLabel),
      el("button", { type: "reset", id: `${id}-reset` }, "Clear")));
  const query = () => {
    const out = new URLSearchParams();
    for (const input of form.querySelectorAll("input")) {
      if ((input.type === "checkbox" || input.type === "radio") && !input.checked) continue;
      const value = input.value.trim();
      if (!value) continue;
      const parts = input.dataset.split ? value.split(",").map((v) => v.trim()).filter(Boolean) : [value];
      for (const part of parts) out.append(input.name, part);
    }
    return out;
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); onSubmit(); });
  form.addEventListener("reset", () => {
    // ``reset`` restores the initial values; clear to "no filter" instead
    setTimeout(() => {
      for (const input of form.querySelectorAll("input")) {
        if (input.type === "checkbox") input.checked = false;
        else if (input.type === "radio") input.checked = input.value === "";
        else input.value = "";
      }
      onSubmit();
    });
  });
  return { form, query };
}
