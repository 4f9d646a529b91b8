// The sidebar's entry inside WeCom: the JS-SDK names the chat's customer
// (getCurExternalContact) after wx.config and wx.agentConfig, signed by koi
// (/sidebar/jsapi); koi turns the customer into the sidebar's chat context
// (/sidebar/enter). The JS-SDK is loaded only inside the WeCom client, so
// a plain browser (and every test) loads no third-party script.
(function () {
  var root = document.getElementById('sidebar-wecom');
  if (!root) { return; }
  var status = document.getElementById('sb-wecom-status');
  function say(key) { status.textContent = root.getAttribute('data-' + key); }
  if (!/wxwork/i.test(navigator.userAgent)) { say('outside'); return; }
  function load(src, next) {
    var s = document.createElement('script');
    s.src = src;
    s.onload = next;
    s.onerror = function () { say('failed'); };
    document.head.appendChild(s);
  }
  function enter(externalUserid) {
    var body = 'csrf=' + encodeURIComponent(root.getAttribute('data-csrf')) +
      '&external_userid=' + encodeURIComponent(externalUserid);
    fetch('/sidebar/enter', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: body
    }).then(function (r) { return r.json(); }).then(function (j) {
      if (j.url) { location.replace(j.url); } else { say('failed'); }
    }, function () { say('failed'); });
  }
  function start() {
    var url = location.href.split('#')[0];
    fetch('/sidebar/jsapi?url=' + encodeURIComponent(url), { credentials: 'same-origin' })
      .then(function (r) { return r.json(); })
      .then(function (c) {
        if (!c.agent_id || !c.agent_signature) { say('failed'); return; }
        var apis = ['getCurExternalContact'];
        window.wx.config({ beta: true, debug: false, appId: c.corp_id, timestamp: c.timestamp,
          nonceStr: c.nonce_str, signature: c.signature, jsApiList: apis });
        window.wx.ready(function () {
          window.wx.agentConfig({ corpid: c.corp_id, agentid: String(c.agent_id), timestamp: c.timestamp,
            nonceStr: c.nonce_str, signature: c.agent_signature, jsApiList: apis,
            success: function () {
              window.wx.invoke('getCurExternalContact', {}, function (res) {
                if (res.err_msg === 'getCurExternalContact:ok') { enter(res.userId); } else { say('failed'); }
              });
            },
            fail: function () { say('failed'); } });
        });
        window.wx.error(function () { say('failed'); });
      }, function () { say('failed'); });
  }
  load('https://res.wx.qq.com/open/js/jweixin-1.2.0.js', function () {
    load('https://open.work.weixin.qq.com/wwopen/js/jwxwork-1.0.0.js', start);
  });
})();
