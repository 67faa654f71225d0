// Flask-Admin writes a few scripts into its HTML ("javascript:void(0)" links, onclick attributes) that the
// Content-Security-Policy refuses to run. They are rewired here, from a file the policy allows, to do the same.
(function () {
  function cancel(event) { event.preventDefault(); }

  document.querySelectorAll('a[href^="javascript:"]').forEach(function (link) {
    link.setAttribute("href", "#");
    link.addEventListener("click", cancel);
  });

  document.querySelectorAll("[onclick]").forEach(function (element) {
    var code = element.getAttribute("onclick");
    var action = /modelActions\.execute\('([^']*)'\)/.exec(code);
    var question = /faHelpers\.safeConfirm\('((?:[^'\\]|\\.)*)'\)/.exec(code);
    element.removeAttribute("onclick");
    element.addEventListener("click", function (event) {
      if (action && window.modelActions) {
        if (!window.modelActions.execute(action[1])) { event.preventDefault(); }
      } else if (question && !window.confirm(question[1].replace(/\\(.)/g, "$1"))) {
        event.preventDefault();
      } else if (!action && !question) {
        event.preventDefault();
      }
    });
  });
})();
