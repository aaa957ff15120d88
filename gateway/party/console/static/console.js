// Progressive enhancement only: every page works without this file.
// Highlights a field's box on the page image while its row is hovered or focused,
// and the row while its box is hovered.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  function light(row, on) {
    var box = document.getElementById(row.getAttribute("data-box"));
    if (box) { box.classList.toggle("on", on); }
    row.classList.toggle("on", on);
  }
  document.querySelectorAll("[data-box]").forEach(function (row) {
    ["mouseenter", "focus"].forEach(function (e) { row.addEventListener(e, function () { light(row, true); }); });
    ["mouseleave", "blur"].forEach(function (e) { row.addEventListener(e, function () { light(row, false); }); });
    var box = document.getElementById(row.getAttribute("data-box"));
    if (box) {
      box.addEventListener("mouseenter", function () { light(row, true); });
      box.addEventListener("mouseleave", function () { light(row, false); });
    }
  });
});
