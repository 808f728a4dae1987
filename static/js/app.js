// Small behaviours of every page (no inline scripts):
// - the person's menu (a <details data-menu>) closes on Escape, giving the focus back to its
//   button, and when a click or the focus goes elsewhere;
// - after "Show older" loads the next page of the history, the focus moves to the first event it
//   added, so keyboard and screen-reader users carry on reading where the new events begin.
(function () {
  "use strict";

  function openMenus() { return Array.from(document.querySelectorAll("details[data-menu][open]")); }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    openMenus().forEach(function (menu) {
      menu.open = false;
      var summary = menu.querySelector("summary");
      if (summary && menu.contains(document.activeElement)) { summary.focus(); }
    });
  });

  document.addEventListener("click", function (event) {
    openMenus().forEach(function (menu) { if (!menu.contains(event.target)) { menu.open = false; } });
  });

  document.addEventListener("focusin", function (event) {
    openMenus().forEach(function (menu) { if (!menu.contains(event.target)) { menu.open = false; } });
  });

  document.addEventListener("htmx:afterSettle", function () {
    var first = document.querySelector("[data-history-page-start]:not([data-shown])");
    if (first) {
      first.setAttribute("data-shown", "");
      first.focus();
    }
  });
})();
