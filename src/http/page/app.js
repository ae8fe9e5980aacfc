// Minimal page (the full page replaces it): a table of ./api/meters, refreshed by
// ./api/events. Every string from a meter goes in with textContent, never as markup.
"use strict";
(function () {
  var token = new URLSearchParams(location.search).get("token");
  function url(path) {
    return token ? path + "?token=" + encodeURIComponent(token) : path;
  }
  var meters = {};
  function cell(tr, text) {
    var td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
  }
  function render() {
    var body = document.querySelector("#meters tbody");
    body.replaceChildren();
    Object.keys(meters).sort().forEach(function (id) {
      var m = meters[id];
      var tr = document.createElement("tr");
      tr.dataset.id = m.id;
      cell(tr, m.name);
      cell(tr, m.id);
      cell(tr, m.input);
      cell(tr, m.online ? "online" : "offline");
      cell(tr, Object.keys(m.state).map(function (k) {
        return k + ": " + m.state[k];
      }).join(", "));
      body.appendChild(tr);
    });
  }
  fetch(url("./api/meters"))
    .then(function (r) { return r.json(); })
    .then(function (j) {
      j.meters.forEach(function (m) { meters[m.id] = m; });
      render();
      var es = new EventSource(url("./api/events"));
      es.addEventListener("state", function (e) {
        var m = JSON.parse(e.data);
        meters[m.id] = m;
        render();
      });
      es.addEventListener("availability", function (e) {
        var a = JSON.parse(e.data);
        if (meters[a.id]) { meters[a.id].online = a.online; render(); }
      });
    })
    .catch(function (e) {
      document.getElementById("status").textContent = "error: " + e;
    });
})();
