/* The storefront's photo upload: the photo goes to /v1/vision as multipart; the answer shows the product, its
   coarse class, the confidence, the out-of-catalogue flag, similar products with their catalogue text and what
   the knowledge graph holds about the product. */
"use strict";

(function () {
  const { el, errorBox, facts, formError, show, table, withKey } = window.shopmesh;

  function percent(value) {
    return (100 * value).toFixed(1) + " %";
  }

  /** POST the form as multipart/form-data; resolves to {ok, status, body}; a network failure is status 0. */
  async function upload(form) {
    let response;
    try {
      response = await fetch("/v1/vision", { method: "POST", headers: withKey({ Accept: "application/json" }), body: new FormData(form) });
    } catch (err) {
      return { ok: false, status: 0, body: { detail: "the cluster could not be reached (" + err + "); is it running?" } };
    }
    const type = response.headers.get("content-type") || "";
    const body = type.includes("json") ? await response.json() : { detail: await response.text() };
    return { ok: response.ok, status: response.status, body: body };
  }

  function renderGraph(body) {
    if (body.facts.length === 0 && body.related.length === 0) {
      return [el("p", { class: "muted", "data-testid": "photo-no-facts", text: "The knowledge graph holds no facts about this product yet." })];
    }
    const parts = [];
    if (body.facts.length > 0) {
      parts.push(el("h3", { text: "Graph facts" }), facts(body.facts.map((f) => [f.predicate.replaceAll("_", " "), String(f.object)])));
    }
    if (body.related.length > 0) {
      parts.push(
        el("h3", { text: "Goes with it" }),
        el("ul", { "data-testid": "photo-related" }, body.related.map((n) => el("li", { text: n.name + " (" + n.relation.replaceAll("_", " ") + ")" }))),
      );
    }
    return parts;
  }

  function renderVision(body) {
    const product = body.product;
    const parts = [
      el("p", { class: "reply", "data-testid": "photo-product" }, [
        el("strong", { text: product.class_name.replace(/-/g, " ") }),
        " — " + product.coarse_name + ", " + product.department,
      ]),
      facts([
        ["Product", product.class_name],
        ["Coarse class", body.coarse_name + " (" + percent(body.coarse_confidence) + ")"],
        ["Confidence", percent(body.confidence)],
        ["Out of catalogue", body.out_of_catalogue ? "yes — the photo may show a product the shop does not sell" : "no"],
        ["Vision version", body.version],
        ["Latency", body.latency_ms.total.toFixed(1) + " ms"],
      ]),
      el("p", { class: "explanation", text: product.description }),
    ];
    if (body.out_of_catalogue) {
      parts.unshift(el("p", { class: "flag", "data-testid": "photo-ooc", text: "Unsure: out of catalogue" }));
    }
    parts.push(
      table(
        "Similar products",
        ["product", "coarse class", "similarity", "catalogue text"],
        body.similar.map((m) => [m.class_name, m.coarse_name, m.score.toFixed(3), m.description]),
      ),
      ...renderGraph(body),
    );
    return parts;
  }

  function preview(input) {
    const image = document.getElementById("photo-preview");
    const file = input.files && input.files[0];
    if (!file) {
      image.hidden = true;
      return;
    }
    image.src = URL.createObjectURL(file);
    image.alt = "the photo chosen: " + file.name;
    image.hidden = false;
  }

  async function sendPhoto(event) {
    event.preventDefault();
    const form = event.target;
    const out = document.getElementById("photo-result");
    const file = form.elements.image.files[0];
    const k = String(form.elements.top_k.value).trim();
    if (!file) return show(out, formError("choose a photo first"));
    if (!/^[0-9]+$/.test(k)) return show(out, formError("Similar products must be a whole number (got \"" + k + "\")"));
    show(out, el("p", { class: "muted", text: "Looking at the photo…" }));
    const answer = await upload(form);
    show(out, ...(answer.ok ? renderVision(answer.body) : [errorBox(answer.status, answer.body)]));
  }

  const form = document.getElementById("photo-form");
  form.addEventListener("submit", sendPhoto);
  form.elements.image.addEventListener("change", (event) => preview(event.target));
})();
