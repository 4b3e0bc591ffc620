/* Strategy & budget page: saves the strategy through the API (PUT), lists its history, shows what the budget is
   projected to buy, and runs a replay of a strategy against random, drawing its learning curves as it finishes.
   Display only: the API checks every value and its messages are shown as they come. */
(function () {
  "use strict";

  const { config, api, pct, when, progressBar } = window.LoupeInsights;
  const { el } = window.Loupe;
  const titles = config.strategies;
  const form = document.getElementById("strategy-form");
  const POLL_MS = 1000;
  const FIELDS = {
    // API error keys -> the input at fault and its name on the page
    strategy: ["input[name=strategy]", "Strategy"],
    mix: ["#mix-fields input", "Mix weights"],
    batch_size: ["#batch-size", "Batch size"],
    budget: ["#budget", "Budget"],
    exploration_share: ["#exploration", "Exploration share"],
    "stopping_rule.threshold": ["#stopping-threshold", "Stopping rule, agreement"],
    "stopping_rule.patience": ["#stopping-patience", "Stopping rule, rankings in a row"],
    non_field_errors: [null, ""],
  };

  const title = (name) => titles[name] || name;
  const numberOrNull = (input) => (input.value.trim() === "" ? null : Number(input.value));

  // --- the form -----------------------------------------------------------------------------------------

  function chosen() {
    const checked = form.querySelector("input[name=strategy]:checked");
    return checked ? checked.value : null;
  }

  function syncForm() {
    document.getElementById("mix-fields").hidden = chosen() !== "mix";
    document.getElementById("stopping-fields").hidden = !document.getElementById("stopping-enabled").checked;
  }

  function spec() {
    const strategy = chosen();
    const mix = {};
    if (strategy === "mix") {
      for (const input of document.querySelectorAll("#mix-fields input")) {
        const weight = numberOrNull(input);
        if (weight !== null && weight !== 0) mix[input.dataset.strategy] = weight;
      }
    }
    const stopping = document.getElementById("stopping-enabled").checked
      ? {
          threshold: numberOrNull(document.getElementById("stopping-threshold")),
          patience: numberOrNull(document.getElementById("stopping-patience")),
        }
      : null;
    return {
      strategy,
      mix,
      batch_size: numberOrNull(document.getElementById("batch-size")),
      budget: numberOrNull(document.getElementById("budget")),
      exploration_share: numberOrNull(document.getElementById("exploration")),
      stopping_rule: stopping,
      random_state: Number(document.getElementById("random-state").value) || 0,
    };
  }

  function clearErrors() {
    document.getElementById("save-errors").replaceChildren();
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }

  function showErrors(error) {
    const box = document.getElementById("save-errors");
    const body = error.body && typeof error.body === "object" && !error.body.detail ? error.body : null;
    if (!body) {
      box.replaceChildren(el("p", { text: error.message }));
      return;
    }
    const items = [];
    for (const [key, messages] of Object.entries(body)) {
      const [selector, name] = FIELDS[key] || [null, key];
      if (selector) for (const input of form.querySelectorAll(selector)) input.setAttribute("aria-invalid", "true");
      for (const message of [].concat(messages)) {
        items.push(el("li", { text: name ? `${name}: ${message.replace(/^Value error, /, "")}` : message.replace(/^Value error, /, "") }));
      }
    }
    box.replaceChildren(el("p", { text: "Not saved:" }), el("ul", {}, ...items));
  }

  async function save(event) {
    event.preventDefault();
    const button = document.getElementById("save-btn");
    const message = document.getElementById("save-message");
    clearErrors();
    button.disabled = true;
    message.textContent = "Saving…";
    try {
      const saved = await api("learning/strategy/", { method: "PUT", body: spec() });
      message.textContent = `Saved as version ${saved.version}. The next ranking uses it.`;
      await Promise.all([loadHistory(), loadStatus()]);
    } catch (error) {
      message.textContent = "";
      showErrors(error);
    } finally {
      button.disabled = false;
    }
  }

  // --- history and projection --------------------------------------------------------------------------

  function describeMix(mix) {
    return Object.entries(mix).map(([name, weight]) => `${title(name)} ${weight}`).join(", ");
  }

  async function loadHistory() {
    const settings = await api("learning/strategy/history/");
    const box = document.getElementById("history");
    if (!settings.length) {
      box.replaceChildren(el("p", { className: "hint", text: "No change yet: the defaults are in force (adaptive, batches of 10, no budget)." }));
      return;
    }
    const head = ["Version", "Settings", "By"];
    const rows = settings.map((setting) => {
      const s = setting.spec;
      const strategy = s.strategy === "mix" ? `Mix (${describeMix(s.mix)})` : title(s.strategy);
      const stopping = s.stopping_rule ? `kappa ≥ ${s.stopping_rule.threshold}, ${s.stopping_rule.patience} in a row` : "off";
      const details = [
        `batches of ${s.batch_size}`,
        `budget ${s.budget ?? "none"}`,
        s.strategy === "adaptive" ? `exploration ${s.exploration_share}` : null,
        `stopping rule ${stopping}`,
      ].filter(Boolean).join("; ");
      return el(
        "tr",
        { "data-testid": "history-row" },
        el("th", { scope: "row", text: `v${setting.version}` }),
        el("td", {}, el("strong", { text: strategy }), el("br"), el("span", { className: "hint", text: details })),
        el("td", {}, setting.changed_by || "—", el("br"), el("span", { className: "hint", text: when(setting.created_at) })),
      );
    });
    box.replaceChildren(
      el("table", {}, el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))), el("tbody", {}, ...rows)),
    );
  }

  function renderProjection(status) {
    const budget = status.budget;
    const model = status.model_version;
    const now = model ? ` Now: ${pct(model.cv_accuracy)} at ${model.n_labels} labels (model version ${model.version}).` : "";
    let text;
    if (!budget.total) text = `No budget is set: set one to see the accuracy it is projected to buy.${now}`;
    else if (budget.projected_accuracy === null) {
      text = `Budget: ${budget.total} labels, ${budget.used} used. A projection needs three model versions with different numbers of labels.${now}`;
    } else {
      text = `With a budget of ${budget.total} labels (${budget.used} used), the learning curve projects ${pct(budget.projected_accuracy)} cross-validated accuracy${budget.projected_accuracy_range ? ` (likely ${pct(budget.projected_accuracy_range[0])} to ${pct(budget.projected_accuracy_range[1])})` : ""}.${now}`;
    }
    document.getElementById("projection").textContent = text;
    const ready = status.budget.used >= 20;
    const button = document.getElementById("replay-btn");
    if (button) button.disabled = !ready || replay.polling;
    document.getElementById("replay-note").textContent = ready
      ? "A mix can be replayed once it is saved as the project's strategy. The budget defaults to 70% of the labeled items at most."
      : `A replay needs at least 20 labeled items; there are ${status.budget.used}.`;
  }

  async function loadStatus() {
    config.status = await api("learning/");
    renderProjection(config.status);
  }

  // --- replay --------------------------------------------------------------------------------------------

  const replay = { polling: false, id: null };

  function mean(arrays) {
    const n = Math.min(...arrays.map((a) => a.length));
    return Array.from({ length: n }, (_, i) => arrays.reduce((sum, a) => sum + a[i], 0) / arrays.length);
  }

  function drawReplay(run) {
    const result = run.result;
    const names = Object.keys(result.strategies);
    const colors = ["#3b5bdb", "#868e96", "#e8590c", "#2b8a3e", "#ae3ec9"];
    const datasets = [];
    const curves = {};
    names.forEach((name, i) => {
      const runs = result.strategies[name].runs;
      const x = runs[0].n_labels;
      const accuracy = mean(runs.map((r) => r.accuracy));
      const f1 = mean(runs.map((r) => r.macro_f1));
      curves[name] = { x, accuracy, f1 };
      const color = name === "random" ? "#868e96" : colors[i % colors.length];
      datasets.push({
        label: `${title(name)}: accuracy`,
        data: accuracy.map((y, j) => ({ x: x[j], y })),
        borderColor: color,
        backgroundColor: color,
        pointRadius: 3,
        strategy: name,
      });
      datasets.push({
        label: `${title(name)}: macro-F1`,
        data: f1.map((y, j) => ({ x: x[j], y })),
        borderColor: color,
        backgroundColor: color,
        borderDash: [6, 4],
        pointRadius: 2,
        pointStyle: "rect",
        strategy: name,
      });
    });
    const canvas = document.getElementById("replay-chart");
    const old = Chart.getChart(canvas);
    if (old) old.destroy();
    const seeds = result.config.seeds.length;
    canvas.setAttribute(
      "aria-label",
      `Replay learning curves, mean over ${seeds} seed${seeds === 1 ? "" : "s"}: ` +
        names.map((name) => `${title(name)} reaches ${pct(curves[name].accuracy.at(-1))} accuracy at ${curves[name].x.at(-1)} labels`).join("; ") + ".",
    );
    new Chart(canvas, {
      type: "line",
      data: { datasets },
      options: {
        scales: {
          x: { type: "linear", title: { display: true, text: "labels" } },
          y: { max: 1, ticks: { callback: (v) => `${Math.round(v * 100)}%` }, title: { display: true, text: "test score" } },
        },
        plugins: { tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label} ${pct(ctx.parsed.y)} at ${ctx.parsed.x} labels` } } },
      },
    });
    canvas.closest(".chart-box").hidden = false;
    document.getElementById("replay-empty").hidden = true;

    const head = ["Strategy", "Area under the curve", "Final accuracy", "Labels to 95% of full-data accuracy", "Seeds reaching it"];
    const rows = names.map((name) => {
      const s = result.strategies[name].summary;
      return el(
        "tr",
        { "data-testid": "replay-row" },
        el("th", { scope: "row", text: title(name) }),
        el("td", { className: "num", text: `${s.aulc_mean.toFixed(1)} ± ${s.aulc_std.toFixed(1)}` }),
        el("td", { className: "num", text: pct(s.final_accuracy_mean) }),
        el("td", { className: "num", text: s.labels_to_95_median ?? "not reached" }),
        el("td", { className: "num", text: `${s.runs_reaching_95} of ${s.n_runs}` }),
      );
    });
    const points = el(
      "details",
      { className: "chart-table" },
      el("summary", { text: "Show the curves as a table" }),
      el(
        "table",
        {},
        el("thead", {}, el("tr", {}, ...["Strategy", "Labels", "Accuracy", "Macro-F1"].map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", {}, ...names.flatMap((name) => curves[name].x.map((n, j) =>
          el("tr", {}, el("th", { scope: "row", text: title(name) }), el("td", { className: "num", text: n }),
            el("td", { className: "num", text: pct(curves[name].accuracy[j]) }), el("td", { className: "num", text: pct(curves[name].f1[j]) }))))),
      ),
    );
    document.getElementById("replay-summary").replaceChildren(
      el("p", { className: "hint", text: `${result.config.n_items} labeled items, ${Math.round(result.config.test_size * 100)}% kept for testing; budget ${result.config.budget}, batches of ${result.config.batch_size}, ${seeds} seed${seeds === 1 ? "" : "s"}; finished ${when(run.finished_at)}.` }),
      el("table", {}, el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))), el("tbody", {}, ...rows)),
      points,
    );
  }

  function showRun(run) {
    const box = document.getElementById("replay-status");
    const names = (run.result && run.result.strategies ? Object.keys(run.result.strategies) : []).map(title).join(" against ");
    if (run.status === "failed") {
      box.replaceChildren(el("p", { className: "form-message error", text: `Replay #${run.id} failed: ${run.failure}` }));
    } else if (run.status === "done") {
      box.replaceChildren(el("p", { text: `Replay #${run.id} is done${names ? `: ${names}` : ""}.` }));
      drawReplay(run);
    } else {
      box.replaceChildren(
        el("p", { text: `Replay #${run.id} is ${run.status}: ${run.message || "waiting for a worker"} (${Math.round(100 * run.progress)}%)` }),
        progressBar(run.status, run.progress, "Replay progress"),
      );
    }
  }

  async function follow(runId) {
    replay.polling = true;
    replay.id = runId;
    renderProjection(config.status);
    try {
      for (;;) {
        const run = await api(`learning/runs/${runId}/`);
        if (replay.id !== runId) return;
        showRun(run);
        if (run.status === "done" || run.status === "failed") break;
        await new Promise((resolve) => window.setTimeout(resolve, POLL_MS));
      }
    } catch (error) {
      document.getElementById("replay-status").replaceChildren(el("p", { className: "form-message error", text: error.message }));
    } finally {
      replay.polling = false;
      renderProjection(config.status);
    }
  }

  async function startReplay(event) {
    event.preventDefault();
    const strategy = document.getElementById("replay-strategy").value;
    const body = {
      strategies: [strategy, "random"],
      seeds: numberOrNull(document.getElementById("replay-seeds")),
      batch_size: numberOrNull(document.getElementById("replay-batch")),
    };
    const budget = numberOrNull(document.getElementById("replay-budget"));
    if (budget !== null) body.budget = budget;
    const box = document.getElementById("replay-status");
    box.replaceChildren(el("p", { text: "Asking for a replay…" }));
    try {
      const run = await api("learning/simulations/", { method: "POST", body });
      follow(run.id);
    } catch (error) {
      box.replaceChildren(el("p", { className: "form-message error", role: "alert", text: `No replay: ${error.message}` }));
    }
  }

  async function loadReplays() {
    const runs = await api("learning/simulations/");
    const latest = runs.find((run) => run.status !== "failed") || runs[0];
    if (!latest) return;
    if (latest.status === "queued" || latest.status === "running") follow(latest.id);
    else showRun(latest);
  }

  // --- start ---------------------------------------------------------------------------------------------

  const current = config.status.strategy.strategy;
  const select = document.getElementById("replay-strategy");
  select.value = [...select.options].some((o) => o.value === current) ? current : "adaptive";
  document.getElementById("replay-chart").closest(".chart-box").hidden = true;
  form.addEventListener("change", syncForm);
  form.addEventListener("submit", save);
  document.getElementById("replay-form").addEventListener("submit", startReplay);
  syncForm();
  renderProjection(config.status);
  Promise.all([loadHistory(), loadReplays()])
    .catch((error) => document.getElementById("history").replaceChildren(el("p", { className: "form-message error", text: error.message })))
    .then(() => document.querySelector(".insights").setAttribute("data-loaded", "true"));
})();
