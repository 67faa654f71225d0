// The eye that shows a password, and the rule checked as the password is typed.
(function () {
  document.querySelectorAll("[data-eye]").forEach(function (button) {
    var input = document.getElementById(button.dataset.eye);
    button.hidden = false;  // without this script the eye could not work: it stays hidden
    button.addEventListener("click", function () {
      var show = input.type === "password";
      var label = show ? "Masquer le mot de passe" : "Afficher le mot de passe";
      input.type = show ? "text" : "password";
      button.setAttribute("aria-pressed", show ? "true" : "false");
      button.setAttribute("aria-label", label);
      button.setAttribute("title", label);
    });
  });
  var form = document.getElementById("password-form");
  if (!form) return;
  var password = document.getElementById("password");
  var confirm = document.getElementById("confirm");
  var rules = {
    length: function (v) { return v.length >= 12; },
    upper: function (v) { return v.length >= 64 || /\p{Lu}/u.test(v); },
    lower: function (v) { return v.length >= 64 || /\p{Ll}/u.test(v); },
    special: function (v) { return v.length >= 64 || /[^\p{L}\p{N}\s]/u.test(v); },
    match: function (v) { return v.length > 0 && v === confirm.value; }
  };
  // Each rule says whether it is met in words too (read by screen readers), not only by its ✓ or ✗.
  function check() {
    var v = password.value;
    Object.keys(rules).forEach(function (name) {
      var ok = rules[name](v);
      var item = document.querySelector('[data-rule="' + name + '"]');
      item.classList.toggle("ok", ok);
      var state = item.querySelector(".rule-state"), said = ok ? " : respecté" : " : non respecté";
      if (state.textContent !== said) state.textContent = said;  // announced (aria-live) only when it changes
    });
  }
  password.addEventListener("input", check);
  confirm.addEventListener("input", check);
  check();
})();
