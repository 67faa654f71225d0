// The eye that shows a password, and the rule checked as the password is typed.
(function () {
  document.querySelectorAll("[data-eye]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.dataset.eye);
      var show = input.type === "password";
      input.type = show ? "text" : "password";
      button.setAttribute("aria-label", show ? "Masquer le mot de passe" : "Afficher le mot de passe");
    });
  });
  var form = document.getElementById("password-form");
  if (!form) return;
  var password = document.getElementById("password");
  var confirm = document.getElementById("confirm");
  var submit = document.getElementById("validate-password");
  var rules = {
    length: function (v) { return v.length >= 12; },
    upper: function (v) { return v.length >= 64 || /\p{Lu}/u.test(v); },
    lower: function (v) { return v.length >= 64 || /\p{Ll}/u.test(v); },
    special: function (v) { return v.length >= 64 || /[^\p{L}\p{N}\s]/u.test(v); },
    match: function (v) { return v.length > 0 && v === confirm.value; }
  };
  function check() {
    var v = password.value, allOk = true;
    Object.keys(rules).forEach(function (name) {
      var ok = rules[name](v);
      document.querySelector('[data-rule="' + name + '"]').classList.toggle("ok", ok);
      allOk = allOk && ok;
    });
    // « Valider » is active only when both passwords match (the server checks everything again).
    submit.disabled = !rules.match(v);
  }
  password.addEventListener("input", check);
  confirm.addEventListener("input", check);
  check();
})();
