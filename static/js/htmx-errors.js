// When an in-place request fails without an answer to show (the network is down, the server
// failed), say so in the page's status region and leave the page as it is. The words are the
// page's, in its language (data-words-* on the status region, from base.html).
(function () {
  "use strict";
  function words(name) {
    var flash = document.getElementById("flash");
    return (flash && flash.dataset[name]) || "";
  }
  function say(text) {
    var flash = document.getElementById("flash");
    if (!flash) { return; }
    flash.textContent = "";
    var p = document.createElement("p");
    p.className = "flash-error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    flash.appendChild(p);
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    say(status >= 500 ? words("wordsServerError") : words("wordsRefused").replace("{status}", String(status)));
  });
  document.addEventListener("htmx:sendError", function () {
    say(words("wordsOffline"));
  });
})();
