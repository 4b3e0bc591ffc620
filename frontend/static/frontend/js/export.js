// The export page: start an export job with a format and filters, follow its progress, download the file when it
// is done; earlier exports are listed with their links.
"use strict";
(function () {
  const { call, errorText, el, sleep, NetworkError } = window.Loupe;
  const config = JSON.parse(document.getElementById("export-config").textContent);
  const api = config.api;
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 700;
  const jobs = new Map(); // id -> the job as the API last described it
  const polling = new Set();

  function announce(text) {
    $("export-status").textContent = text;
  }

  /** The filters the form describes, as schemas.ExportFilters wants them (empty fields left out). */
  function filters(form) {
    const data = new FormData(form);
    const out = {};
    for (const name of ["status", "label", "annotator"]) if (data.get(name)) out[name] = data.get(name);
    for (const name of ["agreement_min", "agreement_max"]) if (data.get(name) !== "") out[name] = Number(data.get(name));
    // Dates are the annotator's local days: from the start of the first to the end of the last.
    if (data.get("annotated_after")) out.annotated_after = new Date(`${data.get("annotated_after")}T00:00:00`).toISOString();
    if (data.get("annotated_before")) out.annotated_before = new Date(`${data.get("annotated_before")}T23:59:59.999`).toISOString();
    return out;
  }

  function describe(filters) {
    const parts = Object.entries(filters || {}).map(([name, value]) => `${name.replace("_", " ")}: ${value}`);
    return parts.length ? parts.join(", ") : "all items";
  }

  function render() {
    const rows = [...jobs.values()].sort((a, b) => b.id - a.id);
    $("no-exports").hidden = rows.length > 0;
    $("exports").replaceChildren(
      ...rows.map((job) => {
        const share = job.total ? Math.round((100 * job.processed) / job.total) : job.status === "done" ? 100 : 0;
        const bar = el("div", { className: "bar", role: "progressbar", "aria-label": `Export ${job.id} progress` }, el("span"));
        bar.setAttribute("aria-valuemin", "0");
        bar.setAttribute("aria-valuemax", "100");
        bar.setAttribute("aria-valuenow", String(share));
        bar.firstChild.style.width = `${share}%`;
        const badge = el("span", { className: `badge ${{ done: "ok", failed: "bad" }[job.status] || ""}`, text: job.status });
        const progress = el("td", { dataset: { testid: "export-progress" } }, bar, badge, ` ${job.processed} / ${job.total}`);
        let file = el("td", { className: "subtle", text: job.status === "failed" ? job.failure : "—" });
        if (job.download_url) {
          file = el("td", {}, el("a", { href: job.download_url, text: `Download ${job.format}`, download: "" }));
        }
        return el(
          "tr",
          { dataset: { testid: "export-row", status: job.status } },
          el("td", { className: "num", text: String(job.id) }),
          el("td", { text: job.format }),
          el("td", { text: describe(job.filters) }),
          el("td", { text: new Date(job.created_at).toLocaleString() }),
          progress,
          file,
        );
      }),
    );
  }

  async function follow(id) {
    if (polling.has(id)) return;
    polling.add(id);
    try {
      for (;;) {
        await sleep(POLL_MS);
        let result;
        try {
          result = await call("GET", `${api}exports/${id}/`);
        } catch (error) {
          if (!(error instanceof NetworkError)) throw error;
          continue; // a blip: ask again
        }
        if (!result.ok) return;
        jobs.set(id, result.data);
        render();
        if (result.data.status === "done" || result.data.status === "failed") {
          announce(`Export ${id} ${result.data.status === "done" ? "is ready to download" : "failed"}.`);
          return;
        }
      }
    } finally {
      polling.delete(id);
    }
  }

  async function start(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const error = $("form-error");
    error.hidden = true;
    const button = $("start-export");
    button.disabled = true;
    let result;
    try {
      result = await call("POST", `${api}exports/`, { format: new FormData(form).get("format"), filters: filters(form) });
    } catch (failure) {
      if (!(failure instanceof NetworkError)) throw failure;
      result = null;
    } finally {
      button.disabled = false;
    }
    if (!result || !result.ok) {
      error.textContent = result ? errorText(result) : "Cannot reach Loupe: nothing was started.";
      error.hidden = false;
      return;
    }
    jobs.set(result.data.id, result.data);
    render();
    announce(`Export ${result.data.id} started.`);
    follow(result.data.id);
  }

  async function init() {
    $("export-form").addEventListener("submit", start);
    let result;
    try {
      result = await call("GET", `${api}exports/`);
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error;
      return;
    }
    if (!result.ok) return;
    for (const job of result.data) jobs.set(job.id, job);
    render();
    for (const job of result.data) if (job.status === "queued" || job.status === "running") follow(job.id);
  }

  init();
})();
