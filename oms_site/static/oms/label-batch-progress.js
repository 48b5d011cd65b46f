/* Poll the batch's status every second while it renders; reload when it is done (or failed). */
(function () {
  var box = document.getElementById("batch-progress-box");
  if (!box || box.dataset.finished === "true") { return; }
  var bar = document.getElementById("batch-progress");
  var text = document.getElementById("batch-progress-text");
  var label = document.getElementById("batch-status");
  function poll() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (status) {
        bar.max = status.total || 1;
        bar.value = status.rendered;
        text.textContent = status.rendered + " of " + status.total + (status.total === 1 ? " label (" : " labels (") + status.percent + "%)";
        label.textContent = status.status_label;
        label.dataset.status = status.status;
        if (status.finished) { window.location.reload(); } else { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
})();
