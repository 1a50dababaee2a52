// Live job progress: polls the job's status (same-origin, the session cookie) and
// updates the page; reloads once the job has ended so that its release link and the
// final spend show. Everything else in the console works without script.
(function () {
  "use strict";
  var job = document.getElementById("job");
  if (!job || job.dataset.terminal === "yes") return;
  var url = job.dataset.statusUrl;
  function text(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = value;
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (s) {
        text("job-state", s.state);
        text("job-stage", s.stage || "–");
        var bar = document.getElementById("job-progress");
        if (bar) bar.value = s.progress;
        text("job-percent", s.progress + "%");
        if (s.epsilon_spent !== null) text("job-epsilon", Number(s.epsilon_spent).toPrecision(4));
        if (s.terminal) { window.location.reload(); return; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 500);
})();
