// Project setup wizard: every write goes through the JSON API (session cookie + CSRF token), so the rules
// and their messages stay in the services. Pages are rendered by Django; after a change the page reloads
// and shows what happened (kept in sessionStorage across the reload).
"use strict";

(() => {
  const MESSAGE_KEY = "loupe-wizard-message";
  const POLL_MS = 600;
  const SLOW_QUEUE_MS = 15000;

  // --- plumbing -----------------------------------------------------------------------------------

  const { call, el, NetworkError } = window.Loupe;

  /** One API call; resolves to {ok, status, data} with a `detail` sentence on every failure, and never throws
   * (a network failure is status 0). */
  async function api(method, url, body) {
    let result;
    try {
      result = await call(method, url, body);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      return { ok: false, status: 0, data: { detail: "The server could not be reached. Check the connection and try again." } };
    }
    let data = result.data;
    if (!result.ok && data === null) data = { detail: `The server answered ${result.status}.` };
    if (result.status === 401 || result.status === 403) {
      data = { detail: (data && data.detail) || "You are not allowed to do this; are you still logged in?" };
    }
    return { ok: result.ok, status: result.status, data };
  }

  function messagesOf(value) {
    if (Array.isArray(value)) return value.flatMap(messagesOf);
    if (value && typeof value === "object") {
      return Object.entries(value).flatMap(([key, inner]) => messagesOf(inner).map((m) => `${key}: ${m}`));
    }
    return [String(value).replace(/^Value error, /, "")];
  }

  /** The error slot for a field path; schema errors may lead with the operation ("add_label.label.name"),
   * so leading parts are dropped until a slot matches ("label.name"). */
  function slotFor(form, key) {
    const parts = key.split(".");
    for (let start = 0; start < parts.length; start++) {
      const path = parts.slice(start).join(".");
      for (const slot of form.querySelectorAll("[data-error-for]")) {
        if (slot.dataset.errorFor.split(" ").includes(path)) return slot;
      }
    }
    return null;
  }

  function clearErrors(form) {
    for (const slot of form.querySelectorAll("[data-error-for]")) slot.textContent = "";
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }

  /** Show an API error body ({field.path: [messages]} or {detail}) next to the fields it names. */
  function showErrors(form, data) {
    clearErrors(form);
    const general = slotFor(form, "detail");
    let firstInvalid = null;
    for (const [key, value] of Object.entries(data || { detail: "Something went wrong." })) {
      const text = messagesOf(value).join(" ");
      const slot = slotFor(form, key);
      if (!slot) {
        if (general) general.textContent = `${general.textContent} ${key}: ${text}`.trim();
        continue;
      }
      slot.textContent = `${slot.textContent} ${text}`.trim();
      const input = slot.id && form.querySelector(`[aria-describedby~="${slot.id}"]`);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        firstInvalid = firstInvalid || input;
      }
    }
    if (firstInvalid && firstInvalid.tagName !== "FIELDSET") firstInvalid.focus();
  }

  function setBusy(form, busy) {
    for (const button of form.querySelectorAll("button")) button.disabled = busy;
    form.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function reloadWith(message, url) {
    sessionStorage.setItem(MESSAGE_KEY, message);
    if (url) window.location.assign(url);
    else window.location.reload();
  }

  function showStoredMessage() {
    const message = sessionStorage.getItem(MESSAGE_KEY);
    if (!message) return;
    sessionStorage.removeItem(MESSAGE_KEY);
    document.getElementById("wizard-message").textContent = message;
  }

  function plural(n, word) {
    return `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;
  }

  // --- step 1: the project ------------------------------------------------------------------------

  function initDetails(root, apiBase) {
    const form = document.getElementById("details-form");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const fields = new FormData(form);
      setBusy(form, true);
      const result = form.dataset.mode === "create" ? await createProject(form, fields) : await updateProject(form, fields, apiBase);
      setBusy(form, false);
      if (!result.ok) showErrors(form, result.data);
    });
  }

  async function createProject(form, fields) {
    const body = {
      name: fields.get("name"),
      data_kind: fields.get("data_kind"),
      task_type: fields.get("task_type"),
      instructions: fields.get("instructions"),
    };
    const result = await api("POST", form.dataset.createUrl, body);
    if (result.ok) {
      const next = form.dataset.nextUrl.replace("/projects/0/", `/projects/${result.data.id}/`);
      reloadWith(`Project “${result.data.name}” created. Next, add its data.`, next);
    }
    return result;
  }

  async function updateProject(form, fields, apiBase) {
    const result = await api("PATCH", apiBase, { name: fields.get("name"), instructions: fields.get("instructions") });
    if (!result.ok) return result;
    if (fields.get("task_type") !== form.dataset.taskType) {
      const change = await api("POST", `${apiBase}schema/changes/`, { op: "set_task_type", task_type: fields.get("task_type") });
      if (!change.ok) return change;
    }
    reloadWith("Project details saved.");
    return result;
  }

  // --- step 2: data -------------------------------------------------------------------------------

  function initUpload(root, apiBase) {
    const tableForm = document.getElementById("table-form");
    if (tableForm) initTableUpload(tableForm, apiBase);
    const imagesForm = document.getElementById("images-form");
    if (imagesForm) initImagesUpload(imagesForm, apiBase);
    // A reload while an import runs picks its progress up again.
    const running = document.querySelector('tr[data-job-status="queued"], tr[data-job-status="running"]');
    if (running) followImport(`${apiBase}imports/${running.dataset.jobId}/`);
  }

  function initImagesUpload(form, apiBase) {
    const input = form.querySelector('input[type="file"]');
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (!input.files.length) {
        showErrors(form, { files: ["Choose a zip archive or some image files first."] });
        return;
      }
      const body = new FormData();
      for (const file of input.files) body.append("files", file);
      body.append("mode", form.elements.mode.value);
      body.append("options", JSON.stringify({ labels_from_folders: form.elements.labels_from_folders.checked }));
      await startImport(form, apiBase, body);
    });
  }

  function initTableUpload(form, apiBase) {
    const input = document.getElementById("table-file");
    const start = document.getElementById("start-import");
    let columns = [];
    let preview = null;

    input.addEventListener("change", async () => {
      clearErrors(form);
      document.getElementById("preview").hidden = true;
      start.disabled = true;
      columns = [];
      if (!input.files.length) return;
      const body = new FormData();
      body.append("file", input.files[0]);
      const loading = document.getElementById("preview-loading");
      loading.hidden = false;
      const result = await api("POST", `${apiBase}imports/preview/`, body);
      loading.hidden = true;
      if (!result.ok) {
        showErrors(form, result.data);
        return;
      }
      columns = result.data.columns;
      preview = result.data;
      renderPreview(form, preview);
      warnUnknownLabels(form, preview);
      start.disabled = false;
    });

    for (const select of [form.elements.id_column, form.elements.label_column]) {
      select.addEventListener("change", () => syncColumnChoices(form));
    }
    form.elements.label_column.addEventListener("change", () => warnUnknownLabels(form, preview));

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!columns.length) return;
      const chosen = (kind) => [...form.querySelectorAll(`input[data-kind="${kind}"]`)].filter((box) => box.checked && !box.disabled).map((box) => box.value);
      setBusy(form, true);
      const change = await api("POST", `${apiBase}schema/changes/`, {
        op: "set_columns",
        shown_columns: chosen("shown"),
        feature_columns: chosen("feature"),
      });
      if (!change.ok) {
        setBusy(form, false);
        showErrors(form, change.data);
        return;
      }
      const options = {};
      if (form.elements.id_column.value) options.id_column = form.elements.id_column.value;
      if (form.elements.label_column.value) options.label_column = form.elements.label_column.value;
      const changed = [...form.querySelectorAll("select[data-column-type]")].filter((s) => s.value !== s.dataset.inferred);
      if (changed.length) options.column_types = Object.fromEntries(changed.map((s) => [s.dataset.columnType, s.value]));
      if (form.elements.accept_schema_changes.checked) options.accept_schema_changes = true;
      const body = new FormData();
      body.append("files", input.files[0]);
      body.append("mode", form.elements.mode.value);
      body.append("options", JSON.stringify(options));
      await startImport(form, apiBase, body);
    });
  }

  /** The project's current columns and label names, as the page was rendered. */
  function tableState() {
    return JSON.parse(document.getElementById("wizard-table-state").textContent);
  }

  function renderPreview(form, preview) {
    const { shown_columns: shownBefore, feature_columns: featuresBefore } = tableState();
    const known = (list, name) => list.length === 0 || list.includes(name);
    const delimiter = preview.delimiter === "\t" ? "tab" : preview.delimiter ? `“${preview.delimiter}”` : null;
    document.getElementById("preview-summary").textContent =
      (preview.complete ? "" : "The first ") +
      `${plural(preview.row_count, "row")} and ${plural(preview.columns.length, "column")}` +
      (preview.encoding ? `, ${preview.encoding}` : "") +
      (delimiter ? `, separated by ${delimiter}` : "") +
      (preview.complete ? "" : " (types inferred from them; the import checks every row)") +
      ". Check the inferred types and choose the columns below.";

    const problems = preview.schema_problems || [];
    document.getElementById("schema-problems").hidden = problems.length === 0;
    document.getElementById("schema-problem-list").replaceChildren(...problems.map((p) => el("li", { text: p })));
    form.elements.accept_schema_changes.checked = false;

    const bad = document.getElementById("preview-bad");
    bad.hidden = preview.error_count === 0;
    document.getElementById("preview-bad-summary").textContent =
      `${plural(preview.error_count, "row")} cannot be read; with “import nothing” the import will stop on them:`;
    document.getElementById("preview-bad-list").replaceChildren(
      ...preview.errors.map((e) => el("li", { text: `${e.where}: ${e.reason}` })),
    );

    for (const select of [form.elements.id_column, form.elements.label_column]) {
      select.replaceChildren(el("option", { value: "", text: "None" }), ...preview.columns.map((c) => el("option", { value: c.name, text: c.name })));
    }

    const rows = preview.columns.map((column, index) => {
      const box = (kind, checked, label) =>
        el("input", { type: "checkbox", value: column.name, "data-kind": kind, checked, "aria-label": `${label} ${column.name}`, id: `${kind}-${index}` });
      const shown = known(shownBefore, column.name);
      const feature = featuresBefore.length ? featuresBefore.includes(column.name) : column.type !== "text";
      return el(
        "tr",
        { "data-column": column.name },
        el("th", { scope: "row" }, column.name, el("span", { class: "taken-note" })),
        el("td", {}, typeChoice(column, index)),
        el("td", {}, box("shown", shown, "Show")),
        el("td", {}, box("feature", feature, "Use as feature")),
      );
    });
    document.getElementById("column-rows").replaceChildren(...rows);

    const sample = document.getElementById("sample-rows");
    sample.tHead.rows[0].replaceChildren(...preview.columns.map((c) => el("th", { scope: "col", text: c.name })));
    sample.tBodies[0].replaceChildren(
      ...preview.rows.map((row) => el("tr", {}, ...preview.columns.map((c) => el("td", { text: row[c.name] === null ? "" : String(row[c.name]) })))),
    );
    document.getElementById("preview").hidden = false;
    syncColumnChoices(form);
  }

  /** The inferred type, which the user may change before importing (a value that does not fit is a bad row). */
  function typeChoice(column, index) {
    const select = el(
      "select",
      { id: `type-${index}`, "data-column-type": column.name, "data-inferred": column.type, "aria-label": `Type of ${column.name}` },
      ...["numeric", "boolean", "datetime", "categorical", "text"].map((kind) => el("option", { value: kind, text: kind })),
    );
    select.value = column.type;
    return select;
  }

  /** Imported labels must exist already: name the values of the first rows that are not labels yet. */
  function warnUnknownLabels(form, preview) {
    const warning = document.getElementById("label-column-warning");
    const column = form.elements.label_column.value;
    const known = new Set(tableState().label_names.map((name) => name.toLowerCase()));
    const values = preview && column ? preview.rows.map((row) => row[column]).filter((v) => v !== null && v !== "") : [];
    const unknown = [...new Set(values.map(String))].filter((v) => !known.has(v.toLowerCase()));
    warning.textContent = unknown.length
      ? `Not labels of this project yet (seen in the first rows): ${unknown.join(", ")}. Rows with unknown labels make the import fail; define the labels first.`
      : "";
    warning.hidden = unknown.length === 0;
  }

  /** The id and label columns are not item data: they cannot be shown or used as features. */
  function syncColumnChoices(form) {
    const roles = { [form.elements.id_column.value]: "the ID column", [form.elements.label_column.value]: "the label column" };
    delete roles[""];
    for (const row of document.querySelectorAll("#column-rows tr")) {
      const role = roles[row.dataset.column];
      row.classList.toggle("taken", Boolean(role));
      row.querySelector(".taken-note").textContent = role ? ` (${role})` : "";
      for (const box of row.querySelectorAll("input")) box.disabled = Boolean(role);
    }
  }

  async function startImport(form, apiBase, body) {
    setBusy(form, true);
    const result = await api("POST", `${apiBase}imports/`, body);
    if (!result.ok) {
      setBusy(form, false);
      showErrors(form, result.data);
      return;
    }
    await followImport(`${apiBase}imports/${result.data.id}/`);
    setBusy(form, false);
  }

  async function followImport(url) {
    const section = document.getElementById("import-status");
    section.hidden = false;
    const started = Date.now();
    for (;;) {
      const result = await api("GET", url);
      if (!result.ok) {
        renderFailure(messagesOf(result.data).join(" "), []);
        return;
      }
      renderJob(result.data, Date.now() - started);
      if (result.data.status === "done" || result.data.status === "failed") return;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  function renderJob(job, waited) {
    const progress = document.getElementById("import-progress");
    const message = document.getElementById("import-message");
    const unit = job.kind === "table" ? "row" : "file";
    if (job.total > 0) {
      progress.max = job.total;
      progress.value = job.processed;
    } else if (job.status === "done") {
      progress.max = 1;
      progress.value = 1;
    }
    document.getElementById("import-problems").hidden = true;
    if (job.status === "queued") {
      message.textContent = waited > SLOW_QUEUE_MS
        ? "Still waiting for a worker. Is one running? (manage.py worker_ping tells.)"
        : "Waiting for a worker to start the import…";
    } else if (job.status === "running") {
      message.textContent = job.total ? `Importing: ${job.processed.toLocaleString()} of ${plural(job.total, unit)}…` : "Reading the upload…";
    } else if (job.status === "done") {
      message.textContent =
        `Import done: ${plural(job.created_count, "item")} created, ${plural(job.duplicate_count, "duplicate")} skipped, ` +
        `${plural(job.annotation_count, "label")} imported` +
        (job.error_count ? `, ${plural(job.error_count, unit)} left out (listed below).` : ".");
      if (job.errors.length) renderFailure(job.error_count ? "Left out:" : "Skipped:", job.errors, false);
    } else {
      message.textContent = "Import failed; nothing was imported.";
      renderFailure(job.failure || "The import failed.", job.errors);
    }
  }

  function renderFailure(text, problems, isError = true) {
    const box = document.getElementById("import-problems");
    const failure = document.getElementById("import-failure");
    failure.textContent = text;
    failure.setAttribute("role", isError ? "alert" : "note");
    box.classList.toggle("is-error", isError);
    document.getElementById("import-problem-list").replaceChildren(
      ...problems.map((p) => el("li", {}, el("strong", { text: p.where }), `: ${p.reason}`)),
    );
    box.hidden = false;
  }

  // --- step 3: labels -----------------------------------------------------------------------------

  function initLabels(root, apiBase) {
    const changes = `${apiBase}schema/changes/`;
    const add = document.getElementById("add-label");
    add.addEventListener("submit", async (event) => {
      event.preventDefault();
      const f = add.elements;
      const label = { name: f.name.value, color: f.color.value, hotkey: f.hotkey.value.trim(), description: f.description.value };
      setBusy(add, true);
      const result = await api("POST", changes, { op: "add_label", label });
      setBusy(add, false);
      if (result.ok) reloadWith(`Label “${label.name.trim()}” added.`);
      else showErrors(add, result.data);
    });

    for (const form of document.querySelectorAll("form.label-edit")) {
      const labelId = Number(form.dataset.labelId);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const f = form.elements;
        const steps = [];
        if (f.name.value.trim() !== form.dataset.name) steps.push({ op: "rename_label", label_id: labelId, name: f.name.value });
        const update = { op: "update_label", label_id: labelId };
        if (f.color.value.toLowerCase() !== form.dataset.color.toLowerCase()) update.color = f.color.value;
        if (f.hotkey.value.trim() !== form.dataset.hotkey) update.hotkey = f.hotkey.value.trim();
        if (Object.keys(update).length > 2) steps.push(update);
        if (!steps.length) {
          showErrors(form, { detail: ["Nothing changed."] });
          return;
        }
        setBusy(form, true);
        for (const step of steps) {
          const result = await api("POST", changes, step);
          if (!result.ok) {
            setBusy(form, false);
            showErrors(form, result.data);
            return;
          }
        }
        reloadWith(`Label “${f.name.value.trim()}” saved.`);
      });
      form.querySelector('[data-action="retire"]').addEventListener("click", async () => {
        setBusy(form, true);
        const result = await api("POST", changes, { op: "retire_label", label_id: labelId });
        setBusy(form, false);
        if (result.ok) {
          const kept = result.data.payload.annotations_kept;
          reloadWith(`Label “${form.dataset.name}” retired; its ${plural(kept, "annotation")} are kept.`);
        } else {
          showErrors(form, result.data);
        }
      });
    }
    if (sessionStorage.getItem(MESSAGE_KEY)) document.getElementById("new-label-name").focus();
  }

  // --- step 4: people -----------------------------------------------------------------------------

  function initMembers(root, apiBase) {
    const add = document.getElementById("add-member");
    add.addEventListener("submit", async (event) => {
      event.preventDefault();
      setBusy(add, true);
      const result = await api("POST", `${apiBase}members/`, { username: add.elements.username.value.trim(), role: add.elements.role.value });
      setBusy(add, false);
      if (result.ok) reloadWith(`${result.data.username} added as ${result.data.role}.`);
      else showErrors(add, result.data);
    });

    const invite = document.getElementById("invite");
    invite.addEventListener("submit", async (event) => {
      event.preventDefault();
      setBusy(invite, true);
      const result = await api("POST", `${apiBase}invitations/`, { email: invite.elements.email.value.trim(), role: invite.elements.role.value });
      setBusy(invite, false);
      if (!result.ok) {
        showErrors(invite, result.data);
        return;
      }
      const roleLabel = invite.elements.role.selectedOptions[0].text;
      clearErrors(invite);
      invite.reset();
      showInvitation(result.data, roleLabel);
    });

    document.getElementById("copy-invite").addEventListener("click", async () => {
      const url = document.getElementById("invite-url");
      const status = document.getElementById("copy-status");
      try {
        await navigator.clipboard.writeText(url.value);
        status.textContent = "Copied.";
      } catch (error) {
        url.select();
        status.textContent = "Select the link and copy it (Ctrl+C).";
      }
    });
  }

  function showInvitation({ invitation, accept_url: acceptUrl }, roleLabel) {
    const box = document.getElementById("invite-link");
    document.getElementById("invite-link-text").textContent =
      `Invitation for ${invitation.email} (${invitation.role}) created. Send them this link: it works once, ` +
      "for 7 days, and is shown only now.";
    const url = document.getElementById("invite-url");
    url.value = acceptUrl;
    document.getElementById("copy-status").textContent = "";
    box.hidden = false;
    const table = document.querySelector('[data-testid="invitation-list"]');
    table.tBodies[0].prepend(
      el(
        "tr",
        { "data-testid": "invitation-row" },
        el("td", { text: invitation.email }),
        el("td", { text: roleLabel }),
        el("td", { text: invitation.invited_by || "" }),
        el("td", { text: `open until ${invitation.expires_at.slice(0, 10)}` }),
      ),
    );
    table.hidden = false;
    document.getElementById("no-invitations").hidden = true;
    url.focus();
    url.select();
  }

  // --- start --------------------------------------------------------------------------------------

  const STEPS = { details: initDetails, upload: initUpload, labels: initLabels, members: initMembers };

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.querySelector(".wizard");
    if (!root) return;
    const init = STEPS[root.dataset.step];
    if (init) init(root, root.dataset.api || "");
    showStoredMessage();
  });
})();
