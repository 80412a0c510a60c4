// klantreis: turn Web Push on or off for this device (the /alerts page).
// Progressive enhancement: the page says push needs JavaScript; this script replaces that with
// what this browser can do. The subscription (endpoint + keys) is posted with the page's CSRF
// token; the server keeps it per user. Words come from the page (data-msg-*), not from here.
(function () {
  "use strict";
  var box = document.getElementById("push");
  var status = document.getElementById("push-status");
  var enable = document.getElementById("push-enable");
  var disable = document.getElementById("push-disable");
  if (!box || !status || !enable || !disable) { return; }
  var key = box.getAttribute("data-public-key");

  function say(name, detail) {
    status.textContent = box.getAttribute("data-msg-" + name) || "";
    box.setAttribute("data-state", name);
    if (detail) { box.setAttribute("data-error", detail); }
  }
  function keyBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var raw = window.atob(b64 + "===".slice((b64.length + 3) % 4));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) { out[i] = raw.charCodeAt(i); }
    return out;
  }
  function post(path, fields) {
    var body = new URLSearchParams(fields);
    body.set("csrf_token", box.getAttribute("data-csrf"));
    return fetch(path, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    });
  }
  function show(subscription) {
    enable.hidden = !!subscription;
    disable.hidden = !subscription;
    say(subscription ? "on" : "ready");
  }
  var supported = key && window.isSecureContext && "serviceWorker" in navigator &&
    "PushManager" in window && "Notification" in window;
  if (!supported) { say("unsupported"); return; }

  var ready = navigator.serviceWorker.register("/sw.js", { scope: "/" })
    .then(function () { return navigator.serviceWorker.ready; });
  ready.then(function (registration) {
    box.setAttribute("data-sw", "ready");
    return registration.pushManager.getSubscription().then(show);
  }).catch(function (err) { say("unsupported", err && err.name); });

  enable.addEventListener("click", function () {
    enable.disabled = true;
    say("busy");
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") { throw new Error("denied"); }
      return ready;
    }).then(function (registration) {
      return registration.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: keyBytes(key)
      });
    }).then(function (subscription) {
      var json = subscription.toJSON();
      return post("/alerts/push", {
        endpoint: json.endpoint, p256dh: json.keys.p256dh, auth: json.keys.auth
      });
    }).then(function () {
      window.location.assign("/alerts?done=push_added");
    }).catch(function (err) {
      var denied = err && err.message === "denied";
      say(denied ? "denied" : "failed", err && (err.name + ": " + err.message));
      enable.disabled = false;
    });
  });

  disable.addEventListener("click", function () {
    disable.disabled = true;
    ready.then(function (registration) {
      return registration.pushManager.getSubscription();
    }).then(function (subscription) {
      if (!subscription) { return null; }
      return post("/alerts/push/remove", { endpoint: subscription.endpoint })
        .then(function () { return subscription.unsubscribe(); });
    }).then(function () {
      window.location.assign("/alerts?done=push_removed");
    }).catch(function (err) {
      say("failed", err && (err.name + ": " + err.message));
      disable.disabled = false;
    });
  });
})();
