// BorgIOS conduit page script: the copy button and live status from the
// server-sent event stream. Everything else works without JavaScript.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      return navigator.clipboard.writeText(text);
    }
    // Older browsers: select a temporary field and use execCommand.
    return new Promise(function (resolve, reject) {
      var ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.className = "skip";
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(ta);
      if (ok) { resolve(); } else { reject(new Error("copy failed")); }
    });
  }

  function setupCopy() {
    var buttons = document.querySelectorAll("[data-copy]");
    Array.prototype.forEach.call(buttons, function (btn) {
      btn.addEventListener("click", function () {
        var src = document.getElementById(btn.getAttribute("data-copy"));
        var status = btn.parentNode.querySelector("[data-copy-status]");
        if (!src) { return; }
        copyText(src.textContent.trim()).then(function () {
          if (status) { status.textContent = "Copied."; }
        }, function () {
          if (status) { status.textContent = "Could not copy: select the address and copy it by hand."; }
        });
      });
    });
  }

  var labels = { ok: "Healthy", degraded: "Degraded", offline: "Offline", unknown: "Unknown" };

  function setText(name, value) {
    var els = document.querySelectorAll('[data-live="' + name + '"]');
    Array.prototype.forEach.call(els, function (el) {
      if (el.textContent !== value) { el.textContent = value; }
    });
  }

  // Set once a form is on its way: the form's own answer decides where
  // the page goes (Lock or Unplug lock the vault, and the status event
  // announcing it must not race the form's navigation).
  var submitting = false;

  function applyStatus(s) {
    if (submitting) { return; }
    if (s.locked && document.body.hasAttribute("data-needs-keys")) {
      window.location.assign("/welcome");
      return;
    }
    var lockstate = document.querySelector('[data-live="lockstate"]');
    if (lockstate) {
      var dot = document.createElement("span");
      dot.className = s.locked ? "dot" : "dot dot-on";
      dot.setAttribute("aria-hidden", "true");
      var label = s.locked ? " Locked" : " Unlocked";
      if (lockstate.textContent.trim() !== label.trim()) {
        lockstate.replaceChildren(dot, document.createTextNode(label));
      }
    }
    var net = s.network || {};
    var health = labels[net.health] ? net.health : "unknown";
    var badges = document.querySelectorAll('[data-live="health"]');
    Array.prototype.forEach.call(badges, function (b) {
      b.className = "badge badge-" + health;
      b.setAttribute("data-health", health);
      b.textContent = labels[health];
    });
    setText("summary", net.summary || "");
    setText("mode", net.mode || "\u2014");
    setText("peers", String(net.peers || 0));
    setText("network-id", net.network_id || "\u2014");
  }

  function setupEvents() {
    if (!window.EventSource) { return; }
    var es = new EventSource("/api/events");
    es.addEventListener("status", function (ev) {
      try { applyStatus(JSON.parse(ev.data)); } catch (e) { /* ignore a bad frame */ }
    });
    // The browser reconnects by itself; once the conduit has exited (after
    // unplug) there is nothing to reconnect to, so stop trying.
    es.addEventListener("bye", function () { es.close(); });
  }

  document.addEventListener("submit", function () { submitting = true; });

  document.addEventListener("DOMContentLoaded", function () {
    setupCopy();
    setupEvents();
  });
})();
