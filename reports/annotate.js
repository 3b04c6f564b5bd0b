// judge-audit annotation page. Every text from the data is inserted with textContent (never as HTML).
(function () {
  "use strict";
  var token = decodeURIComponent(location.pathname.split("/").pop());
  var current = null;
  var busy = false;
  function $(id) { return document.getElementById(id); }
  function show(which) {
    ["item", "done", "error"].forEach(function (id) { $(id).hidden = id !== which; });
  }
  function api(method, path, body) {
    return fetch(path, {
      method: method, cache: "no-store", credentials: "omit",
      headers: Object.assign({"Authorization": "Bearer " + token}, body ? {"Content-Type": "application/json"} : {}),
      body: body ? JSON.stringify(body) : undefined
    });
  }
  function render(item) {
    current = item;
    var list = $("attributes");
    list.textContent = "";
    item.attributes.forEach(function (a) { var li = document.createElement("li"); li.textContent = a; list.appendChild(li); });
    $("prompt").textContent = item.prompt;
    $("response-a").textContent = item.response_a;
    $("response-b").textContent = item.response_b;
    $("comment").value = "";
    $("progress").textContent = (item.progress.done + 1) + " of " + item.progress.total;
    $("message").textContent = "";
    show("item");
  }
  function load() {
    api("GET", "/api/next").then(function (r) {
      if (r.status === 204) { show("done"); return null; }
      if (!r.ok) { throw new Error("the server answered " + r.status); }
      return r.json();
    }).then(function (item) { if (item) { render(item); } }).catch(function (e) {
      $("error-text").textContent = String(e.message || e); show("error");
    });
  }
  function submit(rating) {
    if (!current || busy) { return; }
    busy = true;
    api("POST", "/api/rate", {item_id: current.item_id, nonce: current.nonce, rating: rating,
                               comment: $("comment").value || null})
      .then(function (r) {
        if (r.ok) { load(); return; }
        return r.json().then(function (b) { $("message").textContent = b.error || ("error " + r.status); if (r.status === 409) { load(); } });
      })
      .catch(function (e) { $("message").textContent = String(e.message || e); })
      .then(function () { busy = false; });
  }
  document.querySelectorAll("button[data-rating]").forEach(function (b) {
    b.addEventListener("click", function () { submit(parseInt(b.getAttribute("data-rating"), 10)); });
  });
  document.addEventListener("keydown", function (e) {
    if (e.target && e.target.id === "comment") { return; }
    if (e.key >= "1" && e.key <= "5") { e.preventDefault(); submit(parseInt(e.key, 10)); }
  });
  load();
})();
