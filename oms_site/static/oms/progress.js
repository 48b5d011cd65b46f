/* A long job's console page (a label batch rendering, a CSV import running): poll its status every
   second, show it, and reload the page when the job is over. */
(function () {
  function poll(box, show) {
    function later(delay) { window.setTimeout(step, delay); }
    function step() {
      fetch(box.dataset.statusUrl, {credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}})
        .then(function (response) {
          if (!response.ok) { throw new Error("status " + response.status); }
          return response.json();
        })
        .then(function (status) { if (show(status)) { window.location.reload(); } else { later(1000); } })
        .catch(function () { later(3000); });
    }
    later(1000);
  }
  function text(id, value) { document.getElementById(id).textContent = value; }
  function bar(id, value, total) {
    var element = document.getElementById(id);
    element.max = total || 1;
    element.value = value;
  }

  var batch = document.getElementById("batch-progress-box");
  if (batch && batch.dataset.finished !== "true") {
    poll(batch, function (status) {
      bar("batch-progress", status.rendered, status.total);
      text("batch-progress-text", status.rendered + " of " + status.total +
        (status.total === 1 ? " label (" : " labels (") + status.percent + "%)");
      text("batch-status", status.status_label);
      document.getElementById("batch-status").dataset.status = status.status;
      return status.finished;
    });
  }

  var job = document.getElementById("import-progress-box");
  if (job && job.dataset.running === "true") {
    poll(job, function (status) {
      bar("import-progress", status.processed, status.total);
      text("import-progress-text", status.processed + " of " + status.total + " rows (" + status.percent + "%)");
      text("import-status", status.status_label);
      text("count-created", status.created);
      text("count-skipped", status.skipped);
      text("count-refused", status.refused);
      return !status.running;
    });
  }
})();
