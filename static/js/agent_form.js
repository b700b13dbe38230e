// The agent form's live prompt counter (issue 12, item 11), loaded as a file: no inline script, no
// inline handlers (the portal's Content-Security-Policy allows neither).
//
// Under the system prompt, personality and greeting it shows characters against the field's cap
// and the estimated tokens (~4 characters a token, the server's estimate); under the greeting, the
// three texts together against the chosen model's budget (a quarter of its context window, less
// the longest reply). The rules are the server's (agents_app.validation.prompt_size_problems); the
// numbers come from the page (#prompt-limits, a JSON data block). It never blocks an ordinary
// save, because the server reports every field at once; it only stops a submit the server could
// not even read (over DATA_UPLOAD_MAX_MEMORY_SIZE), so the typed text stays in the form.
(function () {
  "use strict";

  var dataBlock = document.getElementById("prompt-limits");
  var form = document.querySelector("form.agent-form");
  if (!dataBlock || !form) {
    return;
  }
  var limits = JSON.parse(dataBlock.textContent);
  var numberFormat = new Intl.NumberFormat();
  var fields = Object.keys(limits.fieldMax);

  function tokens(chars) {
    return Math.ceil(chars / limits.charsPerToken);
  }

  function fieldValue(name) {
    var element = form.elements.namedItem(name);
    return element && "value" in element ? element.value : "";
  }

  function counterFor(name) {
    var id = "counter-" + name;
    var counter = document.getElementById(id);
    var textarea = form.elements.namedItem(name);
    if (!counter && textarea) {
      counter = document.createElement("small");
      counter.id = id;
      counter.className = "counter";
      counter.setAttribute("aria-live", "polite");
      textarea.insertAdjacentElement("afterend", counter);
      var described = textarea.getAttribute("aria-describedby");
      textarea.setAttribute("aria-describedby", described ? described + " " + id : id);
    }
    return counter;
  }

  function chosenModel() {
    return limits.models[fieldValue("llm_provider") + ":" + fieldValue("llm_model")] || null;
  }

  function budget(model) {
    if (!model || !model.contextWindow) {
      return null;
    }
    var result = Math.floor(model.contextWindow / limits.share);
    var reply = parseInt(fieldValue("max_output_tokens"), 10);
    if (model.maxOutput) {
      reply = Math.min(isNaN(reply) ? model.maxOutput : reply, model.maxOutput);
    }
    if (reply > 0) {
      result = Math.min(result, model.contextWindow - reply);
    }
    return Math.max(result, 0);
  }

  function update() {
    var total = 0;
    fields.forEach(function (name) {
      var counter = counterFor(name);
      if (!counter) {
        return;
      }
      var length = fieldValue(name).length;
      var cap = limits.fieldMax[name];
      total += length;
      var text = numberFormat.format(length) + " / " + numberFormat.format(cap) + " characters · about " +
        numberFormat.format(tokens(length)) + " tokens";
      if (length > cap) {
        text += " · " + numberFormat.format(length - cap) + " over the limit";
      }
      counter.textContent = text;
      counter.classList.toggle("over", length > cap);
    });
    var summary = document.getElementById("counter-total");
    if (!summary) {
      summary = document.createElement("p");
      summary.id = "counter-total";
      summary.className = "counter";
      summary.setAttribute("aria-live", "polite");
      var anchor = document.getElementById("field-greeting_message");
      if (!anchor) {
        return;
      }
      anchor.insertAdjacentElement("afterend", summary);
    }
    var model = chosenModel();
    var allowed = budget(model);
    var used = tokens(total);
    if (allowed === null) {
      summary.textContent = "Together about " + numberFormat.format(used) +
        " tokens. The model's context window is not known here: only the per-text limits apply.";
      summary.classList.remove("over");
      return;
    }
    summary.textContent = "Together about " + numberFormat.format(used) + " of the " +
      numberFormat.format(allowed) + " tokens " + model.name + " leaves them (a quarter of its " +
      numberFormat.format(model.contextWindow) + "-token context window, and room for a reply)" +
      (used > allowed ? ": too long, shorten them." : ".");
    summary.classList.toggle("over", used > allowed);
  }

  function encodedSize() {
    return new URLSearchParams(new FormData(form)).toString().length;
  }

  function refuseOversize(event) {
    if (!limits.uploadMax) {
      return;
    }
    var size = encodedSize();
    if (size <= limits.uploadMax) {
      return;
    }
    event.preventDefault();
    var notice = document.getElementById("form-too-large");
    if (!notice) {
      notice = document.createElement("div");
      notice.id = "form-too-large";
      notice.className = "card form-errors";
      notice.setAttribute("role", "alert");
      form.insertAdjacentElement("beforebegin", notice);
    }
    notice.textContent = "Not sent: the form is " + (size / 1048576).toFixed(1) + " MB, more than the " +
      (limits.uploadMax / 1048576).toFixed(1) + " MB the server accepts. Nothing was lost: shorten the " +
      "longest text (see the counters) and save again.";
    notice.scrollIntoView({ block: "center" });
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
  form.addEventListener("submit", refuseOversize);
  // The model select is re-rendered by htmx when the provider changes.
  document.body.addEventListener("htmx:afterSwap", update);
  update();
})();
