// Files page: drag and drop and per-file upload progress. Without this
// script the upload form still works as a plain multipart POST.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.fetch || !window.FormData) { return; }
  var input = document.getElementById("upload-input");
  var zone = document.getElementById("dropzone");
  var list = document.getElementById("uploads");
  var dir = form.getAttribute("data-dir") || "/";
  var seq = 0;

  function human(n) {
    var u = ["B", "KB", "MB", "GB", "TB"], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + u[i];
  }

  function row(file) {
    var li = document.createElement("li");
    var label = document.createElement("span");
    label.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = file.size || 1;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name);
    var state = document.createElement("span");
    state.className = "hint";
    state.textContent = "waiting";
    li.appendChild(label); li.appendChild(bar); li.appendChild(state);
    list.appendChild(li);
    return { bar: bar, state: state, li: li };
  }

  // Live progress: one event stream for all uploads of this page, open
  // while any runs. Without EventSource the page polls the progress API.
  var rows = {};
  var active = 0;
  var stream = null;

  function showProgress(u) {
    var r = rows[u.id];
    if (!r || r.finished) { return; }
    r.bar.value = u.stored;
    var text = human(u.stored) + " of " + human(r.size);
    if (u.rate > 0 && !u.done) { text += ", " + human(u.rate) + "/s"; }
    r.state.textContent = text;
    r.li.setAttribute("data-stored", String(u.stored));
  }

  function openStream() {
    if (stream || !window.EventSource) { return; }
    stream = new EventSource("/api/files/events");
    stream.addEventListener("upload", function (ev) {
      try { showProgress(JSON.parse(ev.data)); } catch (e) { /* ignore a bad frame */ }
    });
    stream.addEventListener("bye", function () { stream.close(); });
  }

  function closeStream() {
    if (stream && active === 0) { stream.close(); stream = null; }
  }

  function poll(id) {
    if (window.EventSource) { return null; }
    return setInterval(function () {
      fetch("/api/files/progress", { credentials: "same-origin" }).then(function (res) {
        return res.ok ? res.json() : null;
      }).then(function (p) {
        if (!p) { return; }
        p.uploads.forEach(function (u) { if (u.id === id) { showProgress(u); } });
      }).catch(function () {});
    }, 500);
  }

  // One request per file, so each has its own progress and error; the
  // server reports bytes stored on the network, which is what counts.
  function uploadOne(file) {
    var id = "u" + Date.now().toString(36) + "-" + (seq++);
    var r = row(file);
    r.size = file.size;
    rows[id] = r;
    r.li.setAttribute("data-upload", id);
    var body = new FormData();
    body.append("file", file, file.name);
    r.state.textContent = "uploading";
    active++;
    openStream();
    var timer = poll(id);
    function end() {
      if (timer) { clearInterval(timer); }
      r.finished = true;
      active--;
      closeStream();
    }
    return fetch("/api/files/upload?dir=" + encodeURIComponent(dir) + "&id=" + id, {
      method: "POST", body: body, credentials: "same-origin"
    }).then(function (res) {
      return res.json().then(function (j) { return { ok: res.ok, j: j }; });
    }).then(function (a) {
      end();
      if (!a.ok) { throw new Error(a.j.error || "upload failed"); }
      r.bar.value = r.bar.max;
      r.state.textContent = "done";
      r.li.setAttribute("data-done", "true");
    }, function (err) {
      end();
      throw err;
    }).catch(function (err) {
      r.state.textContent = "failed: " + err.message;
      r.li.setAttribute("data-failed", "true");
      r.li.setAttribute("role", "alert");
    });
  }

  function uploadAll(files) {
    var jobs = [];
    for (var i = 0; i < files.length; i++) { jobs.push(uploadOne(files[i])); }
    Promise.all(jobs).then(function () {
      // Reload the listing, keeping the progress list's outcome in the
      // notice so a screen reader hears it.
      var failed = list.querySelectorAll("[data-failed]").length;
      var q = "?path=" + encodeURIComponent(dir) + "&notice=" +
        encodeURIComponent(failed ? failed + " upload(s) failed." : "Uploaded " + files.length + " file(s).");
      window.location.assign("/files" + q);
    });
  }

  // Moving by drag and drop: drag a row onto a folder's row (or onto a
  // folder in the path above the list) to move it there. The forms under
  // "More" do the same without a mouse.
  var dragType = "application/x-borgios-path";
  function notice(text) {
    return "/files?path=" + encodeURIComponent(dir) + "&notice=" + encodeURIComponent(text);
  }
  function moveInto(from, into) {
    if (!from || !into || from === into || into.indexOf(from + "/") === 0) { return; }
    fetch("/api/files/move", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ from: from, into: into })
    }).then(function (res) {
      return res.json().then(function (j) { return { ok: res.ok, j: j }; });
    }).then(function (a) {
      var name = from.substring(from.lastIndexOf("/") + 1);
      window.location.assign(notice(a.ok ? "Moved " + name + " into " + into + "." : "Could not move: " + (a.j.error || "failed")));
    }).catch(function (err) {
      window.location.assign(notice("Could not move: " + err.message));
    });
  }
  function folderOf(el) {
    var row = el.closest && el.closest("tr[data-dir]");
    if (row) { return row.getAttribute("data-path"); }
    var crumb = el.closest && el.closest(".crumbs a[data-path]");
    return crumb ? crumb.getAttribute("data-path") : null;
  }
  document.addEventListener("dragstart", function (ev) {
    var row = ev.target.closest && ev.target.closest("tr[data-path]");
    if (!row || !ev.dataTransfer) { return; }
    ev.dataTransfer.setData(dragType, row.getAttribute("data-path"));
    ev.dataTransfer.effectAllowed = "move";
  });
  document.addEventListener("dragover", function (ev) {
    if (!ev.dataTransfer || ev.dataTransfer.types.indexOf(dragType) < 0) { return; }
    var into = folderOf(ev.target);
    if (into !== null) { ev.preventDefault(); ev.dataTransfer.dropEffect = "move"; }
  });
  document.addEventListener("drop", function (ev) {
    if (!ev.dataTransfer || ev.dataTransfer.types.indexOf(dragType) < 0) { return; }
    var into = folderOf(ev.target);
    if (into === null) { return; }
    ev.preventDefault();
    ev.stopPropagation();
    moveInto(ev.dataTransfer.getData(dragType), into);
  }, true);

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (input.files && input.files.length) { uploadAll(input.files); }
  });
  ["dragenter", "dragover"].forEach(function (t) {
    zone.addEventListener(t, function (ev) { ev.preventDefault(); zone.classList.add("drag"); });
  });
  ["dragleave", "drop"].forEach(function (t) {
    zone.addEventListener(t, function () { zone.classList.remove("drag"); });
  });
  zone.addEventListener("drop", function (ev) {
    ev.preventDefault();
    if (ev.dataTransfer && ev.dataTransfer.types.indexOf(dragType) >= 0) { return; }
    if (ev.dataTransfer && ev.dataTransfer.files.length) { uploadAll(ev.dataTransfer.files); }
  });
})();
