// Helpers shared by Loupe's pages: JSON calls to the API with the session's CSRF token, DOM building, and the
// record card for tabular items. Display only: every rule lives on the server.
"use strict";
window.Loupe = (function () {
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;

  class NetworkError extends Error {}

  /** fetch() an API path with a JSON body (or a FormData one, for uploads). Resolves {status, ok, data} (data:
   * the parsed answer, null when there is none or it is not JSON); rejects with NetworkError when no answer came. */
  async function call(method, url, body) {
    const form = body instanceof FormData;
    const headers = { Accept: "application/json", "X-CSRFToken": csrfToken };
    if (body !== undefined && !form) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, {
        method,
        credentials: "same-origin",
        headers,
        body: body === undefined || form ? body : JSON.stringify(body),
      });
    } catch (error) {
      throw new NetworkError(String(error));
    }
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (error) {
        data = null;
      }
    }
    return { status: response.status, ok: response.ok, data };
  }

  /** The API's error answer as one sentence. */
  function errorText(result) {
    const data = result && result.data;
    if (!data) return `The server answered ${result ? result.status : "nothing"}.`;
    if (typeof data.detail === "string") return data.detail;
    return Object.entries(data)
      .map(([field, messages]) => `${field}: ${[].concat(messages).join(" ")}`)
      .join("; ");
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /** A v4 UUID; crypto.randomUUID exists only in secure contexts, getRandomValues everywhere. */
  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** el("td", {className: "num", text: "3", dataset: {testid: "t"}, "aria-label": "..."}, child...): `text` is the
   * node's text, `className` its class, `dataset` its data-* values; every other key is an attribute, present
   * when true, left out when null, undefined or false. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 4 });
  const FOLD_AT = 180;

  /** One value of a record, formatted: numbers grouped, missing values marked, long text folded. */
  function valueNode(value, type) {
    if (value === null || value === undefined || value === "") return el("span", { className: "missing", text: "missing" });
    if (typeof value === "number") return el("span", { className: "num", text: numberFormat.format(value) });
    if (typeof value === "boolean") return el("span", { text: value ? "yes" : "no" });
    const text = String(value);
    if (type === "numeric" && text.trim() !== "" && !Number.isNaN(Number(text))) {
      return el("span", { className: "num", text: numberFormat.format(Number(text)) });
    }
    if (text.length <= FOLD_AT) return el("span", { text });
    const short = el("span", { className: "folded", text: text.slice(0, FOLD_AT).trimEnd() + "…" });
    const toggle = el("button", { type: "button", className: "link-button", text: "Show all", "aria-expanded": "false" });
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      short.textContent = open ? text : text.slice(0, FOLD_AT).trimEnd() + "…";
      toggle.textContent = open ? "Show less" : "Show all";
    });
    return el("span", { className: "long-text" }, short, " ", toggle);
  }

  /** Fill a <dl> with the shown columns of a tabular item (every key of its data when none are chosen). */
  function renderRecord(dl, data, columns, types) {
    dl.replaceChildren();
    const names = columns && columns.length ? columns : Object.keys(data || {});
    for (const name of names) {
      const row = el("div", { className: "field" }, el("dt", { text: name }), el("dd", {}, valueNode((data || {})[name], types[name])));
      dl.append(row);
    }
  }

  return { call, errorText, sleep, uuid, el, renderRecord, NetworkError };
})();
