// The portal menu folds behind its « Menu » button on small screens (css/layout.css); without this script it stays open.
// Loaded in the page's head so that the menu is folded before the page first shows.
(function () {
  document.documentElement.classList.add("menu-folds");

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.querySelector(".menu-toggle[aria-controls]");
    if (!button) return;
    var menu = document.getElementById(button.getAttribute("aria-controls"));

    function unfold(open) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
      menu.classList.toggle("open", open);
    }

    unfold(false);
    // A button: Enter and Space click it too.
    button.addEventListener("click", function () {
      unfold(button.getAttribute("aria-expanded") !== "true");
    });
    // Escape folds the open menu and gives the focus back to its button (only while the button is shown).
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || !menu.classList.contains("open") || button.offsetParent === null) return;
      unfold(false);
      button.focus();
    });
  });
})();
