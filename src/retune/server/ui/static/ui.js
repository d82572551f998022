// retune web UI: small additions to pages that work without them.
"use strict";
(function () {
  function fieldOf(el) { return el.closest("[data-field]"); }
  function refreshSection(details) {
    if (!details) return;
    var n = details.querySelectorAll("[data-field].changed").length;
    var badge = details.querySelector("[data-changed]");
    if (badge) { badge.textContent = n + " changed"; badge.hidden = n === 0; }
  }
  function markChanged(input) {
    var field = fieldOf(input);
    if (!field) return;
    var changed = Array.prototype.some.call(field.querySelectorAll("input, select"), function (e) { return e.value.trim() !== ""; });
    field.classList.toggle("changed", changed);
    var reset = field.querySelector(".reset");
    if (reset) reset.hidden = !changed;
    refreshSection(field.closest("details.hook"));
  }
  document.addEventListener("input", function (ev) { if (ev.target.matches("form.launch input, form.launch select")) markChanged(ev.target); });
  document.addEventListener("change", function (ev) {
    if (ev.target.matches("form.launch select")) markChanged(ev.target);
    if (ev.target.matches("[data-autosubmit]")) ev.target.form.submit();
  });
  document.addEventListener("click", function (ev) {
    var reset = ev.target.closest("[data-reset]");
    if (!reset) return;
    var input = document.getElementById(reset.getAttribute("data-reset"));
    if (!input) return;
    input.value = "";
    markChanged(input);
    input.focus();
  });
})();
