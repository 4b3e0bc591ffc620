// Helpers of the dashboard and the strategy page: their configuration, JSON calls that throw on an error answer
// (with the API's message), DOM building, progress bars, percentages, and Chart.js defaults. Display only: rules live in Python.
"use strict";
window.LoupeInsights = (function () {
  const config = JSON.parse(document.getElementById("insights-config").textContent);

  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.color = "#3d4555";
  Chart.defaults.font.family = "system-ui, sans-serif";
  Chart.defaults.plugins.legend.labels.usePointStyle = true; // legends show each series's marker, not only its colour

  /** The API's answer to `config.api + path`; throws an Error with the API's message, `status` and `body`. */
  async function api(path, options = {}) {
    const response = await fetch(config.api + path, {
      credentials: "same-origin",
      ...options,
      headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": config.csrf },
    });
    const body = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error(errorText(response.status, body));
      error.status = response.status;
      error.body = body;
      throw error;
    }
    return body;
  }

  function errorText(status, body) {
    if (body && body.detail) return body.detail;
    if (body && typeof body === "object") {
      return Object.entries(body).map(([field, messages]) => `${field}: ${[].concat(messages).join(" ")}`).join("; ");
    }
    return `The server answered ${status}.`;
  }

  /** el("td", {className: "num", text: "3", "aria-label": "..."}, child...); null/false attributes are left out. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  /** A progress bar for a run: `share` in 0..1, announced to assistive technology as `label`. */
  function progressBar(status, share, label) {
    const percent = Math.round(100 * share);
    const bar = el("div", {
      className: `progress ${status}`,
      role: "progressbar",
      "aria-valuemin": 0,
      "aria-valuemax": 100,
      "aria-valuenow": percent,
      "aria-label": label,
    }, el("span"));
    bar.firstChild.style.width = `${percent}%`;
    return bar;
  }

  const pct = (x, digits = 1) => (x === null || x === undefined ? "—" : `${(100 * x).toFixed(digits)}%`);
  const when = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" }) : "—");

  return { config, api, el, pct, when, progressBar };
})();
