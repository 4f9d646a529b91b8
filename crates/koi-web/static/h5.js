// The nearest-store landing page: ask for the location, then show the QR of
// the store koi picks. Works without a location (the default store).
"use strict";
(function () {
  var root = document.getElementById("locate");
  if (!root) return;
  var locate = root.getAttribute("data-locate");
  function show(pick) {
    document.getElementById("status").hidden = true;
    document.getElementById("result").hidden = false;
    document.getElementById("store-name").textContent = pick.store_name;
    var detail = pick.address || "";
    // koi writes the distance ("22 米", "1.4 公里"); the page only frames it.
    if (pick.distance) detail += root.getAttribute("data-away").replace("{}", pick.distance);
    else if (pick.fallback) detail += root.getAttribute("data-fallback");
    document.getElementById("store-detail").textContent = detail;
    document.getElementById("qr").src = pick.qr_code;
  }
  function ask(body) {
    fetch(locate, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
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
// The campaign page: tell koi where the participant is, if they allow it
// (the geofence of the invites they are), once per page view.
(function () {
  var root = document.getElementById("campaign");
  if (!root || !navigator.geolocation) return;
  var visit = root.getAttribute("data-visit");
  navigator.geolocation.getCurrentPosition(
    function (p) {
      fetch(visit, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ lat: p.coords.latitude, lng: p.coords.longitude }) });
    },
    function () {},
    { timeout: 8000 }
  );
})();
