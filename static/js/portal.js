// Portal behaviour that used to live in inline event handlers (the Content-Security-Policy
// allows no inline script): confirmations, auto-submitting selects, click-to-select fields.
(function () {
  "use strict";

  // <form data-confirm="Question?">: ask before submitting (also for forms htmx swaps in later).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // <select data-autosubmit>: submit its form as soon as a value is chosen.
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field instanceof HTMLSelectElement && field.hasAttribute("data-autosubmit") && field.form) {
      field.form.requestSubmit ? field.form.requestSubmit() : field.form.submit();
    }
  });

  // <input data-select-on-click>: one click selects the whole value (keys and links to copy).
  document.addEventListener("click", function (event) {
    var field = event.target;
    if (field instanceof HTMLInputElement && field.hasAttribute("data-select-on-click")) {
      field.select();
    }
  });
})();
