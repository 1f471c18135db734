// The API docs page (/docs): Swagger UI from the locally served fastapi-offline files when
// the server has them, else a plain listing of every endpoint drawn from /openapi.json.
// Loaded as a file (no inline script), so it works under the page's Content-Security-Policy.

function plainListing(root, spec) {
  const heading = document.createElement("h2");
  heading.textContent = `${spec.info.title} ${spec.info.version} — ${Object.keys(spec.paths).length} endpoints`;
  const note = document.createElement("p");
  note.className = "note";
  note.textContent = "Plain listing (install the web extra for the interactive Swagger UI).";
  root.append(heading, note);
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const box = document.createElement("section");
      box.className = "endpoint";
      const title = document.createElement("h3");
      title.textContent = `${method.toUpperCase()} ${path}`;
      const summary = document.createElement("p");
      summary.textContent = op.summary || "";
      const description = document.createElement("pre");
      description.textContent = op.description || "";
      box.append(title, summary, description);
      const params = op.parameters || [];
      if (params.length) {
        const list = document.createElement("ul");
        for (const p of params) {
          const item = document.createElement("li");
          item.textContent = `${p.name} (${p.in}${p.required ? ", required" : ""}): ${p.description || ""}`;
          list.append(item);
        }
        box.append(list);
      }
      root.append(box);
    }
  }
}

async function main() {
  const root = document.getElementById("swagger-ui");
  if (window.SwaggerUIBundle) {
    window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", validatorUrl: null, deepLinking: true });
    return;
  }
  const response = await fetch("/openapi.json");
  plainListing(root, await response.json());
}

main();
