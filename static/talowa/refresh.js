// Reload a page while a job it shows is under way (the server marks it with
// data-refresh-seconds on <body>'s #talowa-refresh element); stop when the
// reloaded page no longer shows one. Never reload under someone's selection.
(function () {
  "use strict";
  var marker = document.getElementById("talowa-refresh");
  if (!marker) { return; }
  var seconds = parseInt(marker.getAttribute("data-refresh-seconds"), 10) || 5;
  function busy() {
    return document.querySelector("input.action-select:checked, form.dirty") !== null;
  }
  window.setTimeout(function tick() {
    if (busy()) { window.setTimeout(tick, seconds * 1000); return; }
    window.location.reload();
  }, seconds * 1000);
})();
