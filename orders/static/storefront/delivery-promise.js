/*
 * The OMS's delivery-date snippet for a store's product page: "Order within 3 h 12 min — arrives Thu 5 Dec".
 *
 *   <div data-delivery-promise></div>
 *   <script src="https://oms.example/static/storefront/delivery-promise.js"
 *           data-key="pk_..." data-sku="TEE-1" defer></script>
 *
 * The element's data-state says where it is (asking, shown, none: nothing shown after a failure), for a
 * store's own styles. Optional: data-qty (units, or one per SKU: "2,1" for data-sku="TEE-1,MUG-1"), data-target (a CSS selector for
 * the element, default [data-delivery-promise]), data-country (default US). Styles: delivery-promise.css beside
 * this file, or the store's own rules for the .oms-dp classes.
 *
 * It asks the visitor's ZIP once and keeps it in localStorage; it asks only the OMS that served it (no other
 * site); it sets no inline style and evaluates no code, so it runs under a strict Content-Security-Policy
 * (script-src and connect-src naming the OMS). On any failure it shows nothing.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !window.fetch) {
    return;
  }
  var STORAGE_KEY = "oms-delivery-promise-zip";
  var ZIP = /^\d{5}(-\d{4})?$/;
  var DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  var TICK_MS = 30 * 1000;

  var key = script.getAttribute("data-key") || "";
  var skus = list(script.getAttribute("data-sku"));
  var quantities = list(script.getAttribute("data-qty"));
  var country = script.getAttribute("data-country") || "US";
  var selector = script.getAttribute("data-target") || "[data-delivery-promise]";
  var endpoint = new URL("/api/v1/storefront/promise", script.src);

  function list(text) {
    return (text || "").split(",").map(function (part) { return part.trim(); }).filter(Boolean);
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text) {
      node.textContent = text;
    }
    return node;
  }

  function remembered() {
    try {
      return window.localStorage.getItem(STORAGE_KEY) || "";
    } catch (blocked) {
      return "";
    }
  }

  function remember(zip) {
    try {
      if (zip) {
        window.localStorage.setItem(STORAGE_KEY, zip);
      } else {
        window.localStorage.removeItem(STORAGE_KEY);
      }
    } catch (blocked) {
      // Storage refused (a private window): the ZIP is asked again on the next page.
    }
  }

  // "2026-12-05" as "Sat 5 Dec": a calendar day, read without any time zone.
  function day(iso) {
    var parts = iso.split("-").map(Number);
    var date = new Date(Date.UTC(parts[0], parts[1] - 1, parts[2]));
    return DAYS[date.getUTCDay()] + " " + date.getUTCDate() + " " + MONTHS[date.getUTCMonth()];
  }

  // What is left before the cut-off: "3 h 12 min", "45 min"; beyond a day, the cut-off in the visitor's time.
  function countdown(milliseconds, cutoff) {
    var minutes = Math.max(1, Math.ceil(milliseconds / 60000));
    if (minutes >= 24 * 60) {
      var local = new Date(cutoff);
      var time = local.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
      return "Order by " + DAYS[local.getDay()] + " " + time;
    }
    var hours = Math.floor(minutes / 60);
    var rest = minutes % 60;
    return "Order within " + (hours ? hours + " h " + rest + " min" : rest + " min");
  }

  function Snippet(root) {
    this.root = root;
    this.timer = null;
    root.classList.add("oms-dp");

    this.status = element("p", "oms-dp-status");
    this.status.setAttribute("aria-live", "polite");
    this.status.setAttribute("aria-atomic", "true");
    this.status.hidden = true;
    this.countdown = element("span", "oms-dp-countdown");
    this.countdown.setAttribute("aria-live", "off"); // the minutes tick; only the answer is announced
    this.arrives = element("span", "oms-dp-date");
    this.change = element("button", "oms-dp-change");
    this.change.type = "button";
    this.status.append(this.countdown, element("span", "oms-dp-sep", " — "), this.arrives, " ", this.change);

    this.form = element("form", "oms-dp-form");
    this.form.hidden = true;
    var label = element("label", "oms-dp-label", "Delivery date to your ZIP code");
    this.input = element("input", "oms-dp-zip");
    this.input.id = "oms-dp-zip-" + Math.random().toString(36).slice(2, 8);
    label.htmlFor = this.input.id;
    this.input.name = "zip";
    this.input.type = "text";
    this.input.required = true;
    this.input.inputMode = "numeric";
    this.input.autocomplete = "postal-code";
    this.input.maxLength = 10;
    this.input.pattern = "\\d{5}(-\\d{4})?";
    this.input.placeholder = "ZIP";
    this.input.title = "Five digits, e.g. 10001";
    var button = element("button", "oms-dp-submit", "Show");
    button.type = "submit";
    this.form.append(label, this.input, button);

    root.append(this.status, this.form);

    var self = this;
    this.form.addEventListener("submit", function (event) {
      event.preventDefault();
      var zip = self.input.value.trim();
      if (!ZIP.test(zip)) {
        self.form.reportValidity();
        return;
      }
      remember(zip);
      self.ask(zip);
    });
    this.change.addEventListener("click", function () {
      self.askZip();
    });
  }

  Snippet.prototype.askZip = function () {
    this.stop();
    this.root.setAttribute("data-state", "asking");
    this.status.hidden = true;
    this.form.hidden = false;
    this.input.value = remembered();
  };

  Snippet.prototype.stop = function () {
    if (this.timer) {
      window.clearInterval(this.timer);
      this.timer = null;
    }
  };

  // Nothing shown at all: the page looks as it would without the snippet.
  Snippet.prototype.hide = function () {
    this.stop();
    this.root.setAttribute("data-state", "none");
    this.status.hidden = true;
    this.form.hidden = true;
  };

  Snippet.prototype.ask = function (zip, fresh) {
    var self = this;
    var url = new URL(endpoint);
    url.searchParams.set("key", key);
    url.searchParams.set("zip", zip);
    url.searchParams.set("country", country);
    skus.forEach(function (sku, index) {
      url.searchParams.append("sku", sku);
      url.searchParams.append("qty", quantities[index] || (quantities.length === 1 ? quantities[0] : "1"));
    });
    // After a cut-off the browser's copy (kept a minute) is stale: ask the OMS itself.
    window.fetch(url.href, { credentials: "omit", mode: "cors", cache: fresh ? "no-cache" : "default" })
      .then(function (response) {
        if (response.status === 400) {
          return response.json().then(function (body) {
            var zipRefused = (body.detail || []).some(function (error) { return error.path === "zip"; });
            if (zipRefused) {
              remember("");
              self.askZip();
              return;
            }
            self.hide();
          });
        }
        if (!response.ok) {
          self.hide();
          return;
        }
        return response.json().then(function (answer) {
          self.show(zip, answer);
        });
      })
      .catch(function () {
        self.hide();
      });
  };

  Snippet.prototype.show = function (zip, answer) {
    if (!answer.deliverable || !answer.date || !answer.order_by) {
      this.hide();
      return;
    }
    var self = this;
    var cutoff = Date.parse(answer.order_by);
    var left = cutoff - Date.parse(answer.now); // by the OMS's clock, not the visitor's
    if (!(left > 0)) {
      this.hide(); // an answer already past its cut-off: never count down from it
      return;
    }
    var received = window.performance.now();
    this.form.hidden = true;
    this.root.setAttribute("data-state", "shown");
    this.root.setAttribute("data-date", answer.date);
    this.arrives.textContent = "arrives " + day(answer.date);
    this.change.textContent = "to " + zip + " · change";
    this.change.setAttribute("aria-label", "Change the ZIP code (" + zip + ")");
    var tick = function () {
      var remaining = left - (window.performance.now() - received);
      if (remaining <= 0) {
        self.stop();
        self.ask(zip, true); // past the cut-off: the date has moved
        return;
      }
      self.countdown.textContent = countdown(remaining, cutoff);
    };
    this.stop();
    tick();
    this.status.hidden = false;
    this.timer = window.setInterval(tick, TICK_MS);
  };

  function start() {
    var root = document.querySelector(selector);
    if (!root || !key || !skus.length) {
      return;
    }
    var snippet = new Snippet(root);
    var zip = remembered();
    if (ZIP.test(zip)) {
      snippet.ask(zip);
    } else {
      snippet.askZip();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
