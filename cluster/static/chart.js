/* The forecast chart: an inline SVG with the P10–P90 band, the P50 line and the history when there is one. */
"use strict";

(function () {
  const { el, facts, table } = window.shopmesh;
  const SVG = "http://www.w3.org/2000/svg";
  const WIDTH = 640;
  const HEIGHT = 240;
  const PAD = { left: 48, right: 12, top: 12, bottom: 28 };

  function svg(tag, attrs, children) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    for (const child of children || []) node.append(child);
    return node;
  }

  function path(points) {
    return points.map(([x, y], i) => (i === 0 ? "M" : "L") + x.toFixed(1) + " " + y.toFixed(1)).join(" ");
  }

  /** The chart for `steps` ({p10, p50, p90}) after `history` (weekly values, may be empty). */
  function chart(steps, history, title) {
    const total = history.length + steps.length;
    const top = Math.max(1, ...history, ...steps.map((s) => s.p90));
    const x = (i) => PAD.left + ((WIDTH - PAD.left - PAD.right) * i) / Math.max(1, total - 1);
    const y = (v) => HEIGHT - PAD.bottom - ((HEIGHT - PAD.top - PAD.bottom) * Math.max(0, v)) / top;
    const at = (i) => history.length + i;
    const band = [
      ...steps.map((s, i) => [x(at(i)), y(s.p90)]),
      ...steps.map((s, i) => [x(at(i)), y(s.p10)]).reverse(),
    ];
    const parts = [
      svg("title", {}, [title]),
      svg("line", { x1: PAD.left, y1: y(0), x2: WIDTH - PAD.right, y2: y(0), class: "axis" }),
      svg("line", { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: y(0), class: "axis" }),
      svg("text", { x: PAD.left - 6, y: y(top) + 4, "text-anchor": "end", class: "tick" }, [top.toFixed(0)]),
      svg("text", { x: PAD.left - 6, y: y(0) + 4, "text-anchor": "end", class: "tick" }, ["0"]),
      svg("text", { x: WIDTH - PAD.right, y: HEIGHT - 8, "text-anchor": "end", class: "tick" }, ["weeks →"]),
      svg("path", { d: path(band) + " Z", class: "band" }),
      svg("path", { d: path(steps.map((s, i) => [x(at(i)), y(s.p50)])), class: "median" }),
    ];
    if (history.length > 0) {
      const joined = history.map((v, i) => [x(i), y(v)]);
      parts.push(svg("path", { d: path(joined), class: "history" }));
    }
    return svg("svg", {
      viewBox: "0 0 " + WIDTH + " " + HEIGHT, role: "img", "aria-label": title, class: "chart", "data-testid": "forecast-chart",
    }, parts);
  }

  /** Chart, legend, the numbers as a table and the reorder suggestion of one forecast answer. */
  function renderForecast(body, history) {
    const steps = body.weeks || body.steps || [];
    const label = body.stock_code ? "product " + body.stock_code : "the series sent";
    const title = "Forecast of weekly units for " + label + ": P10 to P90 band and P50 line" +
      (history.length ? ", after " + history.length + " weeks of history" : "");
    const parts = [
      el("figure", {}, [
        chart(steps, history, title),
        el("figcaption", {}, [
          el("span", { class: "key band-key", text: "P10–P90" }), " ",
          el("span", { class: "key median-key", text: "P50" }), " ",
          history.length ? el("span", { class: "key history-key", text: "history" }) : null,
          " — " + body.note + (body.version ? " (version " + body.version + ")" : ""),
        ]),
      ]),
      table("Forecast", ["week", "P10", "P50", "P90"], steps.map((s, i) => [
        String(s.week || s.ds || s.step || i + 1), s.p10.toFixed(1), s.p50.toFixed(1), s.p90.toFixed(1),
      ])),
    ];
    if (body.reorder) {
      parts.push(facts(Object.entries(body.reorder).map(([k, v]) => [k.replaceAll("_", " "),
        typeof v === "number" ? v.toFixed(1) : v])));
    }
    return parts;
  }

  window.shopmeshChart = { renderForecast };
})();
