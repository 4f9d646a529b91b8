// The H5 shop. The product page starts a checkout and hands WeChat Pay's
// signed parameters to WeixinJSBridge (inside WeChat); elsewhere (a test, the
// demo with the simulator) it goes to the result page, which polls koi until
// the payment notification has marked the checkout paid.
"use strict";
(function () {
  var product = document.getElementById("product");
  var form = document.getElementById("buy-form");
  if (product && form) {
    var status = document.getElementById("buy-status");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var qty = parseInt(document.getElementById("qty").value, 10) || 1;
      // The small cart: other products with a quantity go in the same checkout.
      var items = [];
      var more = document.querySelectorAll(".cart-qty");
      for (var i = 0; i < more.length; i++) {
        var n = parseInt(more[i].value, 10) || 0;
        if (n > 0) items.push({ product: more[i].getAttribute("data-product"), qty: n });
      }
      document.getElementById("buy").disabled = true;
      fetch(product.getAttribute("data-buy"), {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ qty: qty, items: items })
      })
        .then(function (r) { return r.json(); })
        .then(function (k) {
          if (k.error) {
            status.textContent = k.error.message || product.getAttribute("data-error");
            document.getElementById("buy").disabled = false;
            return;
          }
          status.setAttribute("data-prepay", k.prepay_id);
          status.setAttribute("data-out-trade-no", k.out_trade_no);
          var done = function () { window.location.href = k.status_path; };
          if (window.WeixinJSBridge) {
            window.WeixinJSBridge.invoke("getBrandWCPayRequest", k.jsapi, done);
          } else {
            done();
          }
        })
        .catch(function () {
          status.textContent = product.getAttribute("data-error");
          document.getElementById("buy").disabled = false;
        });
    });
  }
  var checkout = document.getElementById("checkout");
  if (checkout) {
    var line = document.getElementById("checkout-state");
    var texts = {
      paid: checkout.getAttribute("data-paid"),
      closed: checkout.getAttribute("data-closed"),
      refunded: checkout.getAttribute("data-refunded"),
      part_refunded: checkout.getAttribute("data-part-refunded")
    };
    var tries = 0;
    var poll = function () {
      if (line.getAttribute("data-state") !== "created" || tries++ > 300) return;
      fetch(checkout.getAttribute("data-state-url"))
        .then(function (r) { return r.json(); })
        .then(function (s) {
          if (s.state && s.state !== "created") {
            line.setAttribute("data-state", s.state);
            line.textContent = texts[s.state] || s.state;
          } else {
            setTimeout(poll, 1000);
          }
        })
        .catch(function () { setTimeout(poll, 2000); });
    };
    setTimeout(poll, 1000);
  }
})();
