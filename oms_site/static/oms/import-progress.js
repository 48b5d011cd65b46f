/* Poll the job's status every second while it runs; reload when the phase is over. */
(function () {
  var box = document.getElementById("import-progress-box");
  if (!box || box.dataset.running !== "true") { return; }
  var bar = document.getElementById("import-progress");
  var text = document.getElementById("import-progress-text");
  var label = document.getElementById("import-status");
  function poll() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (status) {
        bar.max = status.total || 1;
        bar.value = status.processed;
        text.textContent = status.processed + " of " + status.total + " rows (" + status.percent + "%)";
        label.textContent = status.status_label;
        document.getElementById("count-created").textContent = status.created;
        document.getElementById("count-skipped").textContent = status.skipped;
        document.getElementById("count-refused").textContent = status.refused;
        if (!status.running) { window.location.reload(); } else { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
})();
