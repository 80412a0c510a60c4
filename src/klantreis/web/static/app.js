// klantreis pages: draw every chart from the Vega-Lite spec embedded in the page.
// Specs sit in <script type="application/json" data-chart-for="ID"> next to <div id="ID">.
(function () {
  "use strict";
  function drawCharts() {
    if (typeof window.vegaEmbed !== "function") { return; }
    document.querySelectorAll("script[data-chart-for]").forEach(function (node) {
      var target = document.getElementById(node.getAttribute("data-chart-for"));
      if (!target) { return; }
      var spec = JSON.parse(node.textContent);
      window.vegaEmbed(target, spec, { renderer: "svg", actions: false })
        .then(function () { target.setAttribute("data-rendered", "true"); })
        .catch(function (err) { target.textContent = String(err); });
    });
  }
  function autoSubmitFilters() {
    document.querySelectorAll("form.filters select").forEach(function (sel) {
      sel.addEventListener("change", function () { sel.form.submit(); });
    });
  }
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
  }
  document.addEventListener("DOMContentLoaded", function () { drawCharts(); autoSubmitFilters(); });
})();
