/* The storefront page: chat, recommendations, product facts, forecast chart and suggested price. */
"use strict";

(function () {
  const { callApi, el, errorBox, facts, formError, formValues, show, table, wholeNumber } = window.shopmesh;

  function percent(value) {
    return (100 * value).toFixed(1) + " %";
  }

  function pounds(value) {
    return value === null || value === undefined ? "—" : "£" + Number(value).toFixed(2);
  }

  /** Where each claim sits in the reply: its span when that matches its text, else its first occurrence. */
  function claimRanges(reply, claims, supported) {
    const ranges = [];
    for (const claim of claims) {
      let [start, end] = claim.span || [-1, -1];
      if (reply.slice(start, end) !== claim.text) {
        start = reply.indexOf(claim.text);
        end = start + claim.text.length;
      }
      if (start >= 0 && claim.text) ranges.push({ start, end, claim, supported });
    }
    return ranges.sort((a, b) => a.start - b.start);
  }

  /** The reply with the graph facts it used marked, and any claim the graph refused marked differently. */
  function highlightedReply(reply, grounding, testId) {
    const ranges = [
      ...claimRanges(reply, grounding.supported || [], true),
      ...claimRanges(reply, grounding.unsupported || [], false),
    ].sort((a, b) => a.start - b.start);
    const paragraph = el("p", { class: "reply", "data-testid": testId || "reply" });
    let at = 0;
    for (const range of ranges) {
      if (range.start < at) continue; // overlapping claims: the first one wins
      paragraph.append(reply.slice(at, range.start));
      const label = (range.supported ? "graph fact (" : "not supported (") + range.claim.kind + "): " + range.claim.reason;
      paragraph.append(
        el("mark", { class: range.supported ? "fact" : "refused", title: label, "data-kind": range.claim.kind }, [
          reply.slice(range.start, range.end),
          el("span", { class: "visually-hidden", text: " [" + label + "]" }),
        ]),
      );
      at = range.end;
    }
    paragraph.append(reply.slice(at));
    return paragraph;
  }

  function membersTable(caption, members) {
    return table(
      caption,
      ["member", "weight", "latency", "error"],
      members.map((m) => [m.name, m.weight.toFixed(2), m.latency_ms.toFixed(1) + " ms", m.error || ""]),
    );
  }

  /**
   * The generated reply the verifier refused, when there was one: the reply member's filled text and the
   * verifier's claims on it (the final reply is then the fallback).
   */
  function refusedDraft(body) {
    const check = body.members.find((m) => m.name === "verifier" && m.output.checked === "reply" && m.output.grounded === false);
    const generated = body.members.find((m) => m.name === "reply" && typeof m.output.filled === "string");
    if (!check || !generated) return null;
    const claims = check.output.claims || [];
    return {
      text: generated.output.filled,
      grounding: { supported: claims.filter((c) => c.supported), unsupported: claims.filter((c) => !c.supported) },
    };
  }

  function renderChat(body) {
    const grounding = body.grounding;
    const verdict = !grounding.checked
      ? "not checked"
      : grounding.grounded
        ? "every claim supported by the graph"
        : "claims the graph does not support";
    const parts = [
      facts([
        ["Intent", body.intent],
        ["Confidence", percent(body.confidence)],
        ["Out of scope", body.out_of_scope ? "yes" : "no"],
        ["Mode", body.mode],
        ["Intent version", body.version],
        ["Grounding", verdict],
      ]),
      el("h3", { text: "Reply" }),
      highlightedReply(body.reply, grounding),
    ];
    if (body.fallback) {
      parts.push(
        el("div", { class: "notice", "data-testid": "fallback" }, [
          el("strong", { text: "Fallback reply. " }),
          "Reason: " + body.fallback_reason,
        ]),
      );
    }
    const draft = refusedDraft(body);
    if (draft) {
      parts.push(el("h3", { text: "Generated reply, refused by the graph" }), highlightedReply(draft.text, draft.grounding, "refused-reply"));
    }
    const refused = [...(grounding.unsupported || []), ...(draft ? draft.grounding.unsupported : [])];
    if (refused.length > 0) {
      parts.push(
        el("h3", { text: "Claims the graph refused" }),
        el("ul", { "data-testid": "refused" }, refused.map((c) => el("li", { text: c.text + " — " + c.reason }))),
      );
    }
    if ((grounding.supported || []).length > 0) {
      parts.push(
        el("h3", { text: "Graph facts used" }),
        el("ul", { "data-testid": "supported" }, grounding.supported.map((c) => el("li", { text: c.kind + " " + c.text + " — " + c.reason }))),
      );
    }
    if (body.products.length > 0) {
      parts.push(
        el("h3", { text: "Products in the message" }),
        el("ul", {}, body.products.map((p) => el("li", { text: p.stock_code + " " + p.description + " (" + pounds(p.price_median) + ")" }))),
      );
    }
    if (body.degraded.length > 0) {
      parts.push(el("div", { class: "error", role: "alert" }, [el("strong", { text: "Degraded: " }), body.degraded.join("; ")]));
    }
    parts.push(membersTable("Members that ran", body.members));
    return parts;
  }

  async function sendChat(event) {
    event.preventDefault();
    const form = event.target;
    const out = document.getElementById("chat-result");
    const values = formValues(form);
    const customer = wholeNumber(values, "customer_id", "Customer id");
    if (!values.text) return show(out, formError("write a message first"));
    if (customer.error) return show(out, formError(customer.error));
    const request = { text: values.text, mode: values.mode };
    if (customer.value !== null) request.customer_id = customer.value;
    if (values.order_id) request.order_id = values.order_id;
    show(out, el("p", { class: "muted", text: "Asking the cluster…" }));
    const answer = await callApi("POST", "/v1/chat", request);
    show(out, ...(answer.ok ? renderChat(answer.body) : [errorBox(answer.status, answer.body)]));
  }

  function itemList(items) {
    return el(
      "ol",
      { class: "items" },
      items.map((item) =>
        el("li", { "data-stock-code": item.stock_code }, [
          el("button", { type: "button", class: "link", "data-open-product": item.stock_code, text: item.description }),
          " ",
          el("span", { class: "muted", text: item.stock_code + " · score " + item.score.toFixed(3) }),
          el("p", { class: "explanation", text: item.explanation }),
        ]),
      ),
    );
  }

  function renderRecommendations(body) {
    const parts = [facts([["Customer", body.customer_id], ["Mode", body.mode], ["Why", body.reason]])];
    if (body.fallback) {
      parts.push(el("div", { class: "notice", "data-testid": "rec-fallback" }, [
        el("strong", { text: "Fallback: " + body.fallback + ". " }), body.fallback_reason || "",
      ]));
    }
    parts.push(itemList(body.items));
    for (const [member, items] of Object.entries(body.lists || {})) {
      parts.push(el("h3", { text: "From " + member }), itemList(items));
    }
    if (body.mode === "fusion" && Object.keys(body.weights).length > 0) {
      parts.push(el("p", { class: "muted", text: "Fusion weights (" + body.weights_source + "): " +
        Object.entries(body.weights).map(([k, v]) => k + " " + v).join(", ") }));
    }
    parts.push(table(
      "Recommendation members",
      ["member", "status", "reason", "items", "latency"],
      body.members.map((m) => [m.name, m.status, m.reason, String(m.items), m.latency_ms.toFixed(1) + " ms"]),
    ));
    return parts;
  }

  async function sendRecommend(event) {
    event.preventDefault();
    const out = document.getElementById("rec-result");
    const values = formValues(event.target);
    const customer = wholeNumber(values, "customer_id", "Customer id");
    const k = wholeNumber(values, "k", "How many");
    if (customer.error || customer.value === null) return show(out, formError(customer.error || "enter a customer id"));
    if (k.error) return show(out, formError(k.error));
    show(out, el("p", { class: "muted", text: "Asking the cluster…" }));
    const answer = await callApi("POST", "/v1/recommend", { customer_id: customer.value, k: k.value || 5, mode: values.mode });
    show(out, ...(answer.ok ? renderRecommendations(answer.body) : [errorBox(answer.status, answer.body)]));
  }

  function renderProduct(body) {
    return [
      el("h3", { text: body.description }),
      facts([
        ["Stock code", body.stock_code],
        ["Category", body.category],
        ["Price (min / median / max)", [body.price_min, body.price_median, body.price_max].map(pounds).join(" / ")],
        ["Orders", String(body.n_orders)],
        ["Attributes", body.attributes.length ? body.attributes.join(", ") : "none"],
      ]),
      el("h4", { text: "Bought together with" }),
      body.co_purchases.length
        ? el("ul", {}, body.co_purchases.map((c) => el("li", {}, [
          el("button", { type: "button", class: "link", "data-open-product": c.stock_code, text: c.description || c.stock_code }),
          c.weight !== undefined ? " (" + c.weight + " baskets)" : "",
        ])))
        : el("p", { class: "muted", text: "no co-purchases in the graph" }),
    ];
  }

  async function showProduct(code, horizon) {
    const out = document.getElementById("product-result");
    const chart = document.getElementById("forecast-result");
    show(out, el("p", { class: "muted", text: "Looking up " + code + "…" }));
    const answer = await callApi("GET", "/v1/products/" + encodeURIComponent(code));
    show(out, ...(answer.ok ? renderProduct(answer.body) : [errorBox(answer.status, answer.body)]));
    if (!answer.ok) return show(chart, el("p", { class: "muted", text: "No product, no forecast." }));
    const forecast = await callApi("POST", "/v1/forecast", { product: code, horizon: horizon });
    show(chart, ...(forecast.ok ? window.shopmeshChart.renderForecast(forecast.body, []) : [errorBox(forecast.status, forecast.body)]));
  }

  async function sendProduct(event) {
    event.preventDefault();
    const values = formValues(event.target);
    const horizon = wholeNumber(values, "horizon", "Forecast weeks");
    if (!values.stock_code) return show(document.getElementById("product-result"), formError("enter a stock code"));
    if (horizon.error) return show(document.getElementById("product-result"), formError(horizon.error));
    await showProduct(values.stock_code, horizon.value || 8);
  }

  async function sendSeries(event) {
    event.preventDefault();
    const chart = document.getElementById("forecast-result");
    const text = formValues(event.target).series || "";
    const series = text.split(",").map((v) => v.trim()).filter((v) => v !== "").map(Number);
    if (series.length === 0 || series.some((v) => !Number.isFinite(v))) {
      return show(chart, formError("give weekly units as numbers separated by commas (got \"" + text + "\")"));
    }
    const horizonField = wholeNumber(formValues(document.getElementById("product-form")), "horizon", "Forecast weeks");
    const answer = await callApi("POST", "/v1/forecast", { series: series, horizon: horizonField.value || 8 });
    show(chart, ...(answer.ok ? window.shopmeshChart.renderForecast(answer.body, series) : [errorBox(answer.status, answer.body)]));
  }

  function renderPrice(body) {
    const binding = new Set(body.binding_guardrails);
    return [
      el("p", { class: "price", "data-testid": "price" }, [el("strong", { text: pounds(body.price) }), " suggested for store " + body.store + ", brand " + body.brand]),
      facts([
        ["Why", body.reason],
        ["Expected units", body.expected_units.toFixed(1)],
        ["Expected profit", pounds(body.expected_profit)],
        ["Policy", body.policy],
        ["Pricer version", body.version],
        ["Binding guardrails", body.binding_guardrails.length ? body.binding_guardrails.join(", ") : "none"],
      ]),
      table("Guardrails", ["guardrail", "value", "binding"], Object.entries(body.guardrails).map(([name, value]) => [
        name, String(value), binding.has(name) ? "yes" : "",
      ])),
    ];
  }

  async function sendPrice(event) {
    event.preventDefault();
    const out = document.getElementById("price-result");
    const values = formValues(event.target);
    const store = wholeNumber(values, "store", "Store");
    const brand = wholeNumber(values, "brand", "Brand");
    for (const field of [store, brand]) {
      if (field.error || field.value === null) return show(out, formError(field.error || "enter a store and a brand"));
    }
    show(out, el("p", { class: "muted", text: "Asking the pricer…" }));
    const answer = await callApi("POST", "/v1/price", { store: store.value, brand: brand.value });
    show(out, ...(answer.ok ? renderPrice(answer.body) : [errorBox(answer.status, answer.body)]));
  }

  document.getElementById("chat-form").addEventListener("submit", sendChat);
  document.getElementById("rec-form").addEventListener("submit", sendRecommend);
  document.getElementById("product-form").addEventListener("submit", sendProduct);
  document.getElementById("series-form").addEventListener("submit", sendSeries);
  document.getElementById("price-form").addEventListener("submit", sendPrice);
  document.addEventListener("click", (event) => {
    const code = event.target.closest("[data-open-product]")?.getAttribute("data-open-product");
    if (!code) return;
    document.getElementById("product-code").value = code;
    document.getElementById("product-title").scrollIntoView();
    showProduct(code, 8);
  });

  window.shopmeshStorefront = { highlightedReply, renderChat };
})();
