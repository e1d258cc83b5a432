// The dashboard's live parts: while a job runs, fetch them every few seconds
// from the staff-only endpoint (data-live-url) and replace them in place; stop
// when nothing runs. Its buttons POST in the background (with the CSRF token)
// and start the refreshing; without this script they are ordinary forms.
(function () {
  "use strict";
  var live = document.getElementById("dashboard-live");
  if (!live) { return; }
  var url = live.getAttribute("data-live-url");
  var message = document.getElementById("dashboard-message");
  var SECONDS = 3;
  var timer = null;

  function running() { return live.getAttribute("data-running") === "true"; }

  function refresh() {
    timer = null;
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (body) {
        var open = Array.prototype.map.call(
          live.querySelectorAll("details[open]"), function (d) { return d.parentNode.parentNode.id; });
        live.innerHTML = body.html;
        open.forEach(function (id) {
          var details = id && document.querySelector("#" + id + " details");
          if (details) { details.open = true; }
        });
        live.setAttribute("data-running", body.running ? "true" : "false");
        schedule();
      })
      .catch(function () { schedule(SECONDS * 3); });
  }

  function schedule(seconds) {
    if (timer === null && running()) {
      timer = window.setTimeout(refresh, (seconds || SECONDS) * 1000);
    }
  }

  function say(text, level) {
    if (!message) { return; }
    message.className = level || "";
    message.textContent = text;
  }

  document.querySelectorAll("form.dashboard-action").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button");
      button.disabled = true;
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: {"Accept": "application/json"}
      })
        .then(function (response) {
          return response.json().catch(function () {
            return {message: "The server refused (HTTP " + response.status + ").", level: "error"};
          });
        })
        .then(function (body) { say(body.message, body.level); })
        .catch(function () { say("The server could not be reached; try again.", "error"); })
        .then(function () {
          button.disabled = false;
          if (timer !== null) { window.clearTimeout(timer); timer = null; }
          live.setAttribute("data-running", "true");
          refresh();
        });
    });
  });

  schedule();
})();
