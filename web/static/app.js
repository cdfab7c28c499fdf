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

  // The Network page keeps its numbers live by polling /api/network: the
  // rates change every second, more often than the status stream speaks.
  // The tree picture is fetched again only when its version changes.
  function setupNetwork() {
    var live = document.getElementById("network-live");
    if (!live || !window.fetch) { return; }
    var cell = live.getAttribute("data-tree-cell") || "registry";
    var version = null;
    var pending = !!document.getElementById("tree-pending");

    function setField(row, name, value) {
      var el = row.querySelector('[data-f="' + name + '"]');
      if (el && el.textContent !== value) { el.textContent = value; }
    }

    function applyNetwork(n) {
      if (n.clock) {
        var ms = n.clock.offset_ms;
        var a = Math.abs(ms);
        var text = a < 0.05 ? "0.0 ms" : (ms < 0 ? "\u2212" : "+") + (a >= 1000 ? (a / 1000).toFixed(2) + " s" : a.toFixed(1) + " ms");
        var off = document.querySelector('[data-net="clock-offset"]');
        if (off && off.textContent !== text) { off.textContent = text; }
      }
      (n.endpoints || []).forEach(function (e) {
        var row = document.querySelector('#peers tr[data-key="' + e.key + '"]');
        if (!row) { return; }
        setField(row, "up", e.up_text);
        setField(row, "down", e.down_text);
        setField(row, "sent", e.sent_text);
        setField(row, "received", e.received_text);
        setField(row, "in_use", (e.in_use || []).join(", "));
        setField(row, "latency", e.latency_ms > 0 ? e.latency_ms.toFixed(1) + " ms" : "\u2014");
        row.classList.toggle("peer-down", !!e.down);
        row.classList.toggle("peer-inuse", !!(e.in_use && e.in_use.length));
      });
      Object.keys(n.live || {}).forEach(function (c) {
        var td = document.querySelector('#cell-counts td[data-cell="' + c + '"]');
        if (td && td.textContent !== String(n.live[c])) { td.textContent = String(n.live[c]); }
      });
      if (n.tree_version && (pending || (version !== null && version !== n.tree_version))) {
        redrawTree();
      }
      if (n.tree_version) { version = n.tree_version; pending = false; }
    }

    function redrawTree() {
      fetch("/network/tree?cell=" + encodeURIComponent(cell), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var box = document.getElementById("tree");
          // Parsed as a separate document (never run) and adopted: the
          // fragment is our own templ output, but no markup goes in as a string.
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fig = doc.getElementById("tree-figure");
          if (!fig) { return; }
          var open = box.querySelector("details[open]") !== null;
          box.replaceChildren(document.adoptNode(fig));
          var d = box.querySelector("details");
          if (d && open) { d.open = true; }
        }, function () { /* keep the old picture */ });
    }

    function poll() {
      fetch("/api/network?cell=" + encodeURIComponent(cell), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(applyNetwork, function () { /* the next poll tries again */ })
        .then(function () { window.setTimeout(poll, 2000); });
    }
    poll();
  }

  // A form that answers with a download (the key file) leaves the page
  // where it is, so the pause in live status ends after a few seconds.
  document.addEventListener("submit", function () {
    submitting = true;
    window.setTimeout(function () { submitting = false; }, 5000);
  });

  document.addEventListener("DOMContentLoaded", function () {
    setupCopy();
    setupEvents();
    setupNetwork();
  });
})();
