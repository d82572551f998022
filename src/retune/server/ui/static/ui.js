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
  // A sub-workflow of the graph: a collapsed box opens (?expand=GROUP), an open group's label
  // closes it (?collapse=GROUP); the server lays the graph out again.
  function regroup(el) {
    var group = el.getAttribute("data-group");
    var url = new URL(window.location.href);
    var opening = el.matches("g.group-node");
    var add = opening ? "expand" : "collapse", drop = opening ? "collapse" : "expand";
    var kept = url.searchParams.getAll(drop).filter(function (g) { return g !== group; });
    url.searchParams.delete(drop);
    kept.forEach(function (g) { url.searchParams.append(drop, g); });
    if (url.searchParams.getAll(add).indexOf(group) < 0) url.searchParams.append(add, group);
    window.location.assign(url.toString());
  }
  document.addEventListener("click", function (ev) {
    var grouping = ev.target.closest && ev.target.closest("[data-graph] g.group-node[data-group], [data-graph] g.group-toggle[data-group]");
    if (grouping) { ev.preventDefault(); regroup(grouping); return; }
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter" && ev.key !== " ") return;
    var grouping = ev.target.closest && ev.target.closest("[data-graph] g.group-node[data-group], [data-graph] g.group-toggle[data-group]");
    if (grouping) { ev.preventDefault(); regroup(grouping); }
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
