// Mail: say that a send is under way (storing attachments and minting the
// anti-spam stamp take a moment) and ask before deleting. Without this
// script the forms work the same.
(function () {
  "use strict";
  var form = document.getElementById("compose-form");
  if (form) {
    form.addEventListener("submit", function () {
      var button = document.getElementById("send");
      var status = document.getElementById("send-status");
      var files = document.getElementById("mail-files");
      var n = files && files.files ? files.files.length : 0;
      if (status) {
        status.textContent = n > 0 ? "Sealing and sending, with " + n + (n === 1 ? " attachment…" : " attachments…") : "Sealing and sending…";
      }
      // Disabled after the submit has started, so the button's value
      // is not lost and a second click does not send twice.
      if (button) { setTimeout(function () { button.disabled = true; }, 0); }
    });
  }
  var del = document.getElementById("delete-form");
  if (del) {
    del.addEventListener("submit", function (e) {
      if (!window.confirm("Delete this message from the network? This cannot be undone.")) {
        e.preventDefault();
      }
    });
  }
})();
