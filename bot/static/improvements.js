// The improvements page: preview who would be told (a dry run), then log
// and send. Every text is set with textContent.
(function () {
  "use strict";
  var form = document.getElementById("improvement-form");
  var result = document.getElementById("improvement-result");

  function body(dryRun) {
    var data = new FormData(form);
    var out = { theme: data.get("theme"), title: data.get("title").trim(),
                message: data.get("message").trim(), lookback_days: Number(data.get("lookback_days")),
                dry_run: dryRun };
    if (data.get("touchpoint")) out.touchpoint = data.get("touchpoint");
    if (data.get("location").trim()) out.location = data.get("location").trim();
    return out;
  }

  function channels(byChannel) {
    var parts = Object.keys(byChannel).map(function (c) { return byChannel[c] + " by " + (c === "sms" ? "SMS" : "webhook"); });
    return parts.length ? " (" + parts.join(", ") + ")" : "";
  }

  function post(dryRun) {
    return fetch("/api/improvements", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body(dryRun))
    }).then(function (resp) {
      return resp.json().then(function (data) {
        if (!resp.ok) throw new Error(data.error || ("HTTP " + resp.status));
        return data;
      });
    });
  }

  document.getElementById("improvement-preview").addEventListener("click", function () {
    if (!form.reportValidity()) return;
    result.textContent = "Counting…";
    post(true).then(function (data) {
      var ex = data.excluded;
      result.textContent = data.recipients + " customer(s) would be told" + channels(data.by_channel) +
        ". Not told: " + ex.opted_out + " opted out, " + ex.told_in_last_30_days + " told of another improvement in the last 30 days.";
    }).catch(function (e) { result.textContent = "Not possible: " + e.message; });
  });

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    result.textContent = "Logging…";
    post(false).then(function (data) {
      result.textContent = "Logged. Telling " + data.recipients + " customer(s)" + channels(data.by_channel) + ".";
      setTimeout(function () { window.location.reload(); }, 1200);
    }).catch(function (err) { result.textContent = "Not logged: " + err.message; });
  });
})();
