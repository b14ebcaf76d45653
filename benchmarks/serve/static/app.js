// Filters apply as soon as a choice changes (the Apply button does the same without script).
document.querySelectorAll("#filters select, #filters input[type=checkbox]").forEach(function (el) {
  el.addEventListener("change", function () { el.form.submit(); });
});
