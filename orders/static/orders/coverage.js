/* A network coverage run's page while the background task works: poll its status every second, move the
   bar, and reload the page (which then shows the figures and maps) when the run is over. */
(function () {
  var box = document.getElementById("coverage-progress-box");
  if (!box || box.dataset.running !== "true") { return; }
  function later(delay) { window.setTimeout(step, delay); }
  function step() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin", cache: "no-store", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (status) {
        var bar = document.getElementById("coverage-progress");
        bar.max = status.total || 1;
        bar.value = status.done;
        document.getElementById("coverage-progress-text").textContent = status.percent + "%";
        var said = document.getElementById("coverage-status");
        said.textContent = status.status_label;
        said.dataset.status = status.status;
        if (status.running) { later(1000); } else { window.location.reload(); }
      })
      .catch(function () { later(3000); });
  }
  later(1000);
})();
