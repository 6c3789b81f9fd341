/* Shared by the pages: building elements, calling the JSON API, reading Prometheus histograms. */
"use strict";

(function () {
  /** An element with attributes and children (strings become text nodes; never parsed as HTML). */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children || []) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** Replace a container's content and return it. */
  function show(container, ...nodes) {
    container.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined));
    return container;
  }

  /** A definition list from [term, value] pairs. */
  function facts(pairs) {
    const list = el("dl", { class: "facts" });
    for (const [term, value] of pairs) {
      list.append(el("dt", { text: term }), el("dd", {}, [value === null || value === undefined ? "—" : value]));
    }
    return list;
  }

  /** A table from a header row and body rows (cells are strings or nodes). */
  function table(caption, headers, rows) {
    const head = el("thead", {}, [el("tr", {}, headers.map((h) => el("th", { scope: "col", text: h })))]);
    const body = el("tbody", {}, rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, [cell])))));
    return el("div", { class: "scroll" }, [el("table", {}, [el("caption", { text: caption }), head, body])]);
  }

  // The API key the user typed in the header's form: kept in this tab's sessionStorage only (gone when the tab
  // closes), sent as `Authorization: Bearer KEY` with every /v1 call. A cluster without keys needs none.
  const KEY_ITEM = "shopmesh.apiKey";

  function apiKey() {
    try {
      return window.sessionStorage.getItem(KEY_ITEM) || "";
    } catch (err) {
      return "";
    }
  }

  /** `headers` with the API key's Authorization header when the user gave a key. */
  function withKey(headers) {
    const key = apiKey();
    return key ? Object.assign({}, headers, { Authorization: "Bearer " + key }) : headers;
  }

  function showKeyState() {
    const state = document.getElementById("api-key-state");
    if (state) state.textContent = apiKey() ? "key set for this tab" : "no key";
  }

  function setUpKeyForm() {
    const form = document.getElementById("api-key-form");
    if (!form) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const input = form.querySelector("input");
      const key = input.value.trim();
      try {
        if (key) window.sessionStorage.setItem(KEY_ITEM, key);
        else window.sessionStorage.removeItem(KEY_ITEM);
      } catch (err) {
        // storage refused (private mode): the key cannot be kept
      }
      input.value = "";
      showKeyState();
    });
    showKeyState();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUpKeyForm);
  else setUpKeyForm();

  /** What an error answer says: the API's `message` (422) or `detail` (400, 401, 403, 404, 413, 503). */
  function errorText(status, body) {
    const hint = status === 401 ? " (enter an API key at the top of the page)" : "";
    if (body && typeof body.message === "string") return body.message + hint;
    if (body && typeof body.detail === "string") return body.detail + hint;
    return "the cluster answered " + status + hint;
  }

  /** A message box for an error answer, read out by screen readers. */
  function errorBox(status, body) {
    return el("div", { class: "error", role: "alert" }, [
      el("strong", { text: status === 503 ? "Not available: " : "Could not answer (" + status + "): " }),
      errorText(status, body),
    ]);
  }

  /** Call the JSON API; resolves to {ok, status, body}; a network failure is status 0. */
  async function callApi(method, path, body) {
    const init = { method: method, headers: withKey({ Accept: "application/json" }) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return { ok: false, status: 0, body: { detail: "the cluster could not be reached (" + err + "); is it running?" } };
    }
    const type = response.headers.get("content-type") || "";
    const parsed = type.includes("json") ? await response.json() : await response.text();
    return { ok: response.ok, status: response.status, body: parsed };
  }

  /** Prometheus text format → [{name, labels, value}] (comments and blank lines skipped). */
  function parseMetrics(text) {
    const samples = [];
    const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
    const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (const raw of text.split("\n")) {
      if (!raw || raw.startsWith("#")) continue;
      const match = line.exec(raw);
      if (!match) continue;
      const labels = {};
      for (const m of (match[2] || "").matchAll(label)) labels[m[1]] = m[2].replace(/\\(.)/g, "$1");
      samples.push({ name: match[1], labels: labels, value: Number(match[3]) });
    }
    return samples;
  }

  /**
   * The `q` quantile of a histogram given as cumulative buckets [{le, count}], interpolated linearly inside
   * the bucket that holds it (Prometheus' histogram_quantile); null when the histogram is empty.
   */
  function histogramQuantile(q, buckets) {
    const sorted = [...buckets].sort((a, b) => a.le - b.le);
    if (sorted.length === 0) return null;
    const total = sorted[sorted.length - 1].count;
    if (!(total > 0)) return null;
    const rank = q * total;
    for (let i = 0; i < sorted.length; i++) {
      if (sorted[i].count < rank) continue;
      if (sorted[i].le === Infinity) return i > 0 ? sorted[i - 1].le : null;
      const lower = i > 0 ? sorted[i - 1].le : 0;
      const below = i > 0 ? sorted[i - 1].count : 0;
      const inside = sorted[i].count - below;
      if (inside <= 0) return sorted[i].le;
      return lower + ((sorted[i].le - lower) * (rank - below)) / inside;
    }
    return sorted[sorted.length - 1].le;
  }

  /**
   * Per label value of one histogram family: its count and the requested percentiles (seconds).
   * `family` is e.g. "shopmesh_member_latency_seconds", `key` the label that splits it ("member", "route").
   */
  function histogramSummary(samples, family, key, quantiles) {
    const groups = new Map();
    for (const s of samples) {
      if (s.name !== family + "_bucket" || !(key in s.labels)) continue;
      const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
      if (!groups.has(s.labels[key])) groups.set(s.labels[key], []);
      groups.get(s.labels[key]).push({ le: le, count: s.value });
    }
    const rows = [];
    for (const [value, buckets] of [...groups.entries()].sort()) {
      const count = Math.max(...buckets.map((b) => b.count));
      rows.push({ label: value, count: count, quantiles: quantiles.map((q) => histogramQuantile(q, buckets)) });
    }
    return rows;
  }

  /** Form fields by name, trimmed; empty fields left out. */
  function formValues(form) {
    const values = {};
    for (const [name, value] of new FormData(form).entries()) {
      const text = String(value).trim();
      if (text !== "") values[name] = text;
    }
    return values;
  }

  /** A whole number from a form field, or an error message naming the field. */
  function wholeNumber(values, name, label) {
    const text = values[name];
    if (text === undefined) return { value: null };
    if (!/^[0-9]+$/.test(text)) return { error: label + " must be a whole number (got \"" + text + "\")" };
    return { value: Number(text) };
  }

  function formError(message) {
    return el("div", { class: "error", role: "alert" }, [el("strong", { text: "Check the form: " }), message]);
  }

  function milliseconds(seconds) {
    return seconds === null ? "—" : (1000 * seconds).toFixed(1) + " ms";
  }

  window.shopmesh = {
    apiKey, callApi, el, errorBox, errorText, facts, formError, formValues, histogramQuantile, histogramSummary,
    milliseconds, parseMetrics, show, table, wholeNumber, withKey,
  };
})();
