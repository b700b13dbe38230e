// Text chat page: leaving the page ends the open chat, so an abandoned chat does not stay
// "in progress" (the reconcile job also ends chats idle for CHAT_IDLE_TIMEOUT). The end form
// carries the chat id and the CSRF token; sendBeacon posts it even while the page unloads.
(function () {
  "use strict";

  window.addEventListener("pagehide", function () {
    // Looked up now, not at load: htmx swaps the composer in and out as chats start and end.
    var form = document.querySelector("form[data-end-on-leave]");
    if (form && navigator.sendBeacon) {
      // getAttribute: the form's <input name="action"> hides the form.action property.
      navigator.sendBeacon(form.getAttribute("action"), new FormData(form));
    }
  });

  // Back to a page kept in the browser's cache: its chat was ended on leaving; show it as it is.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && document.querySelector("form[data-end-on-leave]")) {
      window.location.reload();
    }
  });
})();
