// Optional enhancements; every page works without them: theme toggle, copy buttons, select-all.
(function () {
  "use strict";
  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem("wharf-theme"); } catch (e) { /* storage disabled */ }
  if (saved === "light" || saved === "dark" || saved === "auto") { root.dataset.theme = saved; }

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.querySelector("[data-theme-toggle]");
    if (toggle) {
      toggle.hidden = false;
      toggle.addEventListener("click", function () {
        var order = ["auto", "light", "dark"];
        var next = order[(order.indexOf(root.dataset.theme) + 1) % order.length];
        root.dataset.theme = next;
        toggle.title = "Theme: " + next;
        try { localStorage.setItem("wharf-theme", next); } catch (e) { /* storage disabled */ }
      });
    }
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var done = function () { button.textContent = "Copied"; };
        if (navigator.clipboard) {
          navigator.clipboard.writeText(button.dataset.copy).then(done, function () { button.textContent = "Copy failed"; });
        }
      });
    });
    document.querySelectorAll("[data-select-all]").forEach(function (all) {
      all.hidden = false;
      var form = all.closest("form");
      all.addEventListener("change", function () {
        form.querySelectorAll("input[type=checkbox][name=tag]").forEach(function (box) { box.checked = all.checked; });
      });
    });
  });
})();
