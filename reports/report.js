/* judge-audit report: filter and sort the items. Reads only the JSON data block (JSON.parse) and
   moves or hides existing elements; it never builds HTML from data. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("ja-data").textContent);
  var list = document.getElementById("items-list");
  var controls = document.getElementById("controls");
  if (!list || !controls) { return; }
  var nodes = Array.prototype.slice.call(list.querySelectorAll(":scope > details.item"));
  var dis = nodes.map(function (el) { return el.querySelector(".dis"); });
  var count = document.getElementById("count");
  var none = document.getElementById("none-shown");
  var state = { judge: "", mention: "", sort: "data" };
  var current = nodes.map(function (_, i) { return i; }).join();

  function finite(x) { return typeof x === "number" && isFinite(x); }

  // sort key of item i (larger first), or null when it has none
  function key(i) {
    var it = data.items[i];
    var ds = state.judge === "" ? it.d : [it.d[Number(state.judge)]];
    var vals = ds.filter(finite);
    if (!vals.length) { return null; }
    if (state.sort === "abs") { return Math.max.apply(null, vals.map(Math.abs)); }
    if (state.sort === "over") { return Math.max.apply(null, vals); }
    if (state.sort === "under") { return -Math.min.apply(null, vals); }
    return null;
  }

  function apply() {
    var shown = 0;
    var order = [];
    nodes.forEach(function (el, i) {
      var it = data.items[i];
      var ok = (state.mention === "" || String(it.m) === state.mention) &&
               (state.judge === "" || it.r[Number(state.judge)] === 1);
      el.hidden = !ok;
      if (ok) { shown += 1; }
      order.push(i);
    });
    if (state.sort !== "data") {
      var keys = order.map(key);
      order.sort(function (a, b) {
        var ka = keys[a], kb = keys[b];
        if (ka === null && kb === null) { return a - b; }
        if (ka === null) { return 1; }
        if (kb === null) { return -1; }
        return kb - ka || a - b;
      });
    }
    // the disagreement shown on each item: the chosen judge's signed judge - people, else the largest |judge - people|
    nodes.forEach(function (el, i) {
      if (!dis[i]) { return; }
      var it = data.items[i];
      if (state.judge === "") {
        var vals = it.d.filter(finite).map(Math.abs);
        dis[i].textContent = vals.length ? "|\u0394| " + Math.max.apply(null, vals).toFixed(1) : "";
      } else {
        var d = it.d[Number(state.judge)];
        dis[i].textContent = finite(d) ? "\u0394 " + (d < 0 ? "\u2212" : "+") + Math.abs(d).toFixed(1) : "";
      }
    });
    if (order.join() !== current) {  // move the elements only when the order changed
      var frag = document.createDocumentFragment();
      order.forEach(function (i) { frag.appendChild(nodes[i]); });
      list.appendChild(frag);
      current = order.join();
    }
    list.setAttribute("data-judge", state.judge);
    count.textContent = shown + " of " + nodes.length + " items";
    none.hidden = shown !== 0;
  }

  function press(group, button) {
    Array.prototype.forEach.call(controls.querySelectorAll("[data-" + group + "]"), function (b) {
      b.setAttribute("aria-pressed", b === button ? "true" : "false");
    });
  }

  controls.addEventListener("click", function (ev) {
    var b = ev.target.closest("button");
    if (!b) { return; }
    if (b.id === "expand" || b.id === "collapse") {
      nodes.forEach(function (el) { if (!el.hidden) { el.open = b.id === "expand"; } });
      if (b.id === "collapse") { nodes.forEach(function (el) { el.open = false; }); }
      return;
    }
    ["judge", "mention", "sort"].forEach(function (g) {
      if (b.hasAttribute("data-" + g)) { state[g] = b.getAttribute("data-" + g); press(g, b); }
    });
    apply();
  });

  controls.hidden = false;
  apply();
}());
