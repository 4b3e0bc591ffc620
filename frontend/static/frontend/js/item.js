// The item page: the item, its final label, the model's view and why, every answer, the history with comments, and
// a reviewer's correction. Display only: the server decides what the final label is and who may correct it.
"use strict";
(function () {
  const { call, errorText, el, renderRecord, NetworkError } = window.Loupe;
  const config = JSON.parse(document.getElementById("item-config").textContent);
  const api = `${config.api}items/${config.item_id}/`;
  const $ = (id) => document.getElementById(id);
  const labelName = (id) => config.all_labels[id] || `#${id}`;
  const names = (ids) => (ids && ids.length ? ids.map(labelName).join(", ") : "none");
  const pct = (value) => (value === null || value === undefined ? "—" : `${Math.round(value * 100)}%`);
  const when = (iso) => new Date(iso).toLocaleString();
  const EVENT_WORDS = {
    submitted: "answered",
    edited: "changed their answer to",
    undone: "took back their answer",
    skipped: "skipped it",
    accepted: "accepted the answers",
    rejected: "rejected the answers",
    corrected: "corrected the label to",
    to_review: "sent it to review",
    requeued: "re-queued it",
    prioritized: "raised its priority",
  };

  async function get(path) {
    try {
      return await call("GET", path);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      return { ok: false, status: 0, data: { detail: "Cannot reach Loupe." } };
    }
  }

  async function load() {
    const [story, answers, history] = await Promise.all([get(`${api}story/`), get(`${api}annotations/`), get(`${api}history/`)]);
    if (!story.ok) {
      $("final").textContent = `Could not load the item: ${errorText(story)}`;
      return;
    }
    renderItem(story.data);
    renderModel(story.data);
    $("answers").replaceChildren(
      ...(answers.ok && answers.data.length
        ? answers.data.map((a) => el("li", { text: `${a.annotator}: ${names(a.label_ids)}${a.status === "rejected" ? " (set aside)" : ""}` }))
        : [el("li", { className: "hint", text: "No answers yet." })]),
    );
    $("history").replaceChildren(
      ...(history.ok && history.data.length
        ? history.data.map((e) => {
            const labels = e.label_ids.length ? ` ${names(e.label_ids)}` : "";
            const comment = e.comment ? ` — “${e.comment}”` : "";
            return el("li", { text: `${when(e.created_at)}: ${e.actor} ${EVENT_WORDS[e.kind] || e.kind}${labels}${comment}` });
          })
        : [el("li", { className: "hint", text: "Nothing has happened to this item yet." })]),
    );
  }

  function renderItem(story) {
    const item = story.item;
    if (item.image_url) {
      $("image").src = item.image_url;
      $("image-box").hidden = false;
    } else {
      renderRecord($("record"), item.data, config.project.shown_columns, config.project.column_types);
      $("record").hidden = false;
    }
    const review = story.review_status === "unreviewed" ? "not reviewed" : story.review_status;
    const skips = story.skips ? `, skipped ${story.skips} time${story.skips === 1 ? "" : "s"}` : "";
    $("state").textContent = `${item.status === "done" ? "Has all its answers" : "Needs answers"}, ${review}${skips}.`;
    $("final").textContent = story.final_label_ids.length ? names(story.final_label_ids) : "None yet (no answers, or no majority).";
    for (const button of document.querySelectorAll(".correct-labels button")) {
      button.setAttribute("aria-pressed", String(story.final_label_ids.includes(Number(button.dataset.labelId))));
    }
  }

  function renderModel(story) {
    const model = story.model;
    if (!model) {
      $("model").textContent = "Not in the current ranking: the model scores the items waiting in the queue's head.";
    } else {
      const suggestion = model.suggestion.length ? `suggests ${names(model.suggestion)} with ${pct(model.confidence)} confidence` : "makes no suggestion yet";
      $("model").textContent =
        `The model ${suggestion}. Queue place ${model.rank}: ${model.reason || model.picked_by}. ` +
        `Uncertainty ${pct(model.uncertainty)}, novelty ${pct(model.novelty)}, typicality ${pct(model.typicality)}.`;
    }
    const issue = story.label_issue;
    $("issue").hidden = !issue;
    if (issue) {
      $("issue").textContent =
        `Possible mistake: labeled ${names(issue.given_label_ids)}, but the model says ${labelName(issue.suggested_label_id)} ` +
        `(${pct(issue.confidence)} sure; ${pct(issue.quality)} for the given label).`;
    }
  }

  for (const button of document.querySelectorAll(".correct-labels button")) {
    button.addEventListener("click", () => {
      const pressed = button.getAttribute("aria-pressed") !== "true";
      if (!config.project.multi_label) {
        for (const other of document.querySelectorAll(".correct-labels button")) other.setAttribute("aria-pressed", "false");
      }
      button.setAttribute("aria-pressed", String(pressed));
    });
  }

  $("correct-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = [...document.querySelectorAll('.correct-labels button[aria-pressed="true"]')].map((b) => Number(b.dataset.labelId));
    if (!chosen.length) {
      $("correct-status").textContent = "Choose the right label first.";
      return;
    }
    let result;
    try {
      result = await call("POST", `${api}correct/`, { label_ids: chosen, comment: $("correct-comment").value });
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      $("correct-status").textContent = "Cannot reach Loupe: the correction was not saved.";
      return;
    }
    if (!result.ok) {
      $("correct-status").textContent = `Not saved: ${errorText(result)}`;
      return;
    }
    $("correct-status").textContent = `Saved: the final label is now ${names(result.data.label_ids)}.`;
    $("correct-comment").value = "";
    await load();
  });

  load();
})();
