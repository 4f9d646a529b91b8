// The poster editor: each layer's box over the preview follows its numeric
// inputs, dragging a box writes its x and y back into them, and every
// change asks the server for a preview of the unsaved layout (the same
// field names the save posts). The stage is the 750×1334 canvas at half size.
(function () {
  "use strict";
  var form = document.getElementById("poster-form");
  var stage = document.getElementById("poster-stage");
  if (!form || !stage) return;
  var img = document.getElementById("poster-preview");
  var failed = document.getElementById("poster-preview-error");
  var W = 750, H = 1334, scale = 0.5;

  function field(name) { return form.elements[name]; }
  function num(name, fallback) {
    var el = field(name);
    var v = el ? parseInt(el.value, 10) : NaN;
    return isNaN(v) ? fallback : v;
  }
  function lineHeight(size) { return Math.floor((size * 13 + 9) / 10); }

  // A layer's box in canvas pixels, as koi-poster computes it.
  function rect(i, kind) {
    var x = num("x_" + i, 0), y = num("y_" + i, 0), size = num("size_" + i, 0);
    if (kind === "qr" || kind === "avatar") return { x: x, y: y, w: size, h: size };
    var lines = kind === "text" ? num("max_lines_" + i, 1) : 1;
    return { x: x, y: y, w: num("max_width_" + i, size), h: lineHeight(size) * lines };
  }

  var boxes = Array.prototype.slice.call(stage.querySelectorAll(".poster-box"));
  function kindOf(i) {
    var fs = form.querySelector('.poster-layer[data-i="' + i + '"]');
    return fs ? fs.getAttribute("data-kind") : "";
  }
  function place() {
    boxes.forEach(function (b) {
      var i = b.getAttribute("data-i"), r = rect(i, kindOf(i));
      b.style.left = r.x * scale + "px";
      b.style.top = r.y * scale + "px";
      b.style.width = r.w * scale + "px";
      b.style.height = r.h * scale + "px";
    });
  }

  var timer = null;
  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var params = new URLSearchParams();
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || el.type === "file" || el.name === "_csrf" || el.type === "checkbox") return;
        params.append(el.name, el.value);
      });
      params.append("t", Date.now());
      img.src = stage.getAttribute("data-preview") + "?" + params.toString();
    }, 250);
  }
  img.addEventListener("load", function () { failed.hidden = true; img.removeAttribute("data-failed"); });
  img.addEventListener("error", function () { failed.hidden = false; img.setAttribute("data-failed", "1"); });

  form.addEventListener("input", function (ev) {
    if (ev.target.type === "file") return;
    place();
    refresh();
  });

  boxes.forEach(function (b) {
    var start = null;
    b.addEventListener("pointerdown", function (ev) {
      var i = b.getAttribute("data-i");
      start = { px: ev.clientX, py: ev.clientY, x: num("x_" + i, 0), y: num("y_" + i, 0), r: rect(i, kindOf(i)) };
      b.classList.add("active");
      if (b.setPointerCapture) b.setPointerCapture(ev.pointerId);
      ev.preventDefault();
    });
    b.addEventListener("pointermove", function (ev) {
      if (!start) return;
      var i = b.getAttribute("data-i");
      var x = Math.round(start.x + (ev.clientX - start.px) / scale);
      var y = Math.round(start.y + (ev.clientY - start.py) / scale);
      field("x_" + i).value = Math.max(0, Math.min(W - start.r.w, x));
      field("y_" + i).value = Math.max(0, Math.min(H - start.r.h, y));
      place();
    });
    function end() {
      if (!start) return;
      start = null;
      b.classList.remove("active");
      refresh();
    }
    b.addEventListener("pointerup", end);
    b.addEventListener("pointercancel", end);
  });

  place();
})();
