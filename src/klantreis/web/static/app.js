// klantreis pages: draw every chart from the Vega-Lite spec embedded in the page.
// Specs sit in <script type="application/json" data-chart-for="ID"> next to <div id="ID">.
(function () {
  "use strict";
  // Dutch number and date formats for the charts (English uses Vega's defaults).
  var NL = {
    formatLocale: { decimal: ",", thousands: ".", grouping: [3], currency: ["€ ", ""] },
    timeFormatLocale: {
      dateTime: "%a %e %B %Y %X", date: "%d-%m-%Y", time: "%H:%M:%S", periods: ["", ""],
      days: ["zondag", "maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag"],
      shortDays: ["zo", "ma", "di", "wo", "do", "vr", "za"],
      months: ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
               "september", "oktober", "november", "december"],
      shortMonths: ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt",
                    "nov", "dec"]
    }
  };
  function drawCharts() {
    if (typeof window.vegaEmbed !== "function") { return; }
    // ast + the interpreter: no eval (the Content-Security-Policy allows no 'unsafe-eval');
    // defaultStyle false and the tooltip's disableDefaultStyle: no inline <style> elements
    // (nor 'unsafe-inline'); the tooltip's style is in app.css.
    var options = {
      renderer: "svg", actions: false, ast: true, defaultStyle: false,
      tooltip: { disableDefaultStyle: true }
    };
    if (document.documentElement.lang === "nl") {
      options.formatLocale = NL.formatLocale;
      options.timeFormatLocale = NL.timeFormatLocale;
    }
    document.querySelectorAll("script[data-chart-for]").forEach(function (node) {
      var target = document.getElementById(node.getAttribute("data-chart-for"));
      if (!target) { return; }
      var spec = JSON.parse(node.textContent);
      window.vegaEmbed(target, spec, options)
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
