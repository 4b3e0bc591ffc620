/* Project dashboard: draws each figure from the JSON API, with a table beside every chart, and keeps the runs,
   the model's state and the stale-ranking banner current by polling. Display only: every rule lives in Python. */
(function () {
  "use strict";

  const { config, api, pct, when, progressBar } = window.LoupeInsights;
  const { el } = window.Loupe;
  const labelById = new Map(config.labels.map((label) => [String(label.id), label]));
  const POLL_ACTIVE_MS = 1500;
  const POLL_IDLE_MS = 10000;
  const PEOPLE_REFRESH_MS = 60000;
  const STATES = {
    // drawn in this order of importance: queued on top
    queued: { title: "Queued next", color: "#3b5bdb", style: "triangle", radius: 6 },
    novel: { title: "Novel", color: "#d9480f", style: "rectRot", radius: 6 },
    labeled: { title: "Labeled", color: "#2b8a3e", style: "circle", radius: 4 },
    unlabeled: { title: "Unlabeled", color: "#868e96", style: "circle", radius: 2.5 },
  };
  const KIND = { embed: "Train & embed", rank: "Rank", simulate: "Replay" };
  const REASON = {
    import: "after an import",
    request: "asked for",
    labels: "new labels",
    embedding: "new embedding",
    strategy: "strategy change",
  };

  // --- helpers -----------------------------------------------------------------------------------------

  /** " (likely 70.1% to 78.3%)": the projection's range, which never goes below the accuracy measured last. */
  function range(budget) {
    const [low, high] = budget.projected_accuracy_range || [];
    return low === undefined ? "" : ` (likely ${pct(low)} to ${pct(high)})`;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text; // live regions would announce an unchanged text again
  }

  const itemUrl = (id) => config.links.item.replace("/items/0/", `/items/${id}/`);
  const itemName = (item) => item.external_id || `Item #${item.id}`;
  const labelName = (id) => (labelById.get(String(id)) || { name: `#${id}` }).name;

  function table(headers, rows, numeric = []) {
    const head = el("tr", {}, ...headers.map((h, i) => el("th", { scope: "col", className: numeric.includes(i) ? "num" : null, text: h })));
    const body = rows.map((row) =>
      el("tr", {}, ...row.map((cell, i) => {
        const td = el(i === 0 ? "th" : "td", { scope: i === 0 ? "row" : null, className: numeric.includes(i) ? "num" : null });
        td.append(cell instanceof Node ? cell : String(cell ?? "—"));
        return td;
      })),
    );
    return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
  }

  function card(canvasId) {
    return document.getElementById(canvasId).closest(".card");
  }

  /** Draw (or redraw) a chart; with no data, show the card's empty note instead. */
  function draw(canvasId, chartConfig, summary, tableNode) {
    const canvas = document.getElementById(canvasId);
    const box = canvas.closest(".chart-box");
    const empty = card(canvasId).querySelector(".chart-empty");
    const old = Chart.getChart(canvas);
    if (old) old.destroy();
    const hasData = chartConfig !== null;
    box.hidden = !hasData;
    if (empty) empty.hidden = hasData;
    canvas.setAttribute("aria-label", summary);
    const slot = card(canvasId).querySelector(".table-slot");
    if (slot) slot.replaceChildren(tableNode || el("p", { className: "hint", text: "No data yet." }));
    return hasData ? new Chart(canvas, chartConfig) : null;
  }

  function showFailure(canvasId, error) {
    const empty = card(canvasId).querySelector(".chart-empty");
    document.getElementById(canvasId).closest(".chart-box").hidden = true;
    if (empty) {
      empty.hidden = false;
      empty.textContent = `Could not load this figure: ${error.message}`;
    }
  }

  const percentAxis = { max: 1, ticks: { callback: (v) => `${Math.round(v * 100)}%` } };

  // --- model state, budget, banners ----------------------------------------------------------------------

  function renderStatus(status) {
    config.status = status;
    document.getElementById("stale-banner").hidden = !status.stale;
    setText(document.getElementById("stale-reason"), status.stale_reason);
    document.getElementById("stopping-banner").hidden = !status.stopping_rule_met;

    const budget = status.budget;
    const body = document.getElementById("budget-body");
    const projected = el("p", { id: "projected", className: "hint", "data-testid": "projected" });
    if (budget.total) {
      body.replaceChildren(
        el("meter", { id: "budget-meter", min: 0, max: budget.total, value: Math.min(budget.used, budget.total), "aria-labelledby": "budget-title budget-text" }),
        el("p", { id: "budget-text", className: "num", text: `${budget.used} of ${budget.total} labels used, ${budget.left} left` }),
        projected,
      );
      projected.textContent =
        budget.projected_accuracy === null
          ? "The projection at the budget needs three model versions."
          : `Projected accuracy at ${budget.total} labels: ${pct(budget.projected_accuracy)}${range(budget)}`;
    } else {
      body.replaceChildren(el("p", { id: "budget-text", text: `${budget.used} labels so far; no budget is set.` }), projected);
      projected.textContent = "Set a budget to see the accuracy it is projected to buy.";
    }

    const model = status.model_version;
    document.getElementById("model-body").replaceChildren(
      ...(model
        ? [
            el("p", { className: "big num", text: pct(model.cv_accuracy) }),
            el("p", {
              text: `cross-validated accuracy of version ${model.version} (${model.classifier || "classifier"}) on ${model.n_labels} labels; macro-F1 ${pct(model.cv_macro_f1)}`,
            }),
          ]
        : [el("p", { text: "No model yet: it appears once two labels of different classes are in." })]),
    );
    const strategy = status.strategy;
    const mix = Object.entries(strategy.mix).map(([name, weight]) => `${config.strategies[name] || name} ${weight}`);
    document.getElementById("strategy-body").replaceChildren(
      el("strong", { text: config.strategies[strategy.strategy] || strategy.strategy }),
      mix.length ? ` (${mix.join(", ")})` : "",
      `, batches of ${strategy.batch_size}`,
    );
    setText(document.getElementById("labels-since"), `${status.labels_since_ranking} labels since the last ranking`);
    setText(document.getElementById("ranking-phase"), phaseText(status.ranking_phase, strategy.exploration_share));
  }

  // The adaptive strategy's phases (other strategies report none of these, and get no line).
  const PHASES = {
    cold_start: "typical items of clusters without labels (cold start)",
    uncertainty: "the items the model is least sure of, diversified",
  };

  function phaseText(phase, explorationShare) {
    const [name, paused] = (phase || "").split(", ");
    if (!(name in PHASES)) return "";
    // The cold start's novelty share is the data kind's default; the later one is the project's setting.
    const explores = name === "cold_start" || explorationShare > 0;
    if (paused) return `Latest ranking: ${PHASES[name]}; exploration is paused, as the latest novel items found no new class.`;
    return `Latest ranking: ${PHASES[name]}${explores ? ", and a share of novel items" : ""}.`;
  }

  async function loadStatus() {
    renderStatus(await api("learning/"));
  }

  // --- charts -----------------------------------------------------------------------------------------------

  async function loadOverTime() {
    const data = await api("insights/labels-over-time/");
    const daily = data.bucket === "day";
    const format = (start) =>
      daily
        ? new Date(`${start.slice(0, 10)}T00:00:00Z`).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" })
        : new Date(start).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
    const labels = data.series.map((row) => format(row.start));
    let running = 0;
    const cumulative = data.series.map((row) => (running += row.annotations));
    const unit = daily ? "day" : "hour";
    const summary = `Labels over time: ${data.total} labels in the last ${data.series.length} ${unit}s, by ${unit}.`;
    const rows = data.series.map((row, i) => [labels[i], row.annotations, cumulative[i]]);
    draw(
      "labels-over-time",
      data.total === 0
        ? null
        : {
            data: {
              labels,
              datasets: [
                { type: "bar", label: `Labels per ${unit}`, data: data.series.map((row) => row.annotations), backgroundColor: "#5c7cfa", maxBarThickness: 48, yAxisID: "y" },
                { type: "line", label: "Total", data: cumulative, borderColor: "#2b8a3e", backgroundColor: "#2b8a3e", pointRadius: 2, yAxisID: "total" },
              ],
            },
            options: {
              scales: {
                y: { beginAtZero: true, title: { display: true, text: `per ${unit}` } },
                total: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "total" } },
              },
            },
          },
      summary,
      table([daily ? "Day" : "Hour", "Labels", "Total"], rows, [1, 2]),
    );
  }

  async function loadCurve() {
    const versions = await api("learning/model-versions/");
    const budget = config.status.budget;
    const point = (key) => versions.map((v) => ({ x: v.n_labels, y: v[key], version: v.version }));
    const datasets = [
      { label: "Accuracy (cross-validated)", data: point("cv_accuracy"), borderColor: "#3b5bdb", backgroundColor: "#3b5bdb", pointRadius: 4 },
      { label: "Macro-F1 (cross-validated)", data: point("cv_macro_f1"), borderColor: "#e8590c", backgroundColor: "#e8590c", borderDash: [6, 4], pointRadius: 4, pointStyle: "rect" },
    ];
    if (budget.total && budget.projected_accuracy !== null) {
      datasets.push({
        label: `Projected at the budget (${budget.total})`,
        data: [{ x: budget.total, y: budget.projected_accuracy }],
        showLine: false,
        pointStyle: "star",
        pointRadius: 9,
        borderColor: "#2b8a3e",
        backgroundColor: "#2b8a3e",
      });
    }
    const last = versions[versions.length - 1];
    const summary = last
      ? `Learning curve: ${versions.length} model versions; version ${last.version} has ${pct(last.cv_accuracy)} accuracy and ${pct(last.cv_macro_f1)} macro-F1 at ${last.n_labels} labels.`
      : "Learning curve: no model version yet.";
    draw(
      "learning-curve",
      versions.length
        ? {
            type: "line",
            data: { datasets },
            options: {
              scales: { x: { type: "linear", title: { display: true, text: "labels" } }, y: percentAxis },
              plugins: { tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${pct(ctx.parsed.y)} at ${ctx.parsed.x} labels` } } },
            },
          }
        : null,
      summary,
      table(
        ["Version", "Labels", "Accuracy", "Macro-F1", "Classifier"],
        versions.map((v) => [`v${v.version}`, v.n_labels, pct(v.cv_accuracy), pct(v.cv_macro_f1), v.classifier]),
        [1, 2, 3],
      ),
    );
  }

  async function loadProgress() {
    const progress = await api("progress/");
    const byLabel = progress.by_label;
    const total = byLabel.reduce((sum, row) => sum + row.annotations, 0);
    draw(
      "class-balance",
      total
        ? {
            type: "bar",
            data: {
              labels: byLabel.map((row) => row.name),
              datasets: [{
                label: "Labels",
                data: byLabel.map((row) => row.annotations),
                backgroundColor: byLabel.map((row) => (labelById.get(String(row.label_id)) || {}).color || "#5c7cfa"),
              }],
            },
            options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true } } },
          }
        : null,
      `Class balance: ${byLabel.map((row) => `${row.name} ${row.annotations}`).join(", ")}.`,
      table(["Label", "Labels", "Share"], byLabel.map((row) => [row.name, row.annotations, total ? pct(row.annotations / total) : "—"]), [1, 2]),
    );

    const people = progress.by_annotator;
    const median = progress.median_time_per_item_ms;
    document.getElementById("throughput-summary").textContent =
      `${progress.labels_last_hour} labels in the last hour` + (median ? `; median ${(median / 1000).toFixed(1)} s per item.` : ".");
    draw(
      "throughput",
      people.length
        ? {
            type: "bar",
            data: {
              labels: people.map((p) => p.username),
              datasets: [
                { label: "Per hour, last 24 h", data: people.map((p) => p.per_hour_last_day), backgroundColor: "#3b5bdb" },
                { label: "In the last hour", data: people.map((p) => p.last_hour), backgroundColor: "#74c0fc" },
              ],
            },
            options: { indexAxis: "y", scales: { x: { beginAtZero: true, title: { display: true, text: "labels per hour" } } } },
          }
        : null,
      `Annotator throughput: ${people.map((p) => `${p.username} ${p.per_hour_last_day} labels per hour over the last day`).join(", ")}.`,
      table(
        ["Annotator", "Labels", "Last hour", "Per hour, last 24 h"],
        people.map((p) => [p.username, p.annotations, p.last_hour, p.per_hour_last_day]),
        [1, 2, 3],
      ),
    );
  }

  async function loadAgreement() {
    const agreement = await api("agreement/");
    const entries = Object.entries(agreement.per_label_alpha);
    const summary = document.getElementById("agreement-summary");
    summary.textContent = agreement.items
      ? `Krippendorff's alpha ${agreement.alpha ?? "—"} over ${agreement.items} items with two or more answers` +
        (agreement.fleiss_kappa !== null ? `; Fleiss' kappa ${agreement.fleiss_kappa}.` : ".")
      : "";
    const values = entries.map(([, alpha]) => alpha);
    draw(
      "agreement",
      entries.length
        ? {
            type: "bar",
            data: {
              labels: entries.map(([id]) => labelName(id)),
              datasets: [{
                label: "Krippendorff's alpha",
                data: values,
                backgroundColor: entries.map(([id]) => (labelById.get(String(id)) || {}).color || "#5c7cfa"),
              }],
            },
            options: {
              indexAxis: "y",
              plugins: { legend: { display: false } },
              scales: { x: { min: Math.min(0, ...values.map((v) => v ?? 0)), max: 1, title: { display: true, text: "alpha (1 = full agreement)" } } },
            },
          }
        : null,
      `Agreement per label: ${entries.map(([id, alpha]) => `${labelName(id)} ${alpha ?? "—"}`).join(", ") || "none yet"}.`,
      table(["Label", "Alpha"], entries.map(([id, alpha]) => [labelName(id), alpha ?? "—"]), [1]),
    );
  }

  // --- the map ----------------------------------------------------------------------------------------------

  const map = { order: [], position: -1, shown: null, cache: new Map() };

  async function loadMap() {
    const data = await api("learning/map/");
    const names = Object.keys(STATES);
    const groups = Object.fromEntries(names.map((name) => [name, []]));
    for (const p of data.points) groups[p.state].push({ x: p.x, y: p.y, id: p.item_id });
    const datasets = names.map((name, order) => ({
      label: STATES[name].title,
      data: groups[name],
      state: name,
      order,
      backgroundColor: STATES[name].color,
      borderColor: STATES[name].color,
      pointStyle: STATES[name].style,
      pointRadius: STATES[name].radius,
      pointHoverRadius: STATES[name].radius + 3,
    }));
    map.order = datasets.flatMap((dataset, datasetIndex) => dataset.data.map((_, index) => ({ datasetIndex, index })));
    map.position = -1;
    const counts = names.map((name) => `${groups[name].length} ${STATES[name].title.toLowerCase()}`);
    const shownNote = data.total > data.points.length ? ` (${data.points.length} of ${data.total} shown)` : "";
    draw(
      "embedding-map",
      data.points.length
        ? {
            type: "scatter",
            data: { datasets },
            options: {
              scales: { x: { display: false }, y: { display: false } },
              plugins: {
                legend: { position: "bottom" },
                tooltip: { callbacks: { label: (ctx) => `Item #${ctx.raw.id}: ${ctx.dataset.label.toLowerCase()}` } },
              },
              onHover: (event, elements, chart) => {
                if (elements.length) showPoint(chart, elements[0].datasetIndex, elements[0].index);
              },
              onClick: (event, elements, chart) => {
                if (elements.length) window.location.href = itemUrl(chart.data.datasets[elements[0].datasetIndex].data[elements[0].index].id);
              },
            },
          }
        : null,
      `Map of the data: ${data.total} items${shownNote}: ${counts.join(", ")}.`,
      table(["State", "Items on the map"], names.map((name) => [STATES[name].title, groups[name].length]), [1]),
    );
  }

  function showPoint(chart, datasetIndex, index) {
    const point = chart.data.datasets[datasetIndex].data[index];
    const state = chart.data.datasets[datasetIndex].label;
    if (map.shown === point.id) return;
    map.shown = point.id;
    preview(point.id, state);
  }

  async function preview(id, state) {
    const box = document.getElementById("map-preview");
    box.replaceChildren(el("p", { className: "hint", text: `Loading item #${id}…` }));
    let item = map.cache.get(id);
    if (!item) {
      try {
        item = await api(`items/${id}/`);
      } catch (error) {
        if (map.shown === id) box.replaceChildren(el("p", { className: "form-message error", text: error.message }));
        return;
      }
      map.cache.set(id, item);
    }
    if (map.shown !== id) return; // the pointer moved on while this one loaded
    const facts = el("dl", {}, el("dt", { text: "State" }), el("dd", { text: state }));
    const suggestion = item.insight && item.insight.suggestion;
    if (suggestion && suggestion.label_ids.length) {
      facts.append(
        el("dt", { text: "Model says" }),
        el("dd", { text: `${suggestion.label_ids.map(labelName).join(", ")} (${pct(suggestion.confidence, 0)})` }),
      );
    }
    const parts = [el("h3", { className: "preview-title", text: itemName(item) }), facts];
    if (item.thumbnail_url || item.image_url) {
      parts.push(el("img", { src: item.thumbnail_url || item.image_url, alt: `Image of ${itemName(item)}` }));
    } else {
      const record = el("dl", { "data-testid": "preview-record" });
      for (const [key, value] of Object.entries(item.data).slice(0, 14)) {
        record.append(el("dt", { text: key }), el("dd", { text: value === null ? "—" : String(value) }));
      }
      parts.push(record);
    }
    parts.push(el("p", {}, el("a", { href: itemUrl(id), text: "Open item" })));
    box.replaceChildren(...parts);
  }

  function mapKeys(event) {
    const chart = Chart.getChart("embedding-map");
    if (!chart || !map.order.length) return;
    const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (event.key in moves) {
      map.position = (map.position + moves[event.key] + map.order.length) % map.order.length;
    } else if (event.key === "Home" || event.key === "End") {
      map.position = event.key === "Home" ? 0 : map.order.length - 1;
    } else if (event.key === "Enter" && map.position >= 0) {
      const { datasetIndex, index } = map.order[map.position];
      window.location.href = itemUrl(chart.data.datasets[datasetIndex].data[index].id);
      return;
    } else {
      return;
    }
    event.preventDefault();
    const active = [map.order[map.position]];
    const element = chart.getDatasetMeta(active[0].datasetIndex).data[active[0].index];
    chart.setActiveElements(active);
    chart.tooltip.setActiveElements(active, { x: element.x, y: element.y });
    chart.update();
    showPoint(chart, active[0].datasetIndex, active[0].index);
  }

  // --- runs ---------------------------------------------------------------------------------------------------

  const seen = new Map(); // run id -> status at the last poll

  function runProgress(run) {
    return progressBar(run.status, run.status === "done" ? 1 : run.progress, `Run ${run.id}`);
  }

  function renderRuns(runs) {
    const box = document.getElementById("runs");
    if (!runs.length) {
      box.replaceChildren(el("p", { className: "hint", text: "No training run yet." }));
      return;
    }
    const rows = runs.map((run) => {
      const tr = el(
        "tr",
        { "data-testid": "run-row", "data-run-id": run.id, "data-status": run.status },
        el("th", { scope: "row", text: `#${run.id} ${KIND[run.kind] || run.kind}` }),
        el("td", { text: REASON[run.reason] || run.reason }),
        el("td", {}, el("span", { className: `status-pill ${run.status}`, text: run.status })),
        el("td", {}, runProgress(run)),
        el("td", { text: run.status === "failed" ? run.failure : run.message }),
        el("td", { className: "num", text: run.kind === "embed" ? `${run.n_items} items` : `${run.n_labels} labels` }),
        el("td", { text: when(run.created_at) }),
      );
      return tr;
    });
    const head = ["Run", "Why", "Status", "Progress", "Doing", "Size", "Asked"];
    box.replaceChildren(
      el("table", { className: "runs-table" }, el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))), el("tbody", {}, ...rows)),
    );
  }

  async function pollRuns() {
    let active = false;
    try {
      const page = await api("learning/runs/?limit=8");
      const runs = page.results;
      renderRuns(runs);
      active = runs.some((run) => run.status === "queued" || run.status === "running");
      // A run that finished since the last poll (or came and went between two polls) brings new figures.
      const finished = runs.some((run) => (run.status === "done" || run.status === "failed") && seen.get(run.id) !== run.status);
      for (const run of runs) seen.set(run.id, run.status);
      await loadStatus();
      if (finished && pollRuns.started) refreshModel();
      pollRuns.started = true;
    } catch (error) {
      document.getElementById("runs").replaceChildren(el("p", { className: "form-message error", text: `Could not load the runs: ${error.message}` }));
    }
    window.clearTimeout(pollRuns.timer);
    pollRuns.timer = window.setTimeout(pollRuns, active ? POLL_ACTIVE_MS : POLL_IDLE_MS);
  }

  async function train() {
    const button = document.getElementById("train-btn");
    const message = document.getElementById("train-message");
    button.disabled = true;
    message.className = "form-message";
    message.textContent = "Asking for training…";
    try {
      const run = await api("learning/train/", { method: "POST" });
      message.textContent = `Training run #${run.id} is ${run.status}; its progress shows under Training runs.`;
      await pollRuns();
    } catch (error) {
      message.className = "form-message error";
      message.textContent = error.status === 503 ? `Training could not start: ${error.message}` : error.message;
    } finally {
      button.disabled = false;
    }
  }

  // --- lists --------------------------------------------------------------------------------------------------

  function recordSummary(item) {
    return Object.entries(item.data || {}).slice(0, 4).map(([k, v]) => `${k} ${v}`).join(" · ");
  }

  function itemEntry(item, extra) {
    const picture = item.thumbnail_url || item.image_url
      ? el("img", { src: item.thumbnail_url || item.image_url, alt: "" })
      : null;
    return el(
      "li",
      { "data-testid": "item-entry" },
      picture,
      el("div", { className: "grow" }, el("a", { href: itemUrl(item.id), text: itemName(item) }), picture ? null : el("div", { className: "record-summary", text: recordSummary(item) })),
      extra,
    );
  }

  async function loadNovel() {
    const items = (await api("learning/novel-items/")).slice(0, 10);
    const box = document.getElementById("novel");
    if (!items.length) {
      box.replaceChildren(el("p", { className: "hint", text: "None yet: novel items are found by each ranking." }));
      return;
    }
    box.replaceChildren(
      el("ol", { className: "item-list" }, ...items.map((item) => {
        const novelty = item.insight && item.insight.scores ? item.insight.scores.novelty : null;
        return itemEntry(item, el("span", { className: "num hint", text: novelty === null || novelty === undefined ? "" : `novelty ${novelty.toFixed(2)}` }));
      })),
    );
  }

  async function loadIssues() {
    const page = await api("learning/label-issues/?limit=10");
    const box = document.getElementById("issues");
    if (!page.results.length) {
      box.replaceChildren(el("p", { className: "hint", text: "None found: the model agrees with the labels it can check." }));
      return;
    }
    box.replaceChildren(
      table(
        ["Item", "Labeled", "Model says", "Sure", "Label quality"],
        page.results.map((issue) => [
          el("a", { href: itemUrl(issue.item.id), text: itemName(issue.item) }),
          issue.given_label_ids.map(labelName).join(", "),
          labelName(issue.suggested_label_id),
          pct(issue.confidence, 0),
          issue.quality.toFixed(2),
        ]),
        [3, 4],
      ),
    );
    if (page.count > page.results.length) box.append(el("p", { className: "hint", text: `${page.count - page.results.length} more.` }));
  }

  // --- start ----------------------------------------------------------------------------------------------------

  function guard(name, load, canvasId) {
    return load().catch((error) => {
      if (canvasId) showFailure(canvasId, error);
      else document.getElementById(name).replaceChildren(el("p", { className: "form-message error", text: error.message }));
    });
  }

  function refreshModel() {
    return Promise.all([
      guard("curve", loadCurve, "learning-curve"),
      guard("map", loadMap, "embedding-map"),
      guard("novel", loadNovel),
      config.can_review ? guard("issues", loadIssues) : null,
    ]);
  }

  renderStatus(config.status);
  const canvas = document.getElementById("embedding-map");
  canvas.addEventListener("keydown", mapKeys);
  const trainButton = document.getElementById("train-btn");
  if (trainButton) trainButton.addEventListener("click", train);
  function refreshPeople() {
    return Promise.all([
      guard("over-time", loadOverTime, "labels-over-time"),
      config.can_review ? guard("progress", loadProgress, "class-balance") : null,
      config.can_review ? guard("agreement", loadAgreement, "agreement") : null,
    ]);
  }

  Promise.all([refreshPeople(), refreshModel(), pollRuns()]).then(() =>
    document.querySelector(".insights").setAttribute("data-loaded", "true"),
  );
  window.setInterval(refreshPeople, PEOPLE_REFRESH_MS); // labels arrive without any run to signal them
})();
