// The only script of our own: it tells the server the browser's time zone (dates are
// rendered in it from the next page on). Everything works without it.
(function () {
  "use strict";
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("ts_tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "ts_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* no Intl: the server's default zone stays */ }
})();
