// The item browser: filters -> a keyset-paged grid (images) or table (records); a selection from checkboxes or a
// lasso on the 2-D map; one bulk action on the selection. Display only: filters, rules and checks live on the server.
"use strict";
(function () {
  const { call, errorText, el, NetworkError } = window.Loupe;
  const config = JSON.parse(document.getElementById("items-config").textContent);
  const api = config.api;
  const images = config.project.data_kind === "image";
  const $ = (id) => document.getElementById(id);
  const PERCENT_FIELDS = new Set(["confidence_min", "confidence_max", "uncertainty_min", "novelty_min"]);
  const STATE_COLORS = { labeled: "#3151c9", queued: "#d9480f", novel: "#9c36b5", unlabeled: "#adb5bd" };

  const state = { cursor: null, loads: 0, shown: [], selected: new Set(), points: [], busy: false };

  const labelName = (id) => config.all_labels[id] || `#${id}`;
  const pct = (value) => (value === null || value === undefined ? "—" : `${Math.round(value * 100)}%`);

  function query() {
    const params = new URLSearchParams();
    for (const [name, raw] of new FormData($("filters")).entries()) {
      const value = String(raw).trim();
      if (value === "") continue;
      params.set(name, PERCENT_FIELDS.has(name) ? String(Number(value) / 100) : value);
    }
    return params;
  }

  async function load(reset) {
    const ticket = ++state.loads;
    const params = query();
    if (!reset && state.cursor) params.set("cursor", state.cursor);
    let result;
    try {
      result = await call("GET", `${api}browse/?${params}`);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      $("count").textContent = "Cannot reach Loupe: check the connection and try again.";
      return;
    }
    if (ticket !== state.loads) return; // the filters changed meanwhile
    if (!result.ok) {
      $("count").textContent = `Could not load the items: ${errorText(result)}`;
      return;
    }
    const data = result.data;
    if (reset) {
      state.shown = [];
      $("results").replaceChildren();
    }
    state.shown.push(...data.results);
    state.cursor = data.next_cursor;
    if (data.count !== null) {
      const count = `${data.count.toLocaleString()}${data.count_capped ? "+" : ""}`;
      $("count").textContent = `${count} item${data.count === 1 ? "" : "s"} match`;
    }
    $("empty").hidden = state.shown.length > 0;
    $("more").hidden = !data.next_cursor;
    render(data.results, reset);
  }

  function selectBox(row) {
    const box = el("input", { type: "checkbox", "aria-label": `Select ${row.external_id || row.id}`, dataset: { itemId: row.id } });
    box.checked = state.selected.has(row.id);
    box.addEventListener("change", () => {
      if (box.checked) state.selected.add(row.id);
      else state.selected.delete(row.id);
      updateSelection();
    });
    return box;
  }

  function labelChips(row) {
    if (!row.final_label_ids.length) return el("span", { className: "badge muted", text: row.annotation_count ? "no majority" : "unlabeled" });
    return el("span", { className: "badge", text: row.final_label_ids.map(labelName).join(", "), dataset: { testid: "final-label" } });
  }

  function modelText(row) {
    if (!row.model) return "";
    const suggestion = row.model.suggestion.length ? `suggests ${row.model.suggestion.map(labelName).join(", ")} (${pct(row.model.confidence)})` : "no suggestion";
    return `${suggestion} · uncertainty ${pct(row.model.uncertainty)}`;
  }

  const itemUrl = (row) => `/projects/${config.project.id}/items/${row.id}/`;

  function tile(row) {
    const picture = row.thumbnail_url ? el("img", { src: row.thumbnail_url, alt: "", loading: "lazy" }) : el("span", { className: "no-image", text: "no image" });
    return el(
      "article",
      { className: "tile", dataset: { testid: "item-row", itemId: row.id } },
      el("div", { className: "tile-top" }, selectBox(row), row.flagged ? el("span", { className: "badge bad", text: "possible mistake" }) : null),
      el("a", { href: itemUrl(row), className: "tile-link" }, picture, el("span", { className: "tile-name", text: row.external_id || `#${row.id}` })),
      el("div", { className: "tile-meta" }, labelChips(row), el("span", { className: "subtle", text: row.status === "done" ? "done" : "open" })),
      row.model ? el("p", { className: "hint small", text: modelText(row) }) : null,
    );
  }

  function tableHead() {
    const columns = config.project.shown_columns.slice(0, 6);
    const head = ["", "Item", ...columns, "Final label", "Status", "Agreement", "Model"];
    return el("table", { className: "items-table" }, el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))), el("tbody", { id: "rows" }));
  }

  function tableRow(row) {
    const columns = config.project.shown_columns.slice(0, 6);
    const values = columns.map((name) => el("td", { text: row.record && row.record[name] !== undefined && row.record[name] !== null ? String(row.record[name]) : "—" }));
    return el(
      "tr",
      { dataset: { testid: "item-row", itemId: row.id } },
      el("td", {}, selectBox(row)),
      el("th", { scope: "row" }, el("a", { href: itemUrl(row), text: row.external_id || `#${row.id}` }), row.flagged ? el("span", { className: "badge bad", text: "possible mistake" }) : null),
      ...values,
      el("td", {}, labelChips(row)),
      el("td", { text: `${row.status}${row.review_status !== "unreviewed" ? `, ${row.review_status}` : ""}` }),
      el("td", { className: "num", text: pct(row.agreement) }),
      el("td", { className: "small", text: modelText(row) }),
    );
  }

  function render(rows, reset) {
    if (images) {
      $("results").append(...rows.map(tile));
      return;
    }
    if (reset || !$("rows")) $("results").replaceChildren(tableHead());
    $("rows").append(...rows.map(tableRow));
  }

  function updateSelection() {
    const n = state.selected.size;
    $("selected-count").textContent = `${n.toLocaleString()} selected`;
    $("apply").disabled = n === 0 || state.busy;
    $("bulk-label-box").hidden = $("action").value !== "label";
    for (const box of document.querySelectorAll("input[data-item-id]")) box.checked = state.selected.has(Number(box.dataset.itemId));
    drawMap();
  }

  const DONE_WORDS = { label: "Labeled", send_to_review: "Sent to review", requeue: "Re-queued", raise_priority: "Raised the priority of" };

  async function apply() {
    const ids = [...state.selected];
    if (ids.length > config.max_bulk) {
      $("bulk-status").textContent = `Select at most ${config.max_bulk} items for one action (${ids.length} selected).`;
      return;
    }
    const action = $("action").value;
    const body = { action, item_ids: ids };
    if (action === "label") body.label_ids = [Number($("bulk-label").value)];
    state.busy = true;
    updateSelection();
    $("bulk-status").textContent = "Working…";
    let result;
    try {
      result = await call("POST", `${api}items/bulk/`, body);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      result = null;
    } finally {
      state.busy = false;
    }
    if (!result || !result.ok) {
      $("bulk-status").textContent = result ? `Nothing changed: ${errorText(result)}` : "Cannot reach Loupe: nothing changed.";
      updateSelection();
      return;
    }
    const left = Object.entries(result.data.unchanged).map(([reason, items]) => `${items.length} ${reason}`);
    const n = result.data.changed.length;
    $("bulk-status").textContent = `${DONE_WORDS[action]} ${n} item${n === 1 ? "" : "s"}.` + (left.length ? ` Left as they were: ${left.join("; ")}.` : "");
    state.selected.clear();
    updateSelection();
    await Promise.all([load(true), loadMap()]);
  }

  // --- the map and its lasso -----------------------------------------------------------------------------------

  const canvas = $("map");
  const lasso = { points: [], drawing: false };
  const view = { minX: 0, maxX: 1, minY: 0, maxY: 1 };
  const PAD = 12;

  async function loadMap() {
    let result;
    try {
      result = await call("GET", `${api}learning/map/`);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      return;
    }
    if (!result.ok || !result.data.points.length) {
      $("map-note").textContent = "No map yet: it is drawn when the model has embedded the items.";
      state.points = [];
      canvas.hidden = true;
      return;
    }
    canvas.hidden = false;
    const data = result.data;
    state.points = data.points;
    const xs = data.points.map((p) => p.x);
    const ys = data.points.map((p) => p.y);
    Object.assign(view, { minX: Math.min(...xs), maxX: Math.max(...xs), minY: Math.min(...ys), maxY: Math.max(...ys) });
    const method = data.projection === "umap" ? "UMAP" : data.projection === "pca" ? "PCA" : "a projection";
    const shown = data.points.length < data.total ? `${data.points.length.toLocaleString()} of ${data.total.toLocaleString()}` : data.total.toLocaleString();
    $("map-note").textContent = `${shown} items, placed by ${method} of the model's embedding. Blue: labeled, orange: queued, purple: novel, grey: unlabeled. Drag a loop around points to select them.`;
    drawMap();
  }

  function toCanvas(p) {
    const w = canvas.width - 2 * PAD;
    const h = canvas.height - 2 * PAD;
    const x = PAD + ((p.x - view.minX) / (view.maxX - view.minX || 1)) * w;
    const y = PAD + (1 - (p.y - view.minY) / (view.maxY - view.minY || 1)) * h;
    return [x, y];
  }

  function drawMap() {
    if (!state.points.length) return;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    for (const p of state.points) {
      const [x, y] = toCanvas(p);
      const chosen = state.selected.has(p.item_id);
      ctx.fillStyle = chosen ? "#e03131" : STATE_COLORS[p.state] || "#adb5bd";
      ctx.beginPath();
      ctx.arc(x, y, chosen ? 3.5 : 2.5, 0, 2 * Math.PI);
      ctx.fill();
    }
    if (lasso.points.length > 1) {
      ctx.strokeStyle = "#1d2330";
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(...lasso.points[0]);
      for (const point of lasso.points.slice(1)) ctx.lineTo(...point);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  function canvasPoint(event) {
    const box = canvas.getBoundingClientRect();
    return [((event.clientX - box.left) * canvas.width) / box.width, ((event.clientY - box.top) * canvas.height) / box.height];
  }

  function inside([x, y], polygon) {
    let hit = false;
    for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
      const [xi, yi] = polygon[i];
      const [xj, yj] = polygon[j];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
    }
    return hit;
  }

  canvas.addEventListener("pointerdown", (event) => {
    lasso.drawing = true;
    lasso.points = [canvasPoint(event)];
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!lasso.drawing) return;
    lasso.points.push(canvasPoint(event));
    drawMap();
  });
  canvas.addEventListener("pointerup", () => {
    if (!lasso.drawing) return;
    lasso.drawing = false;
    if (lasso.points.length > 2) {
      let added = 0;
      for (const p of state.points) {
        if (!state.selected.has(p.item_id) && inside(toCanvas(p), lasso.points)) {
          state.selected.add(p.item_id);
          added += 1;
        }
      }
      $("bulk-status").textContent = `The lasso added ${added} item${added === 1 ? "" : "s"} to the selection.`;
    }
    lasso.points = [];
    updateSelection();
  });

  // --- wiring ----------------------------------------------------------------------------------------------------

  let timer = null;
  const reload = () => {
    clearTimeout(timer);
    timer = setTimeout(() => load(true), 250);
  };
  $("filters").addEventListener("input", reload);
  $("filters").addEventListener("change", reload);
  $("filters").addEventListener("reset", () => setTimeout(() => load(true), 0));
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load(true);
  });
  $("more").addEventListener("click", () => load(false));
  $("select-page").addEventListener("click", () => {
    for (const row of state.shown) state.selected.add(row.id);
    updateSelection();
  });
  $("select-clear").addEventListener("click", () => {
    state.selected.clear();
    updateSelection();
  });
  $("action").addEventListener("change", updateSelection);
  $("apply").addEventListener("click", apply);

  updateSelection();
  load(true);
  loadMap();
})();
