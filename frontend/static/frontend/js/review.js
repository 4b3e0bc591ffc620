// The review page: the review queue (disagreements first) or the model's label issues ("Model disagrees"), each
// item's answers, and a decision by keyboard: A accept, R reject with a comment, C correct (choose the labels),
// J/K move.
"use strict";
(function () {
  const { call, errorText, el, renderRecord, NetworkError } = window.Loupe;
  const config = JSON.parse(document.getElementById("review-config").textContent);
  const api = config.api;
  const project = config.project;
  const labelByKey = new Map(config.labels.filter((label) => label.key).map((label) => [label.key, label.id]));
  const $ = (id) => document.getElementById(id);
  const PAGE = 100;

  const state = {
    items: [],
    count: 0,
    index: 0,
    mode: "view",
    answers: [],
    selected: new Set(),
    busy: false,
    loads: 0, // the latest load(), so an older answer arriving late is dropped
    source: "queue", // "queue" (the review queue) or "issues" (the model's label issues)
  };
  const EMPTY = {
    queue: "Nothing waits for review.",
    issues: "The model flags no labels: it agrees with them all, or no ranking has looked for label issues yet.",
  };

  function setStatus(kind, text) {
    $("sync").dataset.state = kind;
    $("sync").textContent = text;
  }

  function labelName(id) {
    return config.all_labels[id] || `#${id}`;
  }

  async function load() {
    const ticket = ++state.loads;
    const issues = $("order").value === "issues";
    const url = issues
      ? `${api}learning/label-issues/?limit=${PAGE}`
      : `${api}review/queue/?order=${encodeURIComponent($("order").value)}&limit=${PAGE}`;
    let result;
    try {
      result = await call("GET", url);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      return setStatus("failed-hard", "Cannot reach Loupe: reload the page to try again.");
    }
    if (ticket !== state.loads) return; // the order changed meanwhile
    const what = issues ? "the model's label issues" : "the review queue";
    if (!result.ok) return setStatus("failed-hard", `Could not load ${what}: ${errorText(result)}`);
    if (issues) {
      // An item sent back since the ranking is no longer done, so it cannot be reviewed: leave it out.
      const rows = result.data.results;
      state.items = rows.filter((row) => row.item.status === "done").map((row) => ({ ...row.item, issue: row }));
      state.count = result.data.count - (rows.length - state.items.length);
    } else {
      state.items = result.data.results;
      state.count = result.data.count;
    }
    state.source = issues ? "issues" : "queue";
    $("queue-empty").textContent = EMPTY[state.source];
    select(0);
  }

  function percent(value) {
    return `${Math.round(value * 100)}%`;
  }

  /** An item's review decision from its history ("accepted", "corrected"), or "" while it awaits one. */
  function reviewedAs(events) {
    const last = events.filter((event) => event.kind === "accepted" || event.kind === "corrected").pop();
    return last ? last.kind : "";
  }

  function renderQueue() {
    const list = $("queue");
    list.replaceChildren(
      ...state.items.map((item, index) => {
        const button = el("button", { type: "button", text: item.external_id || `#${item.id}` });
        if (item.reviewed) button.append(el("span", { className: "subtle", text: item.reviewed }));
        else if (item.issue) button.append(el("span", { className: "subtle", text: percent(item.issue.confidence) }));
        if (index === state.index) button.setAttribute("aria-current", "true");
        button.addEventListener("click", () => select(index));
        return el("li", {}, button);
      }),
    );
    $("queue-empty").hidden = state.items.length > 0;
    $("queue-count").textContent = `${state.count} ${state.source === "issues" ? "flagged by the model" : "to review"}`;
  }

  async function select(index) {
    closeForms();
    state.index = Math.max(0, Math.min(index, state.items.length - 1));
    renderQueue();
    const item = state.items[state.index];
    const none = item === undefined;
    $("image-box").hidden = none || project.data_kind !== "image";
    $("record").hidden = none || project.data_kind !== "tabular";
    setDecidable(!none && !item.issue);
    $("model-view").hidden = true;
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
    let result, history;
    try {
      // A label issue may have been reviewed since the ranking found it; deciding again would be refused.
      [result, history] = await Promise.all([
        call("GET", `${api}items/${item.id}/annotations/`),
        item.issue ? call("GET", `${api}items/${item.id}/history/`) : null,
      ]);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      return setStatus("failed-hard", "Cannot reach Loupe: the answers could not be loaded.");
    }
    if (state.items[state.index] !== item) return; // moved on meanwhile
    state.answers = result.ok ? result.data.filter((answer) => answer.status === "active") : [];
    if (history) {
      if (!history.ok) return setStatus("failed-hard", `Could not load the item's history: ${errorText(history)}`);
      item.reviewed = reviewedAs(history.data);
      setDecidable(!item.reviewed);
      if (item.reviewed) renderQueue();
    }
    renderAnswers();
  }

  function setDecidable(decidable) {
    for (const id of ["accept-btn", "reject-btn", "correct-btn"]) $(id).disabled = !decidable;
  }

  /** Whether the current item can be decided now: a label issue only once its history shows no review. */
  function decidable() {
    const item = state.items[state.index];
    if (!item) return false;
    if (item.issue && item.reviewed === undefined) return false; // still checking; the buttons are disabled
    if (item.reviewed) setStatus("info", `Already reviewed (${item.reviewed}): nothing to decide.`);
    return !item.reviewed;
  }

  function renderModelView(item) {
    const { given_label_ids: given, suggested_label_id: suggested, confidence } = item.issue;
    $("model-view").replaceChildren(
      "Given: ",
      el("strong", { text: given.map(labelName).join(", ") }),
      ". Model suggests ",
      el("strong", { text: labelName(suggested) }),
      ` (${percent(confidence)} confident). `,
      el("kbd", { text: "F" }),
      " fixes it to the model's label.",
      item.reviewed ? ` Already reviewed (${item.reviewed}).` : "",
    );
    $("model-view").hidden = false;
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
    const item = state.items[state.index];
    if (item && item.issue) renderModelView(item);
  }

  function closeForms() {
    state.mode = "view";
    $("reject-form").hidden = true;
    $("correct-form").hidden = true;
  }

  function openReject() {
    if (!decidable()) return;
    closeForms();
    state.mode = "reject";
    $("reject-form").hidden = false;
    $("comment").value = "";
    $("comment").focus();
  }

  function openCorrect() {
    if (!decidable()) return;
    closeForms();
    state.mode = "correct";
    const item = state.items[state.index];
    if (item.issue) {
      state.selected = new Set([item.issue.suggested_label_id]); // C, Enter: take the model's suggestion
    } else {
      // Start from the most common answer: a correction usually changes one label.
      const counts = new Map();
      for (const answer of state.answers) counts.set(answer.label_ids.join(","), (counts.get(answer.label_ids.join(",")) || 0) + 1);
      const best = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
      state.selected = new Set(best ? best[0].split(",").filter(Boolean).map(Number) : []);
    }
    renderCorrect();
    $("correct-form").hidden = false;
    const labelButtons = $("correct-labels");
    const first = labelButtons.querySelector('.label-btn[aria-pressed="true"]') || labelButtons.querySelector(".label-btn");
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
    if (state.busy || !decidable()) return;
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

  /** F on an item the model flags: correct it to the model's label in one key. */
  function fixWithSuggestion() {
    const item = state.items[state.index];
    if (!item || !item.issue) return setStatus("info", "F fixes items the model flags: choose \u201cModel disagrees\u201d.");
    decide("correct", { label_ids: [item.issue.suggested_label_id], comment: "Fixed to the model's label." });
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
      f: fixWithSuggestion,
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
