/* Northstar survey widget: a one-question prompt for web intercepts.
   Paste where the prompt should appear:
     <script src="https://northstar.example.com/widget.js" data-northstar-survey="SLUG" async></script>
     <noscript><a href="https://northstar.example.com/s/a/SLUG?channel=web">Tell us how we did</a></noscript>
   No dependencies, no cookies; keyboard-usable (Tab between the buttons, Enter or Space to choose and send, Escape to close). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var slug = script.getAttribute("data-northstar-survey");
  if (!slug || !/^[A-Za-z0-9]{1,64}$/.test(slug)) { return; }
  var base = new URL(script.src).origin;
  var endpoint = base + "/api/v1/public/widget/" + slug;
  var lang = (script.getAttribute("data-lang") || document.documentElement.lang || navigator.language || "").slice(0, 20);

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, k)) { e.setAttribute(k, attrs[k]); } }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  var css = ".nsw{position:fixed;right:1rem;bottom:1rem;z-index:2147483000;max-width:26rem;background:#fff;color:#1a1a1a;" +
    "border:2px solid #0b5394;border-radius:.4rem;padding:1rem;font:16px/1.4 system-ui,sans-serif;box-shadow:0 .3rem 1rem rgba(0,0,0,.2)}" +
    ".nsw h2{font-size:1rem;margin:0 1.5rem .6rem 0}.nsw fieldset{border:0;margin:0;padding:0}.nsw legend{font-weight:600;margin-bottom:.4rem}" +
    ".nsw .nsw-scale{display:flex;flex-wrap:wrap;gap:.25rem}.nsw .nsw-scale button{min-width:2.1rem;padding:.35rem 0;border:2px solid #595959;" +
    "background:#fff;color:#1a1a1a;border-radius:.25rem;cursor:pointer;font:inherit}.nsw .nsw-scale button[aria-pressed=true]{background:#0b5394;color:#fff;border-color:#0b5394}" +
    ".nsw textarea{width:100%;box-sizing:border-box;margin:.3rem 0;font:inherit;border:2px solid #595959;border-radius:.25rem}" +
    ".nsw .nsw-send{background:#0b5394;color:#fff;border:0;border-radius:.25rem;padding:.5rem 1rem;font:inherit;font-weight:600;cursor:pointer}" +
    ".nsw .nsw-close{position:absolute;top:.4rem;right:.5rem;background:none;border:0;font-size:1.3rem;cursor:pointer;color:#1a1a1a}" +
    ".nsw button:focus-visible,.nsw textarea:focus-visible{outline:3px solid #b35900;outline-offset:2px}.nsw .nsw-hp{position:absolute;left:-10000px}" +
    ".nsw .nsw-error{color:#b00020;font-weight:600}";

  function show(cfg) {
    var style = el("style", {}, css);
    document.head.appendChild(style);
    var box = el("div", { "class": "nsw", role: "dialog", "aria-labelledby": "nsw-title", lang: cfg.language });
    var close = el("button", { type: "button", "class": "nsw-close", "aria-label": "Close" }, "\u00d7");
    var title = el("h2", { id: "nsw-title" }, cfg.title);
    var form = el("form", {});
    var fs = el("fieldset", {});
    fs.appendChild(el("legend", {}, cfg.question));
    var scale = el("div", { "class": "nsw-scale", role: "group" });
    var chosen = null;
    var buttons = [];
    for (var v = cfg.low; v <= cfg.high; v++) {
      (function (value) {
        var b = el("button", { type: "button", "aria-pressed": "false", "data-score": String(value) }, String(value));
        b.addEventListener("click", function () {
          chosen = value;
          buttons.forEach(function (x) { x.setAttribute("aria-pressed", x === b ? "true" : "false"); });
        });
        buttons.push(b);
        scale.appendChild(b);
      })(v);
    }
    fs.appendChild(scale);
    form.appendChild(fs);
    var comment = null;
    if (cfg.follow_up) {
      var label = el("label", { "for": "nsw-comment" }, cfg.follow_up);
      comment = el("textarea", { id: "nsw-comment", rows: "3", maxlength: "5000" });
      form.appendChild(label);
      form.appendChild(comment);
    }
    var hp = el("input", { type: "text", name: "website", tabindex: "-1", autocomplete: "off", "class": "nsw-hp", "aria-hidden": "true" });
    form.appendChild(hp);
    var status = el("p", { role: "status", "aria-live": "polite" });
    var send = el("button", { type: "submit", "class": "nsw-send" }, cfg.submit);
    form.appendChild(send);
    form.appendChild(status);
    box.appendChild(close);
    box.appendChild(title);
    box.appendChild(form);
    document.body.appendChild(box);
    function dismiss() { if (box.parentNode) { box.parentNode.removeChild(box); } }
    close.addEventListener("click", dismiss);
    box.addEventListener("keydown", function (e) { if (e.key === "Escape") { dismiss(); } });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (chosen === null) {
        status.className = "nsw-error";
        status.textContent = cfg.low + "\u2013" + cfg.high + "?";
        buttons[0].focus();
        return;
      }
      send.disabled = true;
      var body = { score: chosen, submission: cfg.submission, lang: cfg.language, page: location.pathname };
      if (comment && comment.value.trim()) { body.comment = comment.value; }
      if (hp.value) { body.website = hp.value; }
      fetch(endpoint, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "omit" })
        .then(function (r) {
          if (r.ok) {
            form.parentNode.replaceChild(el("p", { role: "status", id: "nsw-thanks" }, cfg.thanks), form);
            setTimeout(dismiss, 4000);
          } else {
            send.disabled = false;
            status.className = "nsw-error";
            return r.json().then(function (j) { status.textContent = (j && j.error && j.error.message) || ("HTTP " + r.status); });
          }
        })
        .catch(function () {
          send.disabled = false;
          status.className = "nsw-error";
          status.textContent = "\u26a0";
          var a = el("a", { href: base + cfg.form }, cfg.title);
          status.appendChild(document.createTextNode(" "));
          status.appendChild(a);
        });
    });
  }

  fetch(endpoint + "?lang=" + encodeURIComponent(lang), { credentials: "omit" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (cfg) { if (cfg) { show(cfg); } })
    .catch(function () { /* the survey is closed or unreachable: show nothing */ });
})();
