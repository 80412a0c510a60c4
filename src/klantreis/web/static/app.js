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
  // One date format on every time axis, "13 sep" (Vega's own mixes "sep 13", "ma 31" and
  // "december" on one axis, and "sep 13, 2026" with a time unit).
  function dayAxes(spec) {
    if (!spec || typeof spec !== "object") { return; }
    var x = spec.encoding && spec.encoding.x;
    if (x && x.type === "temporal" && x.axis !== null) {
      x.axis = x.axis || {};
      if (!("format" in x.axis)) { x.axis.format = "%-d %b"; }
      // ticks a few days apart across a month's end ("31 okt" "3 nov") would touch
      if (!("labelOverlap" in x.axis)) { x.axis.labelOverlap = "greedy"; }
      if (!("labelSeparation" in x.axis)) { x.axis.labelSeparation = 6; }
    }
    ["layer", "concat", "hconcat", "vconcat"].forEach(function (key) {
      (spec[key] || []).forEach(dayAxes);
    });
    dayAxes(spec.spec);
  }
  // A title longer than its chart is cut at both ends (a phone): break it into lines. The
  // title is not read out apart: it is the chart's aria-label already (the spec's
  // description; Vega's own reads "Title text '...'", in English).
  function wrapTitle(spec, width) {
    if (typeof spec.title !== "string") { return; }
    var max = Math.max(12, Math.floor(((width || 0) - 70) / 7.5));  // it centres on the plot
    var lines = [], line = "";
    spec.title.split(" ").forEach(function (word) {
      if (line && (line + " " + word).length > max) { lines.push(line); line = word; }
      else { line = line ? line + " " + word : word; }
    });
    if (line) { lines.push(line); }
    spec.title = { text: width && lines.length > 1 ? lines : spec.title, aria: false };
  }
  // Vega names each part's role in English ("axis", "line mark container"): the page's
  // words where the spec gives them (usermeta.roledescriptions), otherwise no role
  // description (a screen reader then says its own word for the role, in its language).
  // An axis's worded description (usermeta.axes) replaces Vega's English caption, which
  // starts "X-axis" or "Y-axis"; an axis without one is not read out.
  function speakRoles(target, meta) {
    var roles = meta.roledescriptions || {}, axes = meta.axes || {}, worded = {};
    Object.keys(roles).forEach(function (key) { worded[roles[key]] = true; });
    target.querySelectorAll("[aria-roledescription=axis], [data-axis]").forEach(function (el) {
      var caption = /^([XY])-axis/.exec(el.getAttribute("aria-label") || "");
      if (caption) { el.setAttribute("data-axis", caption[1].toLowerCase()); }
      var which = el.getAttribute("data-axis");
      if (axes[which]) { el.setAttribute("aria-label", axes[which]); }
      else { el.setAttribute("aria-hidden", "true"); el.removeAttribute("aria-label"); }
    });
    [target].concat(Array.from(target.querySelectorAll("[aria-roledescription]")))
      .filter(function (el) { return el.hasAttribute("aria-roledescription"); })
      .forEach(function (el) {
        var said = el.getAttribute("aria-roledescription"), word = roles[said];
        if (word) { el.setAttribute("aria-roledescription", word); }
        else if (!worded.hasOwnProperty(said)) { el.removeAttribute("aria-roledescription"); }
      });
  }
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
      dayAxes(spec);
      wrapTitle(spec, target.clientWidth);
      var meta = spec.usermeta || {};
      window.vegaEmbed(target, spec, options)
        .then(function () {
          speakRoles(target, meta);
          // a redraw (a resize) writes Vega's English again
          var watch = new MutationObserver(function () {
            watch.disconnect(); speakRoles(target, meta); observe();
          });
          var observe = function () {
            watch.observe(target, { subtree: true, childList: true, attributes: true,
              attributeFilter: ["aria-label", "aria-roledescription"] });
          };
          observe();
          target.setAttribute("data-rendered", "true");
        })
        .catch(function (err) {
          target.textContent = String(err); target.setAttribute("data-rendered", "error");
        });
    });
  }
  function autoSubmitFilters() {
    document.querySelectorAll("form.filters select").forEach(function (sel) {
      sel.addEventListener("change", function () { sel.form.submit(); });
    });
  }
  // A card or table that scrolls sideways can be reached and scrolled with the keyboard.
  function focusableScrollers() {
    document.querySelectorAll(".scroll, .card").forEach(function (el) {
      if (el.scrollWidth > el.clientWidth && !el.hasAttribute("tabindex")) {
        el.setAttribute("tabindex", "0");
      }
    });
  }
  window.addEventListener("load", focusableScrollers);
  window.addEventListener("resize", focusableScrollers);
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
  }
  // Live index: new events -> fetch this page again and swap its content (no reload);
  // new alerts -> one line each in a polite live region. Server-sent events, same origin.
  function liveUpdates() {
    var live = document.getElementById("live");
    if (!live || typeof window.EventSource !== "function") { return; }
    var source = new EventSource(live.getAttribute("data-stream"));
    var busy = false;
    source.addEventListener("update", function () {
      if (busy) { return; }
      busy = true;
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.querySelector("main");
          var main = document.querySelector("main");
          if (!fresh || !main) { return; }
          var keep = document.getElementById("live");
          main.replaceChildren.apply(main, Array.prototype.slice.call(fresh.childNodes));
          var slot = document.getElementById("live");
          if (slot && keep) { slot.replaceWith(keep); }
          keep.querySelector("[role=status]").textContent = keep.getAttribute("data-updated");
          drawCharts(); autoSubmitFilters(); focusableScrollers();
        })
        .catch(function () {})
        .then(function () { busy = false; });
    });
    source.addEventListener("alert", function (e) {
      var data = JSON.parse(e.data);
      var item = document.createElement("li");
      item.className = "card notice";
      item.textContent = data.text;  // text, never HTML: alerts may quote customer words
      var list = live.querySelector("ul.alerts");
      list.insertBefore(item, list.firstChild);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { drawCharts(); autoSubmitFilters(); liveUpdates(); });
})();
