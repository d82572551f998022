// retune web UI, an execution's page: the graph coloured by phase, kept live, and the node panel.
// The page works without this script (the table of nodes says every phase; each node is a link
// to a page of its own); the script only adds colour, live updates and the panel beside the graph.
"use strict";
(function () {
  var root = document.querySelector("[data-execution]");
  var embedded = document.getElementById("phases");
  if (!root || !embedded) return;
  var id = root.getAttribute("data-execution");
  var base = "/ui/executions/" + encodeURIComponent(id);
  var TERMINAL = { SUCCEEDED: 1, FAILED: 1, ABORTED: 1, SKIPPED: 1 };
  var POLL_MS = 1000, MAX_BACKOFF_MS = 30000;
  var shown = {}; // path -> the node state last applied
  var graphNodes = {}, rows = {};
  var panel = document.getElementById("node-panel");
  var openPath = null, opener = null;

  function encodePath(path) { return path.split("/").map(encodeURIComponent).join("/"); }
  function itemsText(c) { return c ? c.succeeded + " done, " + c.failed + " failed of " + c.total : ""; }
  function setPhase(el, phase) {
    if (!el || el.getAttribute("data-phase") === phase) return;
    el.setAttribute("data-phase", phase);
    el.textContent = phase;
  }

  Array.prototype.forEach.call(document.querySelectorAll(".graph g.node[data-path]"), function (g) {
    var path = g.getAttribute("data-path");
    graphNodes[path] = g;
    g.setAttribute("tabindex", "0");
    g.setAttribute("role", "button");
  });
  Array.prototype.forEach.call(document.querySelectorAll("#nodes tbody tr[data-path]"), function (tr) {
    rows[tr.getAttribute("data-path")] = tr;
  });

  function markNode(path, phase) { // the graph's node: coloured by CSS, its phase also in words
    var g = graphNodes[path];
    if (!g || g.getAttribute("data-phase") === phase) return;
    g.setAttribute("data-phase", phase);
    g.setAttribute("aria-label", path + ": " + phase + ". Show its config, attempts and logs");
  }

  function applyNode(path, node) {
    var before = shown[path];
    if (before && before.phase === node.phase && before.cache === node.cache &&
        before.attempts === node.attempts && JSON.stringify(before.items) === JSON.stringify(node.items)) return false;
    shown[path] = node;
    markNode(path, node.phase);
    var tr = rows[path];
    if (tr) {
      var cells = tr.cells; // node, hook, task, phase, cache, attempts, items
      setPhase(cells[3].firstElementChild, node.phase);
      cells[4].textContent = node.cache;
      cells[5].textContent = String(node.attempts);
      cells[6].textContent = itemsText(node.items);
    }
    return Boolean(before);
  }

  function apply(state) {
    var changed = {};
    Object.keys(state.nodes).forEach(function (path) {
      if (applyNode(path, state.nodes[path])) changed[path] = true;
    });
    setPhase(document.getElementById("execution-phase"), state.phase);
    var finished = document.getElementById("execution-finished");
    if (finished && state.finished_text) finished.textContent = state.finished_text;
    var duration = document.getElementById("execution-duration");
    if (duration && state.duration_text) duration.textContent = state.duration_text;
    if (TERMINAL[state.phase]) {
      Array.prototype.forEach.call(document.querySelectorAll("[data-live-only]"), function (el) { el.hidden = true; });
    }
    if (openPath && changed[openPath]) openPanel(openPath, false); // its attempts or logs moved on
    return !TERMINAL[state.phase];
  }

  var failures = 0;
  function poll() {
    fetch(base + "/state", { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (res) {
        var type = res.headers.get("Content-Type") || "";
        if (!res.ok || type.indexOf("application/json") !== 0) throw new Error("state: " + res.status);
        return res.json();
      })
      .then(function (state) {
        failures = 0;
        if (apply(state)) setTimeout(poll, POLL_MS);
      })
      .catch(function () {
        // The server restarting, the database away: try again, less and less often. Every
        // answer is the whole state, so nothing that happened meanwhile is lost.
        failures += 1;
        setTimeout(poll, Math.min(MAX_BACKOFF_MS, POLL_MS * Math.pow(2, failures)));
      });
  }

  function openPanel(path, focus) {
    if (!panel) return;
    fetch(base + "/nodes/" + encodePath(path) + "?fragment=1",
          { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (res) {
        if (!res.ok) throw new Error("panel: " + res.status);
        return res.text();
      })
      .then(function (html) {
        panel.innerHTML = html;
        panel.hidden = false;
        openPath = path;
        markOpen(path);
        if (location.hash !== "#node=" + encodeURIComponent(path)) {
          history.replaceState(null, "", "#node=" + encodeURIComponent(path));
        }
        if (focus) {
          var heading = panel.querySelector("#node-h");
          (heading || panel).focus();
        }
      })
      .catch(function () {
        location.href = base + "/nodes/" + encodePath(path); // the panel as a page of its own
      });
  }

  function closePanel() {
    if (!panel) return;
    panel.hidden = true;
    panel.innerHTML = "";
    openPath = null;
    markOpen(null);
    history.replaceState(null, "", location.pathname + location.search);
    if (opener && document.contains(opener)) opener.focus();
  }

  function markOpen(path) {
    Array.prototype.forEach.call(document.querySelectorAll("[aria-current='location']"), function (el) {
      el.removeAttribute("aria-current");
    });
    if (path && graphNodes[path]) graphNodes[path].setAttribute("aria-current", "location");
    if (path && rows[path]) rows[path].setAttribute("aria-current", "location");
  }

  function pathOf(target) {
    var g = target.closest && target.closest(".graph g.node[data-path]");
    if (g) return g.getAttribute("data-path");
    var link = target.closest && target.closest("a[data-node]");
    if (link) return link.closest("tr[data-path]").getAttribute("data-path");
    return null;
  }

  document.addEventListener("click", function (ev) {
    if (ev.target.closest("[data-close-panel]")) { closePanel(); return; }
    if (ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return; // a new tab: the page
    var path = pathOf(ev.target);
    if (path === null) return;
    ev.preventDefault();
    opener = ev.target.closest("g.node, a");
    openPanel(path, true);
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && openPath !== null) { closePanel(); return; }
    if (ev.key !== "Enter" && ev.key !== " ") return;
    var g = ev.target.closest && ev.target.closest(".graph g.node[data-path]");
    if (!g) return;
    ev.preventDefault();
    opener = g;
    openPanel(g.getAttribute("data-path"), true);
  });

  // The page embeds the phases only ({phase, nodes: {path: phase}}); the table shows the rest.
  var first = JSON.parse(embedded.textContent);
  Object.keys(first.nodes).forEach(function (path) { markNode(path, first.nodes[path]); });
  var live = !TERMINAL[first.phase];
  if (location.hash.indexOf("#node=") === 0) {
    openPanel(decodeURIComponent(location.hash.slice(6)), true);
  }
  if (live) setTimeout(poll, POLL_MS);
})();
