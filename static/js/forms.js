// Input aids of the account forms: the licence-number help and the SIRET checked as typed.
(function () {
  document.querySelectorAll("[data-aid]").forEach(function (input) {
    var aid = document.getElementById(input.dataset.aid);
    input.addEventListener("focus", function () { aid.classList.add("open"); });
    input.addEventListener("input", function () {
      var start = input.selectionStart;
      input.value = input.value.toUpperCase();
      input.setSelectionRange(start, start);
    });
  });

  var form = document.querySelector("[data-siret-check]");
  if (!form) return;
  var siret = document.getElementById("siret");
  var name = document.getElementById("organisation_name");
  var status = document.getElementById("siret-status");
  var timer = null, last = null;
  function check() {
    var digits = siret.value.replace(/[\s.]/g, "");
    if (digits === last) return;
    last = digits;
    if (digits.length < 14) { status.textContent = ""; status.className = "siret-status"; name.value = ""; return; }
    status.textContent = "Vérification en cours…";
    status.className = "siret-status";
    fetch(form.dataset.siretCheck + "&siret=" + encodeURIComponent(digits), { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        status.textContent = data.message;
        status.className = "siret-status " + (data.ok ? "ok" : "ko");
        name.value = data.ok ? data.name : "";
      })
      .catch(function () { status.textContent = "Vérification impossible pour l'instant : le contrôle sera refait à la création."; });
  }
  siret.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(check, 300); });
  siret.addEventListener("blur", check);
  if (siret.value) check();
})();
