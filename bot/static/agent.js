// The agent console: the queue and one hand-off, kept current by the
// server's events (/agent/events). Every text is set with textContent.
(function () {
  "use strict";
  var current = null;
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function api(method, path, body) {
    return fetch(path, {
      method: method,
      credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error(data.error || r.statusText);
        return data;
      });
    });
  }

  function agent() { return $("agent-name").value.trim() || "agent"; }
  function problem(e) { $("problem").textContent = e ? e.message || String(e) : ""; }

  function loadQueue() {
    return api("GET", "/api/handoffs").then(function (data) {
      var list = $("queue");
      list.textContent = "";
      if (!data.handoffs.length) list.appendChild(el("li", { "class": "empty" }, "Nobody is waiting."));
      data.handoffs.forEach(function (h) {
        var item = el("li", {
          "class": "queue-item" + (h.overdue ? " overdue" : "") + (current === h.id ? " open" : ""),
          "data-testid": "queue-item",
          "data-handoff": h.id,
        });
        var head = (h.score === null ? "No score" : h.category + " (" + h.score + ")") +
          " · " + h.touchpoint + (h.location ? " / " + h.location : "") + " · " + h.channel;
        item.appendChild(el("strong", {}, head));
        item.appendChild(el("span", { "class": "why" }, h.why || h.detail || ""));
        item.appendChild(el("span", { "class": "meta" },
          h.state + (h.claimed_by ? " by " + h.claimed_by : "") + " · waiting " +
          Math.round(h.waiting_minutes) + " min" + (h.overdue ? " · overdue" : "")));
        item.addEventListener("click", function () { open(h.id); });
        list.appendChild(item);
      });
    }).catch(problem);
  }

  // "staff (negative: “waiter”, “rude”); product (positive: “risotto”)": why
  // each theme was tagged, so an agent can trust or discount it.
  function themeWords(details) {
    return details.map(function (d) {
      var words = d.words.map(function (w) { return "\u201c" + w + "\u201d"; }).join(", ");
      return d.theme + " (" + (d.sentiment || "\u2013") + (words ? ": " + words : "") + ")";
    }).join("; ");
  }

  function open(id) {
    current = id;
    return api("GET", "/api/handoffs/" + id).then(function (h) {
      $("detail").hidden = false;
      $("detail-title").textContent = (h.score === null ? "No score" : h.category + " (" + h.score + ")") +
        " · " + h.touchpoint + (h.location ? " / " + h.location : "");
      var facts = $("detail-facts");
      facts.textContent = "";
      [["Why", h.why], ["Themes", themeWords(h.theme_details || [])], ["Sentiment", h.sentiment],
       ["Customer", (h.customer || "web visitor") + " · " + h.channel], ["Handed over", h.reason],
       ["State", h.state + (h.claimed_by ? " by " + h.claimed_by : "")],
       ["Earlier surveys", (h.earlier_surveys || []).map(function (s) {
         return s.touchpoint + " " + (s.score === null ? "–" : s.score);
       }).join(", ")]].forEach(function (pair) {
        facts.appendChild(el("dt", {}, pair[0]));
        facts.appendChild(el("dd", {}, pair[1] || "–"));
      });
      var transcript = $("transcript");
      transcript.textContent = "";
      h.transcript.forEach(function (m) {
        var item = el("li", { "class": m.author, "data-testid": "agent-transcript-" + m.author });
        item.appendChild(el("span", { "class": "who" }, m.author));
        item.appendChild(el("p", {}, m.text));
        transcript.appendChild(item);
      });
      var notes = $("notes");
      notes.textContent = "";
      h.notes.forEach(function (n) { notes.appendChild(el("li", {}, n.author + ": " + n.text)); });
      $("claim").disabled = h.state !== "waiting";
      // Only the agent who claimed it may give it back to the queue.
      $("release").disabled = !(h.state === "claimed" && h.claimed_by === agent());
      problem(null);
      loadQueue();
    }).catch(problem);
  }

  $("release").addEventListener("click", function () {
    api("POST", "/api/handoffs/" + current + "/release", { agent: agent() }).then(function () { open(current); }).catch(problem);
  });
  $("claim").addEventListener("click", function () {
    api("POST", "/api/handoffs/" + current + "/claim", { agent: agent() }).then(function () { open(current); }).catch(problem);
  });
  $("reply-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = $("reply-text").value.trim();
    if (!text) return;
    api("POST", "/api/handoffs/" + current + "/reply", { agent: agent(), text: text })
      .then(function () { $("reply-text").value = ""; open(current); }).catch(problem);
  });
  $("note-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = $("note-text").value.trim();
    if (!text) return;
    api("POST", "/api/handoffs/" + current + "/notes", { agent: agent(), text: text })
      .then(function () { $("note-text").value = ""; open(current); }).catch(problem);
  });
  $("resolve-form").addEventListener("submit", function (e) {
    e.preventDefault();
    api("POST", "/api/handoffs/" + current + "/resolve", { agent: agent(), code: $("resolve-code").value })
      .then(function () { $("detail").hidden = true; current = null; loadQueue(); }).catch(problem);
  });

  var source = new EventSource("/agent/events");
  source.addEventListener("open", function () { $("live-status").textContent = "live"; loadQueue(); });
  source.addEventListener("error", function () { $("live-status").textContent = "reconnecting…"; });
  source.addEventListener("message", function (e) {
    var event = JSON.parse(e.data);
    if (current && event.handoff_id === current) open(current);
    else loadQueue();
  });
  loadQueue();
  // A link to one hand-off (an owner's alert): /agent#handoff=<id>
  var linked = /^#handoff=([\w-]+)$/.exec(window.location.hash);
  if (linked) open(linked[1]);
})();
