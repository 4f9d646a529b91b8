// koi console: the little interactivity pages need, no framework.
"use strict";
document.addEventListener("submit", function (ev) {
  var msg = ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) ev.preventDefault();
});

// A select that shows only the inputs for its choice: the tag rule's
// trigger parameters (data-trigger), a field kind's settings (data-kind).
function showFor(select, attr) {
  var form = select.form;
  if (!form) return;
  var sync = function () {
    form.querySelectorAll("[" + attr + "]").forEach(function (el) {
      el.hidden = el.getAttribute(attr) !== select.value;
    });
  };
  select.addEventListener("change", sync);
  sync();
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("select.trigger-select").forEach(function (s) { showFor(s, "data-trigger"); });
  document.querySelectorAll("select.kind-select").forEach(function (s) { showFor(s, "data-kind"); });
  var expr = document.getElementById("expr");
  if (expr) segmentBuilder(expr);
});

// The segment builder: as the operator types, the exact count and a sample
// come back from the server (debounced); a bad expression is shown with
// its offending part marked.
function segmentBuilder(input) {
  var form = input.form;
  var csrf = form.querySelector("input[name=_csrf]").value;
  var countEl = document.getElementById("segment-count");
  var sampleEl = document.getElementById("segment-sample");
  var errorEl = document.getElementById("expr-error");
  var mirror = document.getElementById("expr-mirror");
  var exportLink = document.getElementById("export-link");
  var timer = null, seq = 0;

  // The server counts bytes (UTF-8); the input counts UTF-16 units.
  function charIndex(text, byteOffset) {
    var bytes = new TextEncoder().encode(text);
    return new TextDecoder().decode(bytes.slice(0, byteOffset)).length;
  }

  function clearError() {
    input.removeAttribute("aria-invalid");
    errorEl.textContent = "";
    mirror.textContent = "";
    mirror.hidden = true;
  }

  function showError(text, err) {
    var ex = err.expression || {};
    input.setAttribute("aria-invalid", "true");
    errorEl.textContent = err.message || err.code;
    var at = typeof ex.offset === "number" ? charIndex(text, ex.offset) : text.length;
    var len = ex.token ? ex.token.length : 0;
    mirror.textContent = "";
    mirror.appendChild(document.createTextNode(text.slice(0, at)));
    var mark = document.createElement("mark");
    mark.id = "expr-mark";
    mark.textContent = len ? text.slice(at, at + len) : "\u2002";
    mirror.appendChild(mark);
    mirror.appendChild(document.createTextNode(text.slice(at + len)));
    mirror.hidden = false;
    countEl.textContent = "—";
    sampleEl.textContent = "";
  }

  function showResult(r) {
    clearError();
    countEl.textContent = String(r.count);
    sampleEl.textContent = "";
    r.sample.forEach(function (m) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = "/console/customers/" + m.id;
      a.textContent = m.name || "#" + m.id;
      var small = document.createElement("small");
      small.className = "muted";
      small.textContent = " " + m.stage;
      li.appendChild(a);
      li.appendChild(small);
      sampleEl.appendChild(li);
    });
  }

  function evaluate() {
    var text = input.value;
    var base = exportLink && exportLink.getAttribute("data-export-base");
    if (base) exportLink.href = base + encodeURIComponent(text);
    if (!text.trim()) {
      clearError();
      countEl.textContent = "—";
      sampleEl.textContent = "";
      return;
    }
    var mine = ++seq;
    countEl.setAttribute("aria-busy", "true");
    var body = new URLSearchParams({ _csrf: csrf, expr: text });
    fetch("/console/segments/count", { method: "POST", body: body, credentials: "same-origin" })
      .then(function (res) {
        return res.json().then(function (j) { return { ok: res.ok, body: j }; });
      })
      .then(function (r) {
        if (mine !== seq) return; // a newer expression is on its way
        countEl.removeAttribute("aria-busy");
        if (r.ok) showResult(r.body);
        else showError(text, r.body.error || {});
      })
      .catch(function () {
        if (mine === seq) countEl.removeAttribute("aria-busy");
      });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(evaluate, 250);
  }

  // Inserts a token at the caret, with spaces around it as needed.
  function insert(token) {
    var v = input.value;
    var start = input.selectionStart == null ? v.length : input.selectionStart;
    var end = input.selectionEnd == null ? v.length : input.selectionEnd;
    var before = v.slice(0, start), after = v.slice(end);
    var pre = before && !/[\s(]$/.test(before) && token !== ")" ? " " : "";
    var post = after && !/^[\s)]/.test(after) && token !== "(" ? " " : "";
    input.value = before + pre + token + post + after;
    var caret = (before + pre + token + post).length;
    input.focus();
    input.setSelectionRange(caret, caret);
    schedule();
  }

  input.addEventListener("input", schedule);
  form.querySelectorAll("[data-insert]").forEach(function (b) {
    b.addEventListener("click", function () { insert(b.getAttribute("data-insert")); });
  });
  form.querySelectorAll("select[data-prefix]").forEach(function (s) {
    s.addEventListener("change", function () {
      if (!s.value) return;
      insert(s.getAttribute("data-prefix") + s.value);
      s.value = "";
    });
  });
  mirror.hidden = true;
  if (input.value.trim()) evaluate();
}

// The campaign form's reward tiers: rows work without JS; with it, a row
// can be added (a copy of the last, emptied and renumbered) or removed.
document.addEventListener("DOMContentLoaded", function () {
  var table = document.getElementById("tier-rows");
  var add = document.getElementById("tier-add");
  if (!table || !add) return;
  var body = table.tBodies[0];
  var max = 10;
  function wire(row) {
    var rm = row.querySelector(".tier-remove");
    rm.hidden = false;
    rm.addEventListener("click", function () {
      if (body.rows.length > 1) row.remove();
      else row.querySelectorAll("input, select").forEach(function (el) { el.value = ""; });
    });
  }
  Array.prototype.forEach.call(body.rows, wire);
  add.hidden = false;
  add.addEventListener("click", function () {
    if (body.rows.length >= max) return;
    var last = body.rows[body.rows.length - 1];
    var next = 0;
    Array.prototype.forEach.call(body.rows, function (r) { next = Math.max(next, Number(r.getAttribute("data-row")) + 1); });
    var row = last.cloneNode(true);
    row.setAttribute("data-row", String(next));
    row.querySelectorAll(".field-err").forEach(function (el) { el.remove(); });
    row.querySelectorAll("input, select").forEach(function (el) {
      el.name = el.name.replace(/^tier\d+_/, "tier" + next + "_");
      el.value = "";
    });
    body.appendChild(row);
    wire(row);
  });
});
