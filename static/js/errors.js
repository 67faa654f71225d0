// The error summary of a form (templates/public/macros.html, error_summary): it takes the focus when the page opens
// (autofocus already asks it), and each of its links takes the focus to the field in error, its label in view.
(function () {
  var summary = document.querySelector("[data-error-summary]");
  if (!summary) return;
  if (document.activeElement !== summary) summary.focus();
  summary.addEventListener("click", function (event) {
    var link = event.target.closest('a[href^="#"]');
    var target = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!target) return;
    event.preventDefault();
    var closed = target.closest("details:not([open])");
    if (closed) closed.open = true;
    var group = target.closest("fieldset");
    var label = group ? group.querySelector("legend") : document.querySelector('label[for="' + target.id + '"]');
    (label || target).scrollIntoView();
    target.focus({ preventScroll: true });
  });
})();
