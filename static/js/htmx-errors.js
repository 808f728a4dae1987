// When an in-place request fails without an answer to show (the network is down, the server
// failed), say so in the page's status region and leave the page as it is.
(function () {
  "use strict";
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
    say(status >= 500
      ? "Something went wrong on our side; nothing was changed. Try again in a moment."
      : "That did not work (" + status + "). Reload the page and try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    say("No connection: nothing was saved. Check your network and try again.");
  });
})();
