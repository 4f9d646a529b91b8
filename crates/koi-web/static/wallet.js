// The wallet: exchange points for a mall item. One request key per tap, so
// a double submit is one exchange; JSON only, so another site's form cannot
// post it.
(function () {
  var root = document.getElementById("wallet");
  if (!root) return;
  var status = document.getElementById("wallet-status");
  Array.prototype.forEach.call(root.querySelectorAll("button.exchange"), function (b) {
    b.addEventListener("click", function () {
      b.disabled = true;
      var key = Date.now().toString(36) + Math.random().toString(36).slice(2);
      fetch(root.getAttribute("data-exchange"), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ item_id: Number(b.getAttribute("data-item")), request_key: key })
      })
        .then(function (r) { return r.json(); })
        .then(function (x) {
          if (x.error) { status.textContent = x.error.message; b.disabled = false; return; }
          status.textContent = root.getAttribute("data-done");
          window.setTimeout(function () { window.location.reload(); }, 800);
        });
    });
  });
})();
