// "Print / save as PDF": opens the browser's print dialog, where "Save as PDF" is one of the printers.
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});
