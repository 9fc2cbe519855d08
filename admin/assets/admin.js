// Progressive enhancement only: every page works without this script.
// A role drop-down in the users list saves as soon as it changes.
document.documentElement.classList.add("js");
document.addEventListener("change", function (e) {
  var el = e.target;
  if (el.classList && el.classList.contains("auto-submit") && el.form) {
    el.form.submit();
  }
});

// A time-tracking admin may always create projects and see rates: checking
// the box checks those two (the server refuses the combination otherwise,
// naming both settings, so a form without this script is told).
document.addEventListener("change", function (e) {
  var el = e.target;
  if (el.name === "timeTrackingAdmin" && el.checked && el.form) {
    ["canCreateProjects", "canViewRates"].forEach(function (n) {
      var box = el.form.elements[n];
      if (box) box.checked = true;
    });
  }
});
