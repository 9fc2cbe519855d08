// Progressive enhancement only: every page works without this script.
// A role drop-down in the users list saves as soon as it changes.
document.documentElement.classList.add("js");
document.addEventListener("change", function (e) {
  var el = e.target;
  if (el.classList && el.classList.contains("auto-submit") && el.form) {
    el.form.submit();
  }
});
