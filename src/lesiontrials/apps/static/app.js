// lesiontrials web UI entry point: a hash router over the pages. Plain ES modules, no build
// step, no CDN; the 3-D viewer's NiiVue bundle is vendored under /static/vendor/.

import { pageCase, pageTrial, pageTrials } from "./cases.js";
import { pageMap } from "./map.js";
import { pageNodule } from "./nodule.js";
import { pageResults } from "./results.js";
import { pageSearch } from "./search.js";
import { el, health, view } from "./util.js";

let routing = 0;

async function route() {
  const ticket = ++routing;
  delete view.dataset.ready;
  const [path, query] = (location.hash.slice(1) || "/search").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const section = { nodule: "search", trial: "trials", case: "trials" }[parts[0]] || parts[0] || "search";
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.id === `nav-${section}`);
  view.replaceChildren(el("p", { class: "note" }, "loading…"));
  try {
    if (parts[0] === "map") await pageMap(params);
    else if (parts[0] === "trials") await pageTrials();
    else if (parts[0] === "trial") await pageTrial(parts[1]);
    else if (parts[0] === "case") await pageCase(parts[1], parts[2]);
    else if (parts[0] === "nodule") await pageNodule(parts.slice(1).join("/"));
    else if (parts[0] === "results") await pageResults();
    else await pageSearch(params);
    if (ticket === routing) view.dataset.ready = "1";
  } catch (error) {
    if (ticket === routing) view.replaceChildren(el("p", { class: "refused" }, `could not load: ${error.message}`));
  }
}

window.addEventListener("hashchange", route);
health().then((h) => {
  const badge = document.getElementById("pixels");
  badge.textContent = h.real_pixels === false ? "real pixels off" : h.real_pixels ? "real pixels on" : "";
  badge.classList.toggle("off", h.real_pixels === false);
});
route();
