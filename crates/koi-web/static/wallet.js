// The wallet: exchange points for a mall item. One request key per tap, so
// a double submit is one exchange; JSON only, so another site's form cannot
// post it.
(function () {
  var root = document.getElementById("wallet");
  if (!root) return;
  var status = document.getElementById("wallet-status");
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) { return r.json(); });
  }
  // Today's check-in: once a day; a second tap answers the first.
  var checkin = document.getElementById("checkin");
  if (checkin && !checkin.disabled) {
    checkin.addEventListener("click", function () {
      checkin.disabled = true;
      post(root.getAttribute("data-checkin"), {}).then(function (x) {
        if (x.error) { status.textContent = x.error.message; checkin.disabled = false; return; }
        document.getElementById("balance").textContent = x.balance;
        var streak = document.getElementById("streak");
        streak.textContent = x.streak;
        streak.parentNode.hidden = false;
        checkin.textContent = root.getAttribute("data-checked") + " +" + x.points;
        status.textContent = root.getAttribute("data-checked");
      });
    });
  }
  // A review of a done order, once an order.
  Array.prototype.forEach.call(root.querySelectorAll("button.review"), function (b) {
    b.addEventListener("click", function () {
      var li = b.parentNode;
      b.disabled = true;
      post(root.getAttribute("data-review"), {
        order_id: Number(b.getAttribute("data-order")),
        rating: Number(li.querySelector("select[name=rating]").value),
        body: li.querySelector("textarea[name=body]").value
      }).then(function (x) {
        if (x.error) { status.textContent = x.error.message; b.disabled = false; return; }
        status.textContent = root.getAttribute("data-reviewed");
        window.setTimeout(function () { window.location.reload(); }, 800);
      });
    });
  });
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
