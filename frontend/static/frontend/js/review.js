// The review page: the review queue (disagreements first), each item's answers, and a decision by keyboard:
// A accept, R reject with a comment, C correct (choose the labels), J/K move.
"use strict";
(function () {
  const { call, errorText, el, renderRecord, NetworkError } = window.Loupe;
  const config = JSON.parse(document.getElementById("review-config").textContent);
  const api = config.api;
  const project = config.project;
  const labelByKey = new Map(config.labels.filter((label) => label.key).map((label) => [label.key, label.id]));
  const $ = (id) => document.getElementById(id);
  const PAGE = 100;

  const state = { items: [], count: 0, index: 0, mode: "view", answers: [], selected: new Set(), busy: false };

  function setStatus(kind, text) {
    $("sync").dataset.state = kind;
    $("sync").textContent = text;
  }

  function labelName(id) {
    return config.all_labels[id] || `#${id}`;
  }

  async function load() {
    let result;
    try {
      result = await call("GET", `${api}review/queue/?order=${encodeURIComponent($("order").value)}&limit=${PAGE}`);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      return setStatus("failed-hard", "Cannot reach Loupe: reload the page to try again.");
    }
    if (!result.ok) return setStatus("failed-hard", `Could not load the review queue: ${errorText(result)}`);
    state.items = result.data.results;
    state.count = result.data.count;
    select(0);
  }

  function renderQueue() {
    const list = $("queue");
    list.replaceChildren(
      ...state.items.map((item, index) => {
        const button = el("button", { type: "button", text: item.external_id || `#${item.id}` });
        if (index === state.index) button.setAttribute("aria-current", "true");
        button.addEventListener("click", () => select(index));
        return el("li", {}, button);
      }),
    );
    $("queue-empty").hidden = state.items.length > 0;
    $("queue-count").textContent = `${state.count} to review`;
  }

  async function select(index) {
    closeForms();
    state.index = Math.max(0, Math.min(index, state.items.length - 1));
    renderQueue();
    const item = state.items[state.index];
    const none = item === undefined;
    $("image-box").hidden = none || project.data_kind !== "image";
    $("record").hidden = none || project.data_kind !== "tabular";
    for (const id of ["accept-btn", "reject-btn", "correct-btn"]) $(id).disabled = none;
    if (none) {
      $("item-name").textContent = "Nothing to review";
      $("answers").replaceChildren();
      $("agreement").textContent = "";
      return;
    }
    $("item-name").textContent = item.external_id || `#${item.id}`;
    if (project.data_kind === "image") {
      $("image").src = item.image_url;
      $("image").alt = `Image ${item.external_id || item.id}`;
    } else {
      renderRecord($("record"), item.data, project.shown_columns, project.column_types);
    }
    const current = $("queue").querySelector('[aria-current="true"]');
    if (current) current.scrollIntoView({ block: "nearest" });
    $("answers").replaceChildren(el("li", { className: "hint", text: "Loading the answers…" }));
    let result;
    try {
      result = await call("GET", `${api}items/${item.id}/annotations/`);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      return setStatus("failed-hard", "Cannot reach Loupe: the answers could not be loaded.");
    }
    if (state.items[state.index] !== item) return; // moved on meanwhile
    state.answers = result.ok ? result.data.filter((answer) => answer.status === "active") : [];
    renderAnswers();
  }

  function renderAnswers() {
    const groups = new Map();
    for (const answer of state.answers) {
      const key = answer.label_ids.join(",");
      groups.set(key, (groups.get(key) || 0) + 1);
    }
    const top = Math.max(0, ...groups.values());
    $("agreement").textContent = state.answers.length
      ? `${top} of ${state.answers.length} annotators agree${groups.size > 1 ? ": they disagree" : ""}.`
      : "No answers.";
    $("answers").replaceChildren(
      ...state.answers.map((answer) =>
        el("li", {}, el("strong", { text: answer.annotator }), ": ", answer.label_ids.map(labelName).join(", ") || "no label"),
      ),
    );
  }

  function closeForms() {
    state.mode = "view";
    $("reject-form").hidden = true;
    $("correct-form").hidden = true;
  }

  function openReject() {
    if (!state.items.length) return;
    closeForms();
    state.mode = "reject";
    $("reject-form").hidden = false;
    $("comment").value = "";
    $("comment").focus();
  }

  function openCorrect() {
    if (!state.items.length) return;
    closeForms();
    state.mode = "correct";
    // Start from the most common answer: a correction usually changes one label.
    const counts = new Map();
    for (const answer of state.answers) counts.set(answer.label_ids.join(","), (counts.get(answer.label_ids.join(",")) || 0) + 1);
    const best = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
    state.selected = new Set(best ? best[0].split(",").filter(Boolean).map(Number) : []);
    renderCorrect();
    $("correct-form").hidden = false;
    const first = $("correct-labels").querySelector(".label-btn");
    if (first) first.focus();
  }

  function renderCorrect() {
    for (const button of $("correct-labels").querySelectorAll(".label-btn")) {
      button.setAttribute("aria-pressed", String(state.selected.has(Number(button.dataset.labelId))));
    }
  }

  function chooseCorrect(labelId) {
    if (project.multi_label) {
      if (state.selected.has(labelId)) state.selected.delete(labelId);
      else state.selected.add(labelId);
    } else {
      state.selected = new Set([labelId]);
    }
    renderCorrect();
  }

  async function decide(decision, extra) {
    const item = state.items[state.index];
    if (!item || state.busy) return;
    state.busy = true;
    setStatus("saving", "Saving…");
    let result;
    try {
      result = await call("POST", `${api}items/${item.id}/review/`, { decision, ...extra });
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      state.busy = false;
      return setStatus("failed-hard", "Cannot reach Loupe: nothing was saved. Try again.");
    }
    state.busy = false;
    if (!result.ok) return setStatus("failed-hard", `Not saved: ${errorText(result)}`);
    const done = { accept: "Accepted", reject: "Rejected and sent back", correct: "Corrected" }[decision];
    setStatus("saved", `${done}: ${item.external_id || item.id}.`);
    state.items.splice(state.index, 1);
    state.count -= 1;
    document.activeElement.blur();
    if (state.items.length) select(state.index);
    else load();
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "Escape" && state.mode !== "view") {
      event.preventDefault();
      closeForms();
      return;
    }
    if (state.mode === "reject") return; // typing the comment; the form handles Enter
    if (state.mode === "correct") {
      if (labelByKey.has(key)) {
        event.preventDefault();
        chooseCorrect(labelByKey.get(key));
      } else if (key === "Enter" && !event.target.closest("summary")) {
        event.preventDefault();
        $("correct-form").requestSubmit();
      }
      return;
    }
    if (event.target.closest("input, textarea, select, [contenteditable]") || event.repeat) return;
    const actions = {
      j: () => select(state.index + 1),
      ArrowDown: () => select(state.index + 1),
      k: () => select(state.index - 1),
      ArrowUp: () => select(state.index - 1),
      a: () => decide("accept", {}),
      r: openReject,
      c: openCorrect,
    };
    if (actions[key]) {
      event.preventDefault();
      actions[key]();
    }
  }

  function init() {
    document.addEventListener("keydown", onKey);
    $("order").addEventListener("change", load);
    $("accept-btn").addEventListener("click", () => decide("accept", {}));
    $("reject-btn").addEventListener("click", openReject);
    $("correct-btn").addEventListener("click", openCorrect);
    $("comment").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        $("reject-form").requestSubmit();
      }
    });
    $("reject-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const comment = $("comment").value.trim();
      if (!comment) return setStatus("info", "Say why: annotators see the comment.");
      decide("reject", { comment });
    });
    $("correct-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (!state.selected.size) return setStatus("info", "Choose at least one label.");
      decide("correct", { label_ids: [...state.selected] });
    });
    for (const button of $("correct-labels").querySelectorAll(".label-btn")) {
      button.addEventListener("click", () => chooseCorrect(Number(button.dataset.labelId)));
    }
    load();
  }

  init();
})();
