// Helpers of the dashboard and the strategy page, on top of common.js: their configuration, API calls that throw on
// an error answer (with the API's message), progress bars, percentages, and Chart.js defaults. Display only: rules
// live in Python.
"use strict";
window.LoupeInsights = (function () {
  const config = JSON.parse(document.getElementById("insights-config").textContent);

  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.color = "#3d4555";
  Chart.defaults.font.family = "system-ui, sans-serif";
  Chart.defaults.plugins.legend.labels.usePointStyle = true; // legends show each series's marker, not only its colour

  const { call, errorText, el } = window.Loupe;

  /** The API's answer to `config.api + path`; throws an Error with the API's message, `status` and `body`. */
  async function api(path, { method = "GET", body } = {}) {
    const result = await call(method, config.api + path, body);
    if (!result.ok) {
      const error = new Error(errorText(result));
      error.status = result.status;
      error.body = result.data;
      throw error;
    }
    return result.data;
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

  return { config, api, pct, when, progressBar };
})();
