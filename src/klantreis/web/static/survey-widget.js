/* klantreis survey widget: asks the klantreis server whether this customer may be asked now
   (the server decides fatigue), then shows the survey's questions in the page and sends the
   answers back. No cookies, no storage, no third parties; every request omits credentials.

   <div id="klantreis-survey"></div>
   <script src="https://cx.example.nl/static/survey-widget.js" defer
           data-survey="na_bezorging" data-customer="C01234" data-journey="O-5678"
           data-expires="1767225600" data-signature="(the shop's HMAC, see docs/surveys.md)"
           data-lang="nl" data-target="klantreis-survey"></script>
*/
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var server = new URL(script.src).origin;
  var d = script.dataset;
  var target = document.getElementById(d.target || "klantreis-survey");
  if (!target || !d.survey || !d.customer) return;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function question(q, prefix) {
    var id = prefix + q.id;
    if (q.type === "text") {
      var box = el("div", { "class": "kr-q" });
      box.appendChild(el("label", { "for": id }, q.text));
      box.appendChild(el("p", { id: id + "-hint", "class": "kr-hint" }, q.hint));
      box.appendChild(el("textarea", { id: id, name: q.id, rows: "4", maxlength: String(q.max_length),
                                       "aria-describedby": id + "-hint" }));
      return box;
    }
    var fs = el("fieldset", { "class": "kr-q", id: id, "aria-describedby": id + "-hint" });
    fs.appendChild(el("legend", {}, q.text));
    fs.appendChild(el("p", { id: id + "-hint", "class": "kr-hint" },
                      q.scale ? q.low + " \u2013 " + q.high : q.hint));
    var values = q.scale ? q.scale.map(function (v) { return { id: String(v), text: String(v) }; })
                         : q.options;
    var kind = q.type === "multiple" ? "checkbox" : "radio";
    values.forEach(function (v) {
      var label = el("label", { "class": q.scale ? "kr-point" : "kr-option" });
      label.appendChild(el("input", { type: kind, name: q.id, value: v.id }));
      label.appendChild(el("span", {}, v.text));
      fs.appendChild(label);
    });
    return fs;
  }

  function collect(form, survey) {
    var answers = {};
    survey.questions.forEach(function (q) {
      if (q.type === "multiple") {
        answers[q.id] = Array.prototype.map.call(
          form.querySelectorAll("input[name='" + q.id + "']:checked"), function (i) { return i.value; });
      } else if (q.type === "text") {
        answers[q.id] = form.elements[q.id].value;
      } else {
        var checked = form.querySelector("input[name='" + q.id + "']:checked");
        answers[q.id] = checked ? checked.value : null;
      }
    });
    return answers;
  }

  function render(data) {
    var survey = data.survey;
    var form = el("form", { "class": "kr-survey", lang: survey.lang, novalidate: "" });
    form.appendChild(el("h2", {}, survey.name));
    if (survey.intro) form.appendChild(el("p", {}, survey.intro));
    var status = el("div", { role: "status", "aria-live": "polite", "class": "kr-status" });
    survey.questions.forEach(function (q) { form.appendChild(question(q, "kr-")); });
    form.appendChild(status);
    form.appendChild(el("button", { type: "submit" }, survey.send || "OK"));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      fetch(server + "/s/widget/" + encodeURIComponent(data.token), {
        method: "POST", credentials: "omit", headers: { "Content-Type": "text/plain" },
        body: JSON.stringify({ answers: collect(form, survey) })
      }).then(function (r) { return r.json(); }).then(function (answer) {
        if (answer.ok) {
          target.textContent = "";
          target.appendChild(el("p", { role: "status" }, answer.data.thanks));
        } else {
          status.textContent = (answer.error && answer.error.message) || survey.errors_title;
          var bad = answer.error && answer.error.question_id &&
                    form.querySelector("[name='" + answer.error.question_id + "']");
          if (bad) bad.focus();
        }
      });
    });
    target.appendChild(form);
  }

  var params = new URLSearchParams({ survey: d.survey, customer: d.customer });
  if (d.journey) params.set("journey", d.journey);
  params.set("lang", d.lang || document.documentElement.lang || "nl");
  /* the shop's signature of the customer id: refused without it */
  if (d.expires) params.set("expires", d.expires);
  if (d.signature) params.set("sig", d.signature);
  fetch(server + "/s/widget/ask?" + params.toString(), { credentials: "omit" })
    .then(function (r) { return r.json(); })
    .then(function (answer) {
      if (answer.ok && answer.data.ask) render(answer.data);
      else if (!answer.ok && answer.error && window.console) {
        console.warn("klantreis survey widget: " + (answer.error.message || answer.error.code));
      }
    })
    .catch(function () { /* no survey: the page goes on as it was */ });
})();
