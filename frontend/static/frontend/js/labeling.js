// The labeling page: keyboard-first, over the JSON API.
//
// The page holds the item on screen and the next ones (POST queue/next/?prefetch=2 leases them), so a submit shows
// the next item at once while the answer is saved in the background. Answers wait in an outbox, sent one at a
// time in order, each with its own client_key: a retry after a network failure can never make a second answer.
// Keys typed while "Loading the next item…" is on screen are held, shown, and applied in order to the items that
// come next (Escape drops them); if nothing comes, they are refused with a message: no key press is lost silently.
"use strict";
(function () {
  const { call, errorText, sleep, uuid, el, renderRecord, NetworkError } = window.Loupe;
  const config = JSON.parse(document.getElementById("labeling-config").textContent);
  const api = config.api;
  const project = config.project;
  const labelsById = new Map(config.labels.map((label) => [label.id, label]));
  const labelByKey = new Map(config.labels.filter((label) => label.key).map((label) => [label.key, label.id]));
  const $ = (id) => document.getElementById(id);
  const PREFETCH = 2; // items held beyond the one on screen: two quick submits in a row still find one ready
  const MAX_PREFETCH = 3; // what the API allows
  const DRAFT_DELAY_MS = 700; // a choice is saved as a draft once the keys pause: a reload brings it back

  const state = {
    current: null, // the queue answer on screen: {item, lease_expires_at, draft}
    upcoming: [], // more queue answers leased to us, shown next
    selected: new Set(),
    shownAt: 0,
    gone: new Set(), // ids submitted or skipped here (and not undone): never shown again
    outbox: [], // {kind, itemId, path, body, tries}, sent in order
    pumping: false,
    idleWaiters: [],
    refreshing: false,
    refreshAgain: false,
    generation: 0, // bumped by undo: a queue answer asked for before then is out of date
    undoing: false,
    undoable: config.progress.undoable, // own answers not yet reviewed, this page's and earlier ones: what Z can take back
    held: [], // keys typed while the next item was loading, applied once it is on screen
    replaying: false,
    switchStartedAt: null,
    progress: { ...config.progress },
    budgetUsed: document.getElementById("budget-meter") ? Number(document.getElementById("budget-meter").value) : 0,
    preloaded: new Map(),
    view: { scale: 1, fit: 1, x: 0, y: 0, width: 0, height: 0 },
  };

  // --- status line ---------------------------------------------------------------------------------------------

  let retryNowButton = null;

  function setSync(kind, text) {
    const sync = $("sync");
    sync.dataset.state = kind;
    sync.replaceChildren(el("span", { text }));
    if (kind === "failed") {
      retryNowButton = el("button", { type: "button", className: "link-button", text: "Retry now" });
      retryNowButton.addEventListener("click", () => wakeRetry());
      sync.append(" ", retryNowButton);
    }
  }

  function syncIdle() {
    const n = state.outbox.length;
    if (n) setSync("saving", n === 1 ? "Saving your answer…" : `Saving ${n} answers…`);
    else setSync("saved", "All answers saved.");
  }

  // --- the queue -----------------------------------------------------------------------------------------------

  /** Ask the server for what we hold, topped up with new items, while answers may still be on their way: the
   * items being saved come back too (we still hold them) and are dropped here, so ask for that many more. */
  async function refresh() {
    if (state.refreshing) {
      state.refreshAgain = true;
      return;
    }
    state.refreshing = true;
    try {
      do {
        state.refreshAgain = false;
        const generation = state.generation;
        const prefetch = Math.min(MAX_PREFETCH, PREFETCH + state.outbox.length);
        let result;
        try {
          result = await call("POST", `${api}queue/next/?prefetch=${prefetch}`);
        } catch (error) {
          if (!(error instanceof NetworkError)) throw error;
          setSync("retrying", "Cannot reach Loupe: trying again to fetch items…");
          await sleep(2000);
          state.refreshAgain = true;
          continue;
        }
        if ($("sync").dataset.state === "retrying" && !state.outbox.length) syncIdle(); // reachable again
        if (generation !== state.generation) state.refreshAgain = true;
        else if (result.status === 204) applyQueue([]);
        else if (result.ok) applyQueue([result.data, ...(result.data.upcoming || [])]);
        else setSync("failed-hard", `Could not fetch items: ${errorText(result)}`);
      } while (state.refreshAgain);
    } finally {
      state.refreshing = false;
    }
    if (state.current === null) show(); // "loading" becomes "all done" once nothing is on its way
  }

  function applyQueue(answers) {
    const fresh = answers.filter((answer) => !state.gone.has(answer.item.id));
    if (state.current && !fresh.some((answer) => answer.item.id === state.current.item.id)) {
      // Our hold lapsed (the page sat idle) and the item went to someone else, or it got all its answers.
      setSync("warning", "The item on screen is no longer yours to label; here is the next one.");
      state.current = null;
    }
    if (state.current) {
      // Keep the order the annotator expects (an undone item's successor stays next); new items go last.
      const byId = new Map(fresh.map((answer) => [answer.item.id, answer]));
      const known = state.upcoming.filter((answer) => byId.has(answer.item.id)).map((answer) => byId.get(answer.item.id));
      const knownIds = new Set([state.current.item.id, ...known.map((answer) => answer.item.id)]);
      state.upcoming = [...known, ...fresh.filter((answer) => !knownIds.has(answer.item.id))];
    } else {
      state.current = fresh.shift() || null;
      state.upcoming = fresh;
      show();
    }
    preload();
  }

  function preload() {
    const wanted = new Set();
    for (const answer of state.upcoming) {
      const url = answer.item.image_url;
      if (!url) continue;
      wanted.add(url);
      if (!state.preloaded.has(url)) {
        const image = new Image();
        image.decoding = "async";
        image.src = url;
        state.preloaded.set(url, image);
      }
    }
    for (const url of [...state.preloaded.keys()]) if (!wanted.has(url)) state.preloaded.delete(url);
  }

  function advance() {
    state.current = state.upcoming.shift() || null;
    show();
  }

  // --- showing an item ---------------------------------------------------------------------------------------

  function show() {
    const answer = state.current;
    const empty = answer === null;
    const waiting = empty && (state.outbox.length > 0 || state.refreshing);
    $("image-view").hidden = empty || project.data_kind !== "image";
    $("record").hidden = empty || project.data_kind !== "tabular";
    $("queue-empty").hidden = !empty || waiting;
    if (empty) {
      $("item-name").textContent = waiting ? "Loading the next item…" : "All done";
      delete document.querySelector(".workbench").dataset.itemId;
      state.selected = new Set();
      renderLabels();
      renderInsight(null);
      renderRejection(null);
      if (!waiting && state.held.length) refuseHeld();
      return;
    }
    const item = answer.item;
    state.selected = new Set((answer.draft && answer.draft.label_ids) || []);
    state.shownAt = performance.now();
    $("item-name").textContent = item.external_id || `#${item.id}`;
    document.querySelector(".workbench").dataset.itemId = String(item.id);
    if (project.data_kind === "image") showImage(item);
    else renderRecord($("record"), item.data, project.shown_columns, project.column_types);
    renderLabels();
    renderInsight(item.insight);
    renderRejection(answer.rejection);
    renderImported(answer.predictions || []);
    markSwitch();
    if (state.held.length && !state.replaying) setTimeout(replayHeld, 0);
  }

  // --- keys typed while the next item loads ------------------------------------------------------------------

  function keyName(key) {
    return key === "Enter" ? "Enter" : key.toUpperCase();
  }

  function hold(key) {
    state.held.push(key);
    showHeld();
  }

  function showHeld() {
    const n = state.held.length;
    setSync("held", `Loading the next item… ${n === 1 ? "1 key" : `${n} keys`} held for it: ${state.held.map(keyName).join(" ")} (Esc drops them).`);
  }

  /** Apply the held keys in order to the item now on screen; a submit among them moves on, and what follows it
   * goes to the next item, or waits again if that one is still loading. */
  function replayHeld() {
    if (state.replaying) return;
    state.replaying = true;
    try {
      while (state.held.length && state.current) act(state.held.shift());
    } finally {
      state.replaying = false;
    }
    if (state.held.length && state.current === null) showHeld();
  }

  function refuseHeld() {
    const keys = state.held.splice(0).map(keyName).join(" ");
    setSync("warning", `Nothing left to label here: the keys typed while loading (${keys}) were not applied.`);
  }

  function dropHeld() {
    const keys = state.held.splice(0).map(keyName).join(" ");
    setSync("info", `Dropped the keys typed while loading (${keys}).`);
  }

  // --- a reviewer's note on an item sent back ----------------------------------------------------------------

  function renderRejection(rejection) {
    const box = $("rejection");
    box.hidden = !rejection;
    if (!rejection) return box.replaceChildren();
    box.replaceChildren(
      el("strong", { text: `Sent back to you by ${rejection.reviewer}` }),
      el("p", { className: "comment", dataset: { testid: "rejection-comment" }, text: rejection.comment }),
      el("p", { className: "hint", text: "Your earlier answer was set aside: label the item again." }),
    );
  }

  /** Time from the key press to the next item painted, as a performance measure "loupe:next-item". */
  function markSwitch() {
    if (state.switchStartedAt === null) return;
    const started = state.switchStartedAt;
    state.switchStartedAt = null;
    const image = $("image");
    const detail = { item: state.current.item.external_id };
    const painted = () => requestAnimationFrame(() => performance.measure("loupe:next-item", { start: started, detail }));
    if (project.data_kind === "image" && !image.complete) image.addEventListener("load", painted, { once: true });
    else painted();
  }

  function renderLabels() {
    const insight = state.current && state.current.item.insight;
    const suggested = new Set((insight && insight.suggestion && insight.suggestion.label_ids) || []);
    for (const button of document.querySelectorAll(".label-btn")) {
      const id = Number(button.dataset.labelId);
      button.setAttribute("aria-pressed", String(state.selected.has(id)));
      button.disabled = state.current === null;
      // The model's suggestion stands out in the list itself, where the eye already is.
      button.classList.toggle("suggested", suggested.has(id));
      const tag = button.querySelector(".suggested-tag");
      if (suggested.has(id) && !tag) button.append(el("span", { className: "suggested-tag", text: "suggested" }));
      else if (!suggested.has(id) && tag) tag.remove();
    }
    $("submit-btn").disabled = state.current === null;
    $("skip-btn").disabled = state.current === null;
  }

  function labelNames(ids) {
    return ids.map((id) => (labelsById.get(id) || { name: `#${id}` }).name).join(", ");
  }

  const PICKED_BY = {
    typicality: "a typical example",
    uncertainty: "the model is unsure",
    novelty: "unlike what was labeled so far",
    diversity: "to cover the data widely",
    random: "a random check",
    score: "its score",
  };

  /** Other models' predictions for the item, imported by a manager: shown under the model's own suggestion. */
  function renderImported(predictions) {
    const box = $("insight");
    for (const prediction of predictions) {
      const score = prediction.score === null ? "" : ` · ${Math.round(prediction.score * 100)}%`;
      box.append(
        el(
          "p",
          { className: "suggestion imported", dataset: { testid: "imported-prediction" } },
          `${prediction.source} says `,
          el("strong", { text: labelNames(prediction.label_ids) }),
          el("span", { className: "confidence", text: score }),
        ),
      );
    }
  }

  function renderInsight(insight) {
    const box = $("insight");
    const suggestion = insight && insight.suggestion;
    $("accept-btn").disabled = !suggestion || state.current === null;
    if (!insight) {
      box.replaceChildren(el("p", { className: "hint", text: state.current ? "No model yet: suggestions come once one is trained." : "" }));
      return;
    }
    const parts = [];
    if (suggestion) {
      parts.push(
        el(
          "p",
          { className: "suggestion", dataset: { testid: "suggestion" } },
          "Suggests ",
          el("strong", { text: labelNames(suggestion.label_ids) }),
          el("span", { className: "confidence", text: ` · ${Math.round(suggestion.confidence * 100)}% sure` }),
        ),
      );
      const meter = el("div", { className: "bar small", role: "img", "aria-label": `confidence ${Math.round(suggestion.confidence * 100)}%` }, el("span"));
      meter.firstChild.style.width = `${Math.round(suggestion.confidence * 100)}%`;
      parts.push(meter);
    } else {
      parts.push(el("p", { className: "hint", text: "No suggestion for this item." }));
    }
    const why = el("p", { className: "why", dataset: { testid: "why" } }, el("span", { className: "badge", text: insight.picked_by }), " ");
    why.append(insight.explanation || insight.reason || PICKED_BY[insight.picked_by] || "");
    parts.push(why);
    // Percentiles among the unlabeled items tell items apart; raw scores of a young model sit near 100% for all.
    const ranked = Object.entries(insight.percentiles || {}).filter(([, value]) => value !== null && value !== undefined);
    if (ranked.length) {
      const text = ranked.map(([name, value]) => `${name} ${Math.round(value * 100)}`).join(" · ");
      parts.push(el("p", { className: "scores subtle", dataset: { testid: "percentiles" }, text: `Percentile among unlabeled items: ${text}` }));
    }
    box.replaceChildren(...parts);
  }

  // --- image view: fit, zoom, pan ----------------------------------------------------------------------------

  function showImage(item) {
    const image = $("image");
    const view = state.view;
    const url = item.image_url;
    view.width = item.width || 0;
    view.height = item.height || 0;
    image.alt = `Image ${item.external_id || item.id}`;
    $("image-error").hidden = true;
    if (image.getAttribute("src") !== url) {
      // Hide the previous picture until this one is ready (at once when prefetched): never a new name on an old image.
      image.classList.add("loading");
      image.src = url;
    }
    const ready = () => {
      if (image.getAttribute("src") !== url) return; // the annotator moved on meanwhile
      if (!view.width) {
        view.width = image.naturalWidth;
        view.height = image.naturalHeight;
      }
      fit();
      image.classList.remove("loading");
    };
    if (image.complete && image.naturalWidth) ready();
    else {
      image.addEventListener("load", ready, { once: true });
      image.addEventListener("error", () => {
        if (image.getAttribute("src") === url) $("image-error").hidden = false;
      }, { once: true });
    }
    if (view.width && view.height) fit();
  }

  function fit() {
    const box = $("image-view").getBoundingClientRect();
    const view = state.view;
    if (!view.width || !box.width) return;
    view.fit = Math.min(box.width / view.width, box.height / view.height);
    view.scale = view.fit;
    view.x = (box.width - view.width * view.scale) / 2;
    view.y = (box.height - view.height * view.scale) / 2;
    applyView();
  }

  function applyView() {
    const view = state.view;
    const image = $("image");
    image.style.width = `${view.width}px`;
    image.style.height = `${view.height}px`;
    image.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
    image.classList.toggle("pixelated", view.scale > 3);
    $("zoom-level").textContent = `${Math.round((view.scale / view.fit) * 100)}%`;
  }

  function zoom(factor, cx, cy) {
    const view = state.view;
    if (!view.width) return;
    const box = $("image-view").getBoundingClientRect();
    const x = cx === undefined ? box.width / 2 : cx;
    const y = cy === undefined ? box.height / 2 : cy;
    const scale = Math.min(Math.max(view.scale * factor, view.fit * 0.5), view.fit * 32);
    view.x = x - ((x - view.x) * scale) / view.scale;
    view.y = y - ((y - view.y) * scale) / view.scale;
    view.scale = scale;
    applyView();
  }

  function pan(dx, dy) {
    state.view.x += dx;
    state.view.y += dy;
    applyView();
  }

  function bindImageView() {
    const box = $("image-view");
    box.addEventListener("wheel", (event) => {
      event.preventDefault();
      const rect = box.getBoundingClientRect();
      zoom(Math.exp(-event.deltaY * 0.0015), event.clientX - rect.left, event.clientY - rect.top);
    }, { passive: false });
    let drag = null;
    box.addEventListener("pointerdown", (event) => {
      drag = { x: event.clientX, y: event.clientY };
      box.setPointerCapture(event.pointerId);
      box.classList.add("dragging");
    });
    box.addEventListener("pointermove", (event) => {
      if (!drag) return;
      pan(event.clientX - drag.x, event.clientY - drag.y);
      drag = { x: event.clientX, y: event.clientY };
    });
    const stop = () => {
      drag = null;
      box.classList.remove("dragging");
    };
    box.addEventListener("pointerup", stop);
    box.addEventListener("pointercancel", stop);
    box.addEventListener("dblclick", fit);
    window.addEventListener("resize", fit);
  }

  // --- actions -----------------------------------------------------------------------------------------------

  function choose(labelId) {
    if (!state.current) return;
    const label = labelsById.get(labelId);
    if (project.multi_label) {
      if (state.selected.has(labelId)) state.selected.delete(labelId);
      else state.selected.add(labelId);
    } else {
      state.selected = new Set([labelId]);
    }
    renderLabels();
    setSync("info", project.multi_label ? `${label.name} ${state.selected.has(labelId) ? "on" : "off"}.` : `${label.name} chosen: Enter submits.`);
    saveDraftSoon();
  }

  /** Keep the current choice on the server (PUT .../draft/) after a pause, so a reload or a crash loses nothing;
   * best effort: a failed draft save is not worth a message, the answer itself goes through the outbox. */
  function saveDraftSoon() {
    clearTimeout(state.draftTimer);
    const path = `items/${state.current.item.id}/draft/`;
    const body = { label_ids: [...state.selected] };
    state.draftTimer = setTimeout(() => call("PUT", api + path, body).catch(() => {}), DRAFT_DELAY_MS);
  }

  function submit({ accept = false } = {}) {
    if (!state.current) return;
    const item = state.current.item;
    let ids;
    if (accept) {
      const suggestion = item.insight && item.insight.suggestion;
      if (!suggestion) return setSync("info", "There is no suggestion for this item.");
      ids = [...suggestion.label_ids];
    } else {
      ids = [...state.selected];
      if (!ids.length) return setSync("info", "Choose a label first: press its key.");
    }
    state.outbox.push({
      kind: "submit",
      itemId: item.id,
      path: "annotations/",
      body: {
        item_id: item.id,
        label_ids: ids,
        client_key: uuid(),
        time_spent_ms: Math.round(performance.now() - state.shownAt),
        accepted_suggestion: accept,
      },
      tries: 0,
    });
    leave(item);
  }

  function skip() {
    if (!state.current) return;
    const item = state.current.item;
    state.outbox.push({ kind: "skip", itemId: item.id, path: `items/${item.id}/skip/`, body: { reason: $("skip-reason").value }, tries: 0 });
    leave(item);
  }

  function leave(item) {
    clearTimeout(state.draftTimer); // answered or skipped: no draft to keep
    $("skip-reason").value = ""; // a skip reason is for one item
    state.gone.add(item.id);
    state.switchStartedAt = state.keyAt || performance.now();
    advance();
    syncIdle();
    pump();
    if (state.upcoming.length < PREFETCH) refresh(); // top up now, without waiting for the answer to be saved
  }

  async function undo() {
    if (state.undoing) return;
    state.undoing = true;
    try {
      if (state.outbox.length) {
        setSync("saving", "Undo: saving your last answer first…");
        await idle();
      }
      if (state.undoable <= 0) return setSync("info", "Nothing to undo: you have no answer here that can still be changed.");
      let result;
      state.generation += 1;
      try {
        result = await call("POST", `${api}annotations/undo/`);
      } catch (error) {
        if (!(error instanceof NetworkError)) throw error;
        return setSync("failed-hard", "Cannot reach Loupe: nothing was undone. Try again.");
      }
      if (!result.ok) return setSync("info", result.status === 404 ? "Nothing to undo: you have no answer here that can still be changed." : `Could not undo: ${errorText(result)}`);
      const answer = result.data;
      state.undoable -= 1;
      bringBack(answer);
      state.progress.mine = Math.max(0, state.progress.mine - 1);
      if (project.overlap === 1) state.progress.done = Math.max(0, state.progress.done - 1);
      renderProgress();
      setSync("info", `Undone: ${answer.item.external_id || answer.item.id} is back with ${labelNames((answer.draft || {}).label_ids || []) || "its labels"} chosen.`);
    } finally {
      state.undoing = false;
    }
  }

  /** Put a queue answer (an undone or unskipped item) on screen; the item that was there comes next. */
  function bringBack(answer) {
    state.gone.delete(answer.item.id);
    if (state.current) state.upcoming.unshift(state.current);
    state.upcoming = state.upcoming.filter((other) => other.item.id !== answer.item.id);
    state.current = answer;
    state.generation += 1;
    show();
    refresh();
  }

  // --- skipped items: a way back -----------------------------------------------------------------------------

  async function loadSkipped() {
    let result;
    try {
      result = await call("GET", `${api}skips/?limit=50`);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      return;
    }
    if (!result.ok) return;
    $("skipped-count").textContent = String(result.data.count);
    $("skipped").hidden = result.data.count === 0;
    $("skipped-list").replaceChildren(
      ...result.data.results.map((row) => {
        const button = el("button", { type: "button", className: "secondary", text: `Label ${row.external_id || `#${row.item_id}`}` });
        if (row.reason) button.append(el("span", { className: "subtle", text: ` (${row.reason})` }));
        button.addEventListener("click", () => revisit(row.item_id));
        return el("li", {}, button);
      }),
    );
  }

  async function revisit(itemId) {
    if (state.outbox.length) await idle(); // the skip itself must be saved before it can be taken back
    let result;
    try {
      result = await call("POST", `${api}items/${itemId}/unskip/`);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      return setSync("failed-hard", "Cannot reach Loupe: try again.");
    }
    if (!result.ok) {
      setSync("warning", `Cannot bring it back: ${errorText(result)}`);
      return loadSkipped();
    }
    bringBack(result.data);
    setSync("info", `${result.data.item.external_id || result.data.item.id} is back: label it now.`);
    loadSkipped();
  }

  // --- the outbox --------------------------------------------------------------------------------------------

  let wakeRetry = () => {};

  function waitForRetry(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      wakeRetry = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
  const FAILED_RETRY_MS = 15000;

  async function pump() {
    if (state.pumping) return;
    state.pumping = true;
    try {
      while (state.outbox.length) {
        const op = state.outbox[0];
        let result = null;
        try {
          result = await call("POST", api + op.path, op.body);
        } catch (error) {
          if (!(error instanceof NetworkError)) throw error;
        }
        if (result && result.ok) {
          state.outbox.shift();
          landed(op, result);
          continue;
        }
        if (result && result.status >= 400 && result.status < 500 && ![408, 429].includes(result.status)) {
          state.outbox.shift(); // refused for good: retrying would not help
          setSync("failed-hard", `Not saved (${op.kind} of item ${op.itemId}): ${errorText(result)}`);
          continue;
        }
        op.tries += 1;
        const what = op.kind === "skip" ? "skip" : "answer";
        if (op.tries <= RETRY_DELAYS_MS.length) {
          setSync("retrying", `Connection problem: sending your ${what} again (try ${op.tries + 1})…`);
          await waitForRetry(RETRY_DELAYS_MS[op.tries - 1]);
        } else {
          setSync("failed", `Your ${what} is not saved yet: Loupe cannot be reached. It is kept here and sent again every ${FAILED_RETRY_MS / 1000} s.`);
          await waitForRetry(FAILED_RETRY_MS);
        }
      }
    } finally {
      state.pumping = false;
    }
    if (!["failed-hard", "info", "warning", "held"].includes($("sync").dataset.state)) syncIdle();
    for (const resolve of state.idleWaiters.splice(0)) resolve();
    await refresh();
  }

  function idle() {
    if (!state.outbox.length && !state.pumping) return Promise.resolve();
    return new Promise((resolve) => state.idleWaiters.push(resolve));
  }

  function landed(op) {
    if (op.kind === "skip") return loadSkipped();
    state.undoable += 1;
    state.progress.mine += 1;
    if (project.overlap === 1) state.progress.done += 1;
    renderProgress();
    if (config.can_review) progressSoon();
  }

  // --- progress and leases -----------------------------------------------------------------------------------

  function renderProgress() {
    const { done, total, mine } = state.progress;
    const bar = $("progress-bar");
    bar.setAttribute("aria-valuenow", String(done));
    bar.setAttribute("aria-valuemax", String(total));
    bar.firstElementChild.style.width = total ? `${(100 * done) / total}%` : "0";
    $("progress-text").textContent = `${done} / ${total} done`;
    $("mine-text").textContent = `you: ${mine}`;
    const meter = $("budget-meter");
    if (meter && project.overlap === 1) {
      // With one answer per item, every answer is one more labeled item: what the budget counts.
      meter.value = state.budgetUsed + (mine - config.progress.mine);
      $("budget-text").textContent = `${meter.value} / ${meter.max} labeled`;
    }
  }

  let progressTimer = null;

  function progressSoon() {
    if (progressTimer) return;
    progressTimer = setTimeout(async () => {
      progressTimer = null;
      try {
        const result = await call("GET", `${api}progress/`);
        if (!result.ok) return;
        state.progress.total = result.data.items;
        state.progress.done = result.data.by_status.done;
        renderProgress();
      } catch (error) {
        if (!(error instanceof NetworkError)) throw error;
      }
    }, 1500);
  }

  async function renewLeases() {
    const held = [state.current, ...state.upcoming].filter(Boolean).map((answer) => answer.item.id);
    for (const id of held) {
      let result;
      try {
        result = await call("POST", `${api}items/${id}/lease/`);
      } catch (error) {
        if (!(error instanceof NetworkError)) throw error;
        return; // offline: the next round tries again
      }
      if (result.ok) continue;
      if (state.current && state.current.item.id === id) {
        setSync("warning", "This item was handed to someone else while the page sat idle.");
        state.current = null;
        advance();
      } else {
        state.upcoming = state.upcoming.filter((answer) => answer.item.id !== id);
      }
    }
  }

  // --- keyboard ----------------------------------------------------------------------------------------------

  function onKey(event) {
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if ((event.ctrlKey || event.metaKey) && key === "z" && !event.altKey) {
      event.preventDefault();
      if (!event.repeat) undo();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    state.keyAt = performance.now();
    if (key === "Enter" && target.closest && target.closest("button:not(.label-btn), a, summary")) return; // that control's own action
    const labeling = key === "Enter" || labelByKey.has(key) || (key === "a" && config.commands.a) || (key === "s" && config.commands.s);
    if (key === "Escape" && state.held.length) {
      event.preventDefault();
      dropHeld();
    } else if (labeling) {
      event.preventDefault();
      if (event.repeat && !labelByKey.has(key)) return;
      if (state.held.length && state.current) replayHeld(); // keys typed earlier go first
      // Nothing on screen yet but something on its way: hold the key for the item that comes.
      if (state.current === null && (state.outbox.length || state.refreshing || state.held.length)) hold(key);
      else act(key);
    } else if (key === "z" && config.commands.z) {
      event.preventDefault();
      if (!event.repeat) undo();
    } else if (project.data_kind === "image" && (key === "+" || key === "=")) {
      zoom(1.25);
    } else if (project.data_kind === "image" && key === "-") {
      zoom(0.8);
    } else if (project.data_kind === "image" && key === "Home") {
      event.preventDefault();
      fit();
    } else if (project.data_kind === "image" && key.startsWith("Arrow")) {
      event.preventDefault();
      const step = 40;
      pan({ ArrowLeft: step, ArrowRight: -step }[key] || 0, { ArrowUp: step, ArrowDown: -step }[key] || 0);
    }
  }

  /** One labeling key: choose a label, submit, accept the suggestion or skip. */
  function act(key) {
    if (state.current === null) return setSync("info", "There is no item on screen for this key.");
    if (key === "Enter") submit();
    else if (labelByKey.has(key)) choose(labelByKey.get(key));
    else if (key === "a") submit({ accept: true });
    else if (key === "s") skip();
  }

  /** A mouse click leaves no focus behind, so Enter keeps submitting; keyboard activation keeps focus. */
  function clicked(button, action) {
    button.addEventListener("click", (event) => {
      if (event.detail > 0) button.blur();
      state.keyAt = performance.now();
      action();
    });
  }

  function init() {
    for (const button of document.querySelectorAll(".label-btn")) clicked(button, () => choose(Number(button.dataset.labelId)));
    clicked($("submit-btn"), () => submit());
    clicked($("accept-btn"), () => submit({ accept: true }));
    clicked($("skip-btn"), skip);
    clicked($("undo-btn"), undo);
    for (const summary of document.querySelectorAll("summary")) {
      summary.addEventListener("click", (event) => {
        if (event.detail > 0) summary.blur(); // opened with the mouse: Enter keeps submitting
      });
    }
    // Choosing a reason (or Escape / Enter on the list) hands the keys back to labeling at once.
    $("skip-reason").addEventListener("change", () => $("skip-reason").blur());
    $("skip-reason").addEventListener("keydown", (event) => {
      if (event.key === "Escape" || event.key === "Enter") {
        event.preventDefault();
        $("skip-reason").blur();
      }
    });
    document.addEventListener("keydown", onKey);
    window.addEventListener("online", () => wakeRetry());
    window.addEventListener("beforeunload", (event) => {
      if (state.outbox.length) event.preventDefault(); // answers not saved yet: the browser asks before leaving
    });
    if (project.data_kind === "image") bindImageView();
    setInterval(renewLeases, Math.max(15, project.lease_seconds / 3) * 1000);
    renderProgress();
    loadSkipped();
    refresh().then(() => {
      if (state.current === null) show();
    });
  }

  init();
})();
