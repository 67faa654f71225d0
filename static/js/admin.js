// Flask-Admin writes "javascript:void(0)" links, which the Content-Security-Policy refuses to follow; its filter and
// action links lost their onclick in templates/admin/model/layout.html and templates/admin/actions.html. They are
// wired here, from a file the policy allows, to do what those scripts did.
(function () {
  function cancel(event) { event.preventDefault(); }

  document.querySelectorAll('a[href^="javascript:"]').forEach(function (link) {
    link.setAttribute("href", "#");
    link.addEventListener("click", cancel);
  });
  document.querySelectorAll("a.filter").forEach(function (link) {
    link.addEventListener("click", cancel);
  });
  document.querySelectorAll("a[data-action]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      if (window.modelActions) { window.modelActions.execute(link.getAttribute("data-action")); }
    });
  });
})();
