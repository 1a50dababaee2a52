// Live job progress and the live budget gauge. Both poll a JSON status (same-origin, the
// session cookie) and update the page; everything else in the console works without
// script, and so do these pages (they show the figures as of their loading).
(function () {
  "use strict";
  function text(id, value) {
    var el = document.getElementById(id);
    if (el) el.textContent = value;
  }
  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); });
  }

  // A job's page: reloads once the job has ended so that its release link and the final
  // spend show.
  var job = document.getElementById("job");
  if (job && job.dataset.terminal !== "yes") {
    var jobUrl = job.dataset.statusUrl;
    var pollJob = function () {
      getJson(jobUrl)
        .then(function (s) {
          text("job-state", s.state);
          text("job-stage", s.stage || "–");
          var bar = document.getElementById("job-progress");
          if (bar) bar.value = s.progress;
          text("job-percent", s.progress + "%");
          if (s.epsilon_spent !== null) text("job-epsilon", Number(s.epsilon_spent).toPrecision(4));
          if (s.terminal) { window.location.reload(); return; }
          window.setTimeout(pollJob, 1000);
        })
        .catch(function () { window.setTimeout(pollJob, 5000); });
    };
    window.setTimeout(pollJob, 500);
  }

  // A source's page: the budget gauge follows the ledger while a job on the source holds
  // a reservation, and stops once every reservation is settled.
  var budget = document.getElementById("budget");
  if (budget && budget.dataset.open === "yes") {
    var budgetUrl = budget.dataset.statusUrl;
    var bar = function (id, x, width) {
      var rect = document.getElementById(id);
      if (!rect) return;
      rect.setAttribute("x", String(x));
      rect.setAttribute("width", String(width));
    };
    var pollBudget = function () {
      getJson(budgetUrl)
        .then(function (g) {
          bar("gauge-spent", 0, g.spent);
          bar("gauge-reserved", g.spent, g.reserved);
          bar("gauge-left", g.spent + g.reserved, g.left);
          text("eps-spent", g.text.spent);
          text("eps-reserved", g.text.reserved);
          text("eps-left", g.text.left);
          text("eps-cap", g.text.cap);
          text("delta-used", g.text.delta);
          text("epsilon-left", g.text.left + " left of " + g.text.cap);
          var gauge = document.getElementById("gauge");
          if (gauge) {
            gauge.setAttribute("aria-label", "epsilon: " + g.text.spent + " spent, " +
              g.text.reserved + " reserved, " + g.text.left + " left of " + g.text.cap);
          }
          var epsilon = document.getElementById("epsilon");
          if (epsilon) epsilon.max = g.epsilon_remaining;
          budget.dataset.open = g.open_jobs ? "yes" : "no";
          text("budget-live", g.open_jobs ? g.open_jobs + " job(s) open: the gauge follows them." :
            "Every job on this source has settled.");
          if (g.open_jobs) window.setTimeout(pollBudget, 2000);
        })
        .catch(function () { window.setTimeout(pollBudget, 5000); });
    };
    window.setTimeout(pollBudget, 1000);
  }
})();
