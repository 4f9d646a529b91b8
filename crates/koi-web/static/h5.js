// The nearest-store landing page: ask for the location, then show the QR of
// the store koi picks. Works without a location (the default store).
"use strict";
(function () {
  var root = document.getElementById("locate");
  if (!root) return;
  var code = root.getAttribute("data-code");
  function show(pick) {
    document.getElementById("status").hidden = true;
    document.getElementById("result").hidden = false;
    document.getElementById("store-name").textContent = pick.store_name;
    var detail = pick.address || "";
    if (pick.distance_m != null) detail += "（距你约 " + (pick.distance_m / 1000).toFixed(1) + " 公里）";
    else if (pick.fallback) detail += "（附近暂无门店，为你推荐）";
    document.getElementById("store-detail").textContent = detail;
    document.getElementById("qr").src = pick.qr_code;
  }
  function ask(body) {
    fetch("/h5/go/" + code + "/locate", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) { return r.json(); })
      .then(function (pick) {
        if (pick.error && pick.error.code === "rate_limited") document.getElementById("status").textContent = "访问太频繁了，请稍后再试";
        else if (pick.error) document.getElementById("status").textContent = pick.error.message;
        else show(pick);
      });
  }
  if (navigator.geolocation) {
    navigator.geolocation.getCurrentPosition(
      function (p) { ask({ lat: p.coords.latitude, lng: p.coords.longitude }); },
      function () { ask({}); },
      { timeout: 8000 }
    );
  } else {
    ask({});
  }
})();
