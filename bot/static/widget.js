// Feedbot chat widget. Plain JavaScript, no build step.
// Embed: <div class="feedbot-widget" data-feedbot-touchpoint="support"
//             data-feedbot-location="store-12"></div>
//        <script src="https://feedbot.example/static/widget.js" defer></script>
// Protocol: docs/web-widget.md. Bot text is always rendered as text, never HTML.
(function () {
  "use strict";

  var MAX_CHARS = 2000;
  // The widget's own words, in each language the bot speaks (Spanish: usted).
  var WORDS = {
    en: {
      title: "Feedback", conversation: "Conversation", answer: "Your answer",
      placeholder: "Type your answer…", send: "Send", quick: "Quick answers", typing: "typing",
      team: "Our team", lost: "Connection lost. Reconnecting… Your messages will be sent.",
      tooLong: "Please keep your message under " + MAX_CHARS + " characters."
    },
    es: {
      title: "Su opinión", conversation: "Conversación", answer: "Su respuesta",
      placeholder: "Escriba su respuesta…", send: "Enviar", quick: "Respuestas rápidas",
      typing: "escribiendo", team: "Nuestro equipo",
      lost: "Se ha perdido la conexión. Reconectando… Sus mensajes se enviarán.",
      tooLong: "Escriba un mensaje de menos de " + MAX_CHARS + " caracteres, por favor."
    }
  };
  function languageOf(tag) {
    var language = String(tag || "").split(/[-_]/)[0].toLowerCase();
    return WORDS[language] ? language : "en";
  }
  // The Feedbot server is where this script came from, not the embedding page.
  var SERVER = new URL(document.currentScript ? document.currentScript.src : location.href);

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function newId() {
    var bytes = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function Widget(root) {
    this.root = root;
    this.touchpoint = root.dataset.feedbotTouchpoint || "";
    this.location = root.dataset.feedbotLocation || "";
    // The language: ?lang= on the page, then the page's own lang, then the browser's.
    this.locale = new URLSearchParams(location.search).get("lang") ||
      document.documentElement.lang || (navigator.languages || [navigator.language])[0] || "";
    // Until the server says which language the survey is in (it may not run this one).
    this.language = languageOf(this.locale);
    this.words = WORDS[this.language];
    this.storageKey = "feedbot:" + this.touchpoint + ":" + this.location;
    this.surveyId = root.dataset.feedbotSurvey || sessionStorage.getItem(this.storageKey) || "";
    this.pending = {};      // id -> {text, node}: sent, not yet acknowledged
    this.retry = 0;
    this.title = root.dataset.feedbotTitle;
    this.build();
    this.connect();
  }

  Widget.prototype.build = function () {
    var panel = el("section", { "class": "fb-panel" });
    this.panel = panel;
    this.heading = el("h2", { "class": "fb-title" });
    panel.appendChild(this.heading);
    // A log of divs: role=log on a list would take away its list semantics.
    this.log = el("div", { "class": "fb-log", "role": "log", "tabindex": "0", "aria-live": "polite", "data-testid": "chat-log" });
    panel.appendChild(this.log);
    // The connection's state, when it is not the usual one ("Connection lost…").
    this.status = el("p", { "class": "fb-status", "role": "status", "data-testid": "chat-status" });
    this.status.hidden = true;
    panel.appendChild(this.status);
    var form = el("form", { "class": "fb-form" });
    this.label = el("label", { "class": "fb-sr", "for": "fb-input-" + this.storageKey });
    this.input = el("textarea", { "class": "fb-input", "id": "fb-input-" + this.storageKey, "rows": "1",
      "maxlength": String(MAX_CHARS), "data-testid": "chat-input" });
    this.send = el("button", { "class": "fb-send", "type": "submit", "data-testid": "chat-send" });
    form.appendChild(this.label); form.appendChild(this.input); form.appendChild(this.send);
    panel.appendChild(form);
    this.root.appendChild(panel);
    this.sayWords();

    var self = this;
    form.addEventListener("submit", function (e) { e.preventDefault(); self.submit(self.input.value); });
    this.input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); self.submit(self.input.value); }
    });
  };

  // The survey's language, as the server chose it: the widget's words follow.
  Widget.prototype.speak = function (language) {
    language = languageOf(language);
    if (language === this.language) return;
    this.language = language;
    this.words = WORDS[language];
    this.sayWords();
  };

  // The widget's own words in its language. lang: screen readers speak it
  // in its language; CSS names who said what in it.
  Widget.prototype.sayWords = function () {
    var w = this.words;
    var title = this.title || w.title;
    this.panel.setAttribute("lang", this.language);
    this.panel.setAttribute("aria-label", title);
    this.heading.textContent = title;
    this.log.setAttribute("aria-label", w.conversation);
    this.label.textContent = w.answer;
    this.input.setAttribute("placeholder", w.placeholder);
    this.send.textContent = w.send;
  };

  Widget.prototype.connect = function () {
    var self = this;
    var scheme = SERVER.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + SERVER.host + "/chat");
    this.ws = ws;
    ws.addEventListener("open", function () {
      self.retry = 0;
      if (self.lost) { self.lost = false; self.showStatus(""); }
      var start = { type: "start" };
      if (self.surveyId) start.survey_id = self.surveyId;
      else { start.touchpoint = self.touchpoint; start.location = self.location; start.locale = self.locale; }
      ws.send(JSON.stringify(start));
    });
    ws.addEventListener("message", function (e) { self.receive(JSON.parse(e.data)); });
    ws.addEventListener("close", function () {
      // Say so (no "…" for ever), reconnect, and resend what was not
      // acknowledged; the server stores each id once.
      self.setTyping(false);
      self.lost = true;
      self.showStatus(self.words.lost);
      self.retry = Math.min(self.retry + 1, 6);
      setTimeout(function () { self.connect(); }, 500 * Math.pow(2, self.retry - 1));
    });
  };

  Widget.prototype.receive = function (frame) {
    if (frame.type === "survey") {
      this.surveyId = frame.survey_id;
      if (frame.language) this.speak(frame.language);
      sessionStorage.setItem(this.storageKey, frame.survey_id);
      this.resendOnReady = true;  // after the history, which says what was stored
    } else if (frame.type === "history") {
      this.log.textContent = "";
      this.typing = null;  // (its node went with the rest)
      this.choices = null;
      var self = this;
      frame.messages.forEach(function (m, i) {
        // Stored: not sent again (its answer is in the history, or follows).
        if (m.id && self.pending[m.id]) delete self.pending[m.id];
        if (m.author === "customer") self.addCustomer(m.text);
        else if (m.author === "agent") self.addAgent(m.text);
        else self.addBot(m.text, i === frame.messages.length - 1 ? m.buttons : []);
      });
      // What the customer wrote that the server has not stored yet stays on
      // screen, after the history, and is sent again once it is ready.
      var unsent = Object.keys(this.pending);
      unsent.forEach(function (id) { self.log.appendChild(self.pending[id].node); });
      if (unsent.length) this.setTyping(true);
    } else if (frame.type === "bot") {
      this.addBot(frame.text, frame.buttons || []);
    } else if (frame.type === "agent") {
      this.addAgent(frame.text);
    } else if (frame.type === "ack") {
      var sent = this.pending[frame.id];
      if (sent) { sent.node.classList.remove("fb-pending"); delete this.pending[frame.id]; }
    } else if (frame.type === "ready") {
      this.setTyping(false);
      if (this.resendOnReady) { this.resendOnReady = false; this.resendPending(); }
    } else if (frame.type === "error") {
      this.setTyping(false);
      this.addNotice(frame.message);
      if (frame.retry) {
        // Our side failed for a moment: send what was not acknowledged again.
        var self = this;
        setTimeout(function () { self.resendPending(); }, 1000);
      }
    }
  };

  Widget.prototype.submit = function (text) {
    text = (text || "").trim();
    if (!text) return;
    if (text.length > MAX_CHARS) { this.addNotice(this.words.tooLong); return; }
    var id = newId();
    var node = this.addCustomer(text);
    node.classList.add("fb-pending");
    this.pending[id] = { text: text, node: node };
    this.input.value = "";
    this.clearChoices();
    // "…" only while the bot can be working on it (not during an outage).
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.setTyping(true);
    this.transmit(id, text);
    this.input.focus();
  };

  // "…" while the bot is working on its answer.
  Widget.prototype.setTyping = function (on) {
    if (on && !this.typing) {
      this.typing = el("div", { "class": "fb-msg fb-bot fb-typing" });
      this.typing.appendChild(el("span", { "class": "fb-sr" }, this.words.typing));
      this.typing.appendChild(el("span", { "aria-hidden": "true" }, "…"));
      this.log.appendChild(this.typing);
      this.scroll();
    } else if (!on && this.typing) {
      this.typing.remove();
      this.typing = null;
    }
  };

  Widget.prototype.transmit = function (id, text) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.surveyId) {
      this.ws.send(JSON.stringify({ type: "message", id: id, text: text }));
    }
  };

  Widget.prototype.resendPending = function () {
    var self = this;
    Object.keys(this.pending).forEach(function (id) { self.transmit(id, self.pending[id].text); });
  };

  Widget.prototype.addBot = function (text, buttons) {
    this.clearChoices();
    var typing = !!this.typing;
    this.setTyping(false);
    var node = el("div", { "class": "fb-msg fb-bot", "data-testid": "bot-message" }, text);
    this.log.appendChild(node);
    if (buttons && buttons.length) {
      var self = this;
      var group = el("div", { "class": "fb-choices", "role": "group", "aria-label": this.words.quick });
      buttons.forEach(function (b) {
        var button = el("button", { "type": "button", "data-testid": "chat-choice" }, b.title);
        button.addEventListener("click", function () { self.submit(b.payload); });
        group.appendChild(button);
      });
      this.log.appendChild(group);
      this.choices = group;
    }
    if (typing) this.setTyping(true);
    this.scroll();
  };

  // A person from the company's team, after a hand-off.
  Widget.prototype.addAgent = function (text) {
    this.setTyping(false);
    var node = el("div", { "class": "fb-msg fb-agent", "data-testid": "agent-message" });
    node.appendChild(el("span", { "class": "fb-who" }, this.words.team));
    node.appendChild(el("span", {}, text));
    this.log.appendChild(node);
    this.scroll();
  };

  Widget.prototype.addCustomer = function (text) {
    var node = el("div", { "class": "fb-msg fb-customer", "data-testid": "customer-message" }, text);
    this.log.appendChild(node);
    this.scroll();
    return node;
  };

  Widget.prototype.addNotice = function (text) {
    this.log.appendChild(el("div", { "class": "fb-msg fb-notice", "role": "alert", "data-testid": "chat-notice" }, text));
    this.scroll();
  };

  Widget.prototype.showStatus = function (text) {
    this.status.textContent = text;
    this.status.hidden = !text;
  };

  Widget.prototype.clearChoices = function () {
    if (this.choices) { this.choices.remove(); this.choices = null; }
  };

  Widget.prototype.scroll = function () { this.log.scrollTop = this.log.scrollHeight; };

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(".feedbot-widget"), function (root) {
      if (!root.dataset.feedbotReady) { root.dataset.feedbotReady = "1"; new Widget(root); }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
