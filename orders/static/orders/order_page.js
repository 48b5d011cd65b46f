// The order page's timeline chips: show every entry, or only one kind (data-kind). Without JavaScript the chips
// stay hidden and every entry shows.
(function () {
  "use strict";
  function init() {
    var timeline = document.getElementById("timeline");
    if (!timeline) return;
    var bar = timeline.querySelector(".timeline-filters");
    var entries = timeline.querySelectorAll(".timeline-entry");
    var none = timeline.querySelector(".timeline-none");
    if (!bar || !entries.length) return;
    var chips = bar.querySelectorAll(".timeline-filter");
    function show(kind) {
      var shown = 0;
      entries.forEach(function (entry) {
        var match = kind === "all" || entry.getAttribute("data-kind") === kind;
        entry.hidden = !match;
        if (match) shown += 1;
      });
      chips.forEach(function (chip) {
        chip.setAttribute("aria-pressed", chip.getAttribute("data-filter") === kind ? "true" : "false");
      });
      if (none) none.hidden = shown > 0;
    }
    chips.forEach(function (chip) {
      chip.addEventListener("click", function () { show(chip.getAttribute("data-filter")); });
    });
    bar.hidden = false;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
