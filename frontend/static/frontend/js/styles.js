// Colours and widths that come from data (label colours, progress bars) are set here through the DOM: the
// Content-Security-Policy refuses inline style attributes, so templates give them as data attributes.
"use strict";
(function () {
  for (const node of document.querySelectorAll("[data-label-color]")) {
    node.style.setProperty("--label-color", node.dataset.labelColor);
  }
  for (const node of document.querySelectorAll("[data-background]")) node.style.background = node.dataset.background;
  for (const node of document.querySelectorAll("[data-width-percent]")) {
    node.style.width = `${node.dataset.widthPercent}%`;
  }
})();
