// API tokens page: select a freshly created key so it can be copied at once.
"use strict";
(function () {
  const key = document.getElementById("new-key");
  if (key) {
    key.focus();
    key.select();
  }
})();
