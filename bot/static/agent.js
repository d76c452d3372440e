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
        // One button per hand-off, so a keyboard reaches and opens it.
        var button = el("button", { "type": "button", "data-testid": "queue-open" });
        if (current === h.id) button.setAttribute("aria-current", "true");
        var head = (h.score === null ? "No score" : h.category + " (" + h.score + ")") +
          " · " + (h.touchpoint_name || h.touchpoint) + (h.location ? " / " + h.location : "") + " · " + h.channel;
        button.appendChild(el("strong", {}, head));
        button.appendChild(el("span", { "class": "why" }, h.why || h.detail || ""));
        button.appendChild(el("span", { "class": "meta" },
          h.state + (h.claimed_by ? " by " + h.claimed_by : "") + " · waiting " +
          Math.round(h.waiting_minutes) + " min" + (h.overdue ? " · overdue" : "")));
        button.addEventListener("click", function () { open(h.id); });
        item.appendChild(button);
        list.appendChild(item);
      });
      badge(data.handoffs.filter(function (h) { return h.state === "waiting"; }).length);
    }).catch(problem);
  }

  // "(3) Agent console": how many wait for an agent, in the tab's title.
  var baseTitle = document.title;
  function badge(waiting) {
    document.title = (waiting ? "(" + waiting + ") " : "") + baseTitle;
  }

  // A browser notification for a new hand-off while the console is in the
  // background (once the agent has allowed it).
  function notifySupported() { return "Notification" in window; }
  function showNotifyState() {
    var state = !notifySupported() ? "not supported by this browser" :
      Notification.permission === "granted" ? "on" :
      Notification.permission === "denied" ? "blocked in the browser's settings" : "off";
    $("notify-state").textContent = "(" + state + ")";
    $("notify").hidden = notifySupported() && Notification.permission !== "default";
  }
  $("notify").addEventListener("click", function () {
    if (!notifySupported()) return showNotifyState();
    Notification.requestPermission().then(showNotifyState, showNotifyState);
  });
  function notifyOpened(event) {
    if (!notifySupported() || Notification.permission !== "granted" || !document.hidden) return;
    var note = new Notification("New hand-off waiting", {
      body: event.urgency >= 3 ? "Most urgent: a severe detractor." : "A customer is waiting for a person.",
      tag: "handoff-" + event.handoff_id,
    });
    note.addEventListener("click", function () { window.focus(); open(event.handoff_id); note.close(); });
  }
  showNotifyState();

  // A saved reply goes into the reply box, to be edited before sending.
  $("canned").addEventListener("change", function () {
    var chosen = $("canned").value;
    if (!chosen) return;
    var box = $("reply-text");
    var text = chosen.replace(/\{agent\}/g, agent());
    box.value = box.value ? box.value.replace(/\s*$/, " ") + text : text;
    $("canned").value = "";
    box.focus();
  });

  // "staff (negative: “waiter”, “rude”); product (positive: “risotto”)": why
  // each theme was tagged, so an agent can trust or discount it.
  function themeWords(details) {
    return details.map(function (d) {
      var words = d.words.map(function (w) { return "\u201c" + w + "\u201d"; }).join(", ");
      return (d.label || d.theme) + " (" + (d.sentiment || "\u2013") + (words ? ": " + words : "") + ")";
    }).join("; ");
  }

  function open(id) {
    current = id;
    return api("GET", "/api/handoffs/" + id).then(function (h) {
      $("detail").hidden = false;
      $("detail-title").textContent = (h.score === null ? "No score" : h.category + " (" + h.score + ")") +
        " · " + (h.touchpoint_name || h.touchpoint) + (h.location ? " / " + h.location : "");
      var facts = $("detail-facts");
      facts.textContent = "";
      [["Why", h.why], ["Themes", themeWords(h.theme_details || [])], ["Sentiment", h.sentiment],
       ["Customer", (h.customer || "web visitor") + " · " + h.channel],
       ["Handed over", h.reason_words + (h.detail ? " (" + h.detail + ")" : "")],
       ["State", h.state + (h.claimed_by ? " by " + h.claimed_by : "")],
       ["Earlier surveys", (h.earlier_surveys || []).map(function (s) {
         return (s.touchpoint_name || s.touchpoint) + " " + (s.score === null ? "–" : s.score);
       }).join(", ")]].forEach(function (pair) {
        facts.appendChild(el("dt", {}, pair[0]));
        facts.appendChild(el("dd", {}, pair[1] || "–"));
      });
      var transcript = $("transcript");
      transcript.textContent = "";
      var who = { customer: "Customer", bot: "Feedbot", agent: "Agent" };
      h.transcript.forEach(function (m) {
        var item = el("li", { "class": m.author, "data-testid": "agent-transcript-" + m.author });
        item.appendChild(el("span", { "class": "who" }, who[m.author] || m.author));
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
    if (event.event === "opened") notifyOpened(event);
    if (current && event.handoff_id === current) open(current);
    else loadQueue();
  });
  loadQueue();
  // A link to one hand-off (an owner's alert): /agent#handoff=<id>
  var linked = /^#handoff=([\w-]+)$/.exec(window.location.hash);
  if (linked) open(linked[1]);
})();
