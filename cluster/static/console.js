/* The operator console: each deployment's version and health, latency percentiles from /metrics, the edge
   bundles published for store devices with their rollout, the A/B experiments with their decisions, the
   members' rollouts and the federated runs. */
"use strict";

(function () {
  const { callApi, el, errorBox, histogramSummary, milliseconds, parseMetrics, show, table } = window.shopmesh;

  const QUANTILES = [0.5, 0.9, 0.99];
  const HISTOGRAMS = [
    ["shopmesh_request_latency_seconds", "route", "End to end, by route"],
    ["shopmesh_member_latency_seconds", "member", "Calls to member deployments, by member"],
    ["shopmesh_chain_member_latency_seconds", "member", "Members inside the chat chain"],
  ];

  /** A member's own status fields (all but version and error) as a list. */
  function details(status) {
    const shown = Object.entries(status).filter(([key]) => key !== "version" && key !== "error");
    return el("ul", { class: "details" }, shown.map(([key, value]) =>
      el("li", {}, [key + ": ", value !== null && typeof value === "object" ? el("code", { text: JSON.stringify(value) }) : String(value)])));
  }

  async function loadHealth() {
    const answer = await callApi("GET", "/healthz");
    const ingress = document.querySelectorAll("#deployments tr[data-deployment=ingress] td");
    ingress[1].replaceChildren(answer.ok
      ? el("span", { class: "good", text: "answering" })
      : el("span", { class: "bad", text: "/healthz answered " + answer.status }));
    ingress[2].textContent = answer.ok ? "overall status: " + answer.body.status : "";
    for (const row of document.querySelectorAll("#deployments tbody tr[data-member]")) {
      const member = row.getAttribute("data-member");
      const cells = row.querySelectorAll("td");
      if (!answer.ok) {
        cells[1].replaceChildren(el("span", { class: "bad", text: "no answer from /healthz (" + answer.status + ")" }));
        continue;
      }
      const status = answer.body[member] || { version: null, error: "not reported by /healthz" };
      cells[0].textContent = status.version || "none";
      cells[1].replaceChildren(
        status.version ? el("span", { class: "good", text: "serving" }) : el("span", { class: "bad", text: "no version" }),
      );
      cells[2].replaceChildren(
        ...(status.error ? [el("p", { class: "bad", text: status.error })] : []),
        details(status),
      );
    }
  }

  /** Tables of count and P50/P90/P99 per label value, from the Prometheus text of /metrics. */
  function latencyTables(text) {
    const samples = parseMetrics(text);
    return HISTOGRAMS.map(([family, key, caption]) => {
      const rows = histogramSummary(samples, family, key, QUANTILES);
      const section = el("div", { class: "latency", "data-family": family });
      section.append(el("h3", { text: caption }), el("p", { class: "muted" }, [el("code", { text: family })]));
      if (rows.length === 0) {
        section.append(el("p", { class: "muted", text: "no observations yet" }));
        return section;
      }
      section.append(table("P50, P90 and P99 per " + key, [key, "count", "P50", "P90", "P99"], rows.map((r) => [
        r.label, String(r.count), ...r.quantiles.map(milliseconds),
      ])));
      return section;
    });
  }

  async function loadLatency() {
    const out = document.getElementById("latency");
    const answer = await callApi("GET", "/metrics");
    if (!answer.ok) return show(out, errorBox(answer.status, answer.body));
    show(out, ...latencyTables(String(answer.body)));
  }

  /** The rollout in one sentence, the published bundles and the rollout's recent changes. */
  function edgePanel(catalog) {
    if (catalog.rollout === null) {
      return [el("p", { class: "muted", text: "No bundle is published yet: devices keep what they run." })];
    }
    const r = catalog.rollout;
    const summary = el("p", { class: "rollout" }, [
      el("strong", { text: r.target }), " to " + r.percent + " % of devices; ",
      r.stable ? "the others run " : "the others get no bundle yet",
      ...(r.stable ? [el("strong", { text: r.stable })] : []),
      ".",
    ]);
    const bundles = table("Published bundles, newest first", ["Version", "Published", "Threshold", "Quantization", "Files"],
      catalog.bundles.map((b) => [
        b.version, b.published_at, b.confidence_threshold.toFixed(3), b.quantization,
        String(b.files.length) + " (" + (b.files.reduce((n, f) => n + f.size, 0) / 1048576).toFixed(1) + " MB)",
      ]));
    const history = table("Rollout changes, newest first", ["At", "Target", "Percent", "Stable"],
      catalog.history.map((c) => [c.at, c.target, String(c.percent) + " %", c.stable || "none"]));
    return [summary, bundles, history];
  }

  async function loadEdge() {
    const out = document.getElementById("edge");
    const answer = await callApi("GET", "/v1/edge/bundles");
    if (!answer.ok) return show(out, errorBox(answer.status, answer.body));
    show(out, ...edgePanel(answer.body));
  }

  /** Per member: what serves, the versions put in service and the replicas' answers to the latest rollout. */
  function rolloutsPanel(state) {
    if (state.members.length === 0) {
      return [el("p", { class: "muted", text: "No rollout yet: every member serves the version it started with." })];
    }
    return state.members.map((m) => {
      const section = el("div", { class: "member-rollouts", "data-member": m.member });
      section.append(el("h3", {}, [m.member + " — serving ", el("strong", { text: m.serving || "unknown" })]));
      section.append(table("Versions put in service for " + m.member + ", newest first", ["At", "Action", "Version"],
        m.history.map((h) => [h.at, h.action, h.version])));
      if (m.last_rollout !== null) {
        section.append(table("Replicas' answers to rollout " + m.last_rollout + " (" + m.last_rollout_at + ")",
          ["Replica", "Asked for", "Serving", "Outcome"],
          m.replicas.map((r) => [r.replica, r.wanted, r.serving || "none",
            r.error ? el("span", { class: "bad", text: "kept the old version: " + r.error })
              : el("span", { class: "good", text: "took it" })])));
      }
      return section;
    });
  }

  async function loadRollouts() {
    const out = document.getElementById("rollouts");
    const answer = await callApi("GET", "/v1/rollouts");
    if (!answer.ok) return show(out, errorBox(answer.status, answer.body));
    show(out, ...rolloutsPanel(answer.body));
  }

  function percent(ratio) {
    return ratio === null ? "—" : (100 * ratio).toFixed(2) + " %";
  }

  /** The privacy budget a run spent: the largest epsilon of any merchant at the run's delta (the ledger that
      federation writes into lineage), or that no noise was added. */
  function privacyText(privacy) {
    if (privacy === null) return "no differential-privacy noise";
    const merchants = Object.values(privacy.merchants || {});
    const spent = merchants.map((m) => m.epsilon).filter((e) => typeof e === "number");
    const excluded = merchants.filter((m) => Object.keys(m.excluded || {}).length > 0).length;
    return "epsilon up to " + (spent.length ? Math.max(...spent).toFixed(2) : "—") + " per merchant at delta " +
      Number(privacy.delta).toExponential() + " (" + merchants.length + " merchants" +
      (excluded ? ", " + excluded + " left out of rounds once their budget was spent" : "") + ")";
  }

  /** Per federated version: the run in one sentence and its rounds. */
  function federationPanel(state) {
    if (state.runs.length === 0) {
      return [el("p", { class: "muted", text: "No federated version in the registry yet (shopmesh federate)." })];
    }
    return state.runs.map((run) => {
      const section = el("div", { class: "federated-run", "data-version": run.version });
      const accuracy = run.validation.accuracy;
      section.append(el("h3", { text: run.version + " from " + (run.parent || "no base") }));
      section.append(el("p", { class: "run-summary" }, [
        (run.strategy || "unknown strategy") + ", " + run.rounds + " rounds, " + run.participants + " merchants, " +
        run.num_examples + " examples; validation accuracy " +
        (accuracy === undefined ? "—" : (100 * accuracy).toFixed(1) + " %") + "; a round sent " +
        percent(run.traffic_ratio) + " of a full fine-tune's bytes; privacy: " +
        privacyText(run.privacy) + ".",
      ]));
      section.append(table("Rounds of " + run.version, ["Round", "Merchants", "Failed", "Accuracy", "Train loss", "Bytes"],
        run.per_round.map((r) => [String(r.round), String(r.participants), String(r.failures),
          r.accuracy === null ? "—" : (100 * r.accuracy).toFixed(1) + " %",
          r.train_loss === null ? "—" : r.train_loss.toFixed(4),
          r.bytes_sent === null ? "—" : (r.bytes_sent / 1048576).toFixed(2) + " MB"])));
      return section;
    });
  }

  async function loadFederation() {
    const out = document.getElementById("federation");
    const answer = await callApi("GET", "/v1/federation/runs");
    if (!answer.ok) return show(out, errorBox(answer.status, answer.body));
    show(out, ...federationPanel(answer.body));
  }

  /** A number with a few significant digits, or a dash when the statistic is not defined yet. */
  function num(value) {
    return value === null || value === undefined ? "–" : Number(value).toPrecision(3);
  }

  /** One table row per experiment: its arms with outcomes and rate or mean, the always-valid p-value and the
      decision. */
  function experimentsPanel(list) {
    if (list.experiments.length === 0) {
      return [el("p", { class: "muted", text: "No experiment yet (shopmesh experiment start NAME --target chat --arms serial,fusion)." })];
    }
    const arm = (a) => a.arm + ": " + a.n + " outcomes, " + num(a.mean) + " [" + num(a.ci_low) + ", " + num(a.ci_high) + "]";
    return [table("Experiments, newest first", ["Experiment", "Route", "Status", "Arm A", "Arm B", "Always-valid p", "Decision"],
      list.experiments.map((e) => [
        e.name, e.target, e.status, arm(e.analysis.arms[0]), arm(e.analysis.arms[1]),
        e.analysis.sequential ? num(e.analysis.sequential.p_value) : "–",
        el("strong", { class: "decision", text: e.analysis.decision }),
      ]))];
  }

  async function loadExperiments() {
    const out = document.getElementById("experiments");
    const answer = await callApi("GET", "/v1/experiments");
    if (!answer.ok) return show(out, errorBox(answer.status, answer.body));
    show(out, ...experimentsPanel(answer.body));
  }

  async function refresh() {
    await Promise.all([loadHealth(), loadLatency(), loadEdge(), loadExperiments(), loadRollouts(), loadFederation()]);
    document.getElementById("refreshed").textContent = "updated " + new Date().toLocaleTimeString();
  }

  document.getElementById("refresh").addEventListener("click", refresh);
  refresh();
  window.shopmeshConsole = {
    edgePanel, experimentsPanel, federationPanel, latencyTables, privacyText, refresh, rolloutsPanel,
  };
})();
