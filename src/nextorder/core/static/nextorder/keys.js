// Keyboard shortcuts of the console (the help: `?`, in base.html), the queue's row
// selection and the ticket page's macro picker. A static file: the Content-Security-
// Policy allows no inline script. Keys do nothing while the agent types in a field.
(function () {
  "use strict";

  function typing(target) {
    if (!target || !target.closest) return false;
    return Boolean(
      target.closest("input, textarea, select, [contenteditable=''], [contenteditable=true]")
    );
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("table.queue tr[data-ticket]"));
  }

  function currentRow() {
    return document.querySelector("table.queue tr.current");
  }

  function moveTo(row) {
    var previous = currentRow();
    if (previous) previous.classList.remove("current");
    if (!row) return;
    row.classList.add("current");
    row.scrollIntoView({ block: "nearest" });
  }

  function step(by) {
    var all = rows();
    if (!all.length) return;
    var at = all.indexOf(currentRow());
    var next = at < 0 ? (by > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + by));
    moveTo(all[next]);
  }

  function openCurrent() {
    var row = currentRow();
    var link = row && row.querySelector("td.subject a");
    if (link) window.location.href = link.href;
    return Boolean(link);
  }

  function toggleCurrent() {
    var row = currentRow();
    var box = row && row.querySelector("input[name=ticket]");
    if (box) box.checked = !box.checked;
  }

  function focusReply() {
    var reply = document.querySelector("#reply textarea[name=body]");
    if (!reply) return false;
    reply.focus();
    reply.scrollIntoView({ block: "center" });
    return true;
  }

  function openMacros() {
    var picker = document.getElementById("macro-picker");
    if (!picker) return false;
    picker.open = true;
    document.getElementById("macro-filter").focus();
    return true;
  }

  function toggleHelp() {
    var help = document.getElementById("shortcuts");
    if (!help) return;
    if (help.open) help.close();
    else help.showModal();
  }

  function focusSearch() {
    var box = document.querySelector("header input[type=search]");
    if (!box) return false;
    box.focus();
    box.select();
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.matches("#reply textarea")) {
      event.preventDefault();
      event.target.form.requestSubmit();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var handled = true;
    switch (event.key) {
      case "j": step(1); break;
      case "k": step(-1); break;
      case "o": handled = openCurrent(); break;
      case "Enter":
        // A focused link or button keeps its own Enter.
        handled = !event.target.closest("a, button") && Boolean(currentRow()) && openCurrent();
        break;
      case "x": toggleCurrent(); break;
      case "r": handled = focusReply(); break;
      case "m": handled = openMacros(); break;
      case "/": handled = focusSearch(); break;
      case "?": toggleHelp(); break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });

  // The macro picker: typing filters the list, Enter takes the first macro shown,
  // Escape closes it; the links themselves are reached with Tab.
  document.addEventListener("input", function (event) {
    if (event.target.id !== "macro-filter") return;
    var words = event.target.value.trim().toLowerCase();
    document.querySelectorAll("#macro-list a").forEach(function (link) {
      link.parentElement.hidden = words !== "" && link.dataset.name.indexOf(words) < 0;
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.target.id !== "macro-filter") return;
    if (event.key === "Enter") {
      event.preventDefault();
      var first = document.querySelector("#macro-list li:not([hidden]) a");
      if (first) window.location.href = first.href;
    } else if (event.key === "Escape") {
      document.getElementById("macro-picker").open = false;
      event.target.blur();
    }
  });

  // Select every row of the page, and send the queue's current filters (htmx may have
  // changed them since the page loaded) with the bulk and saved-view forms.
  document.addEventListener("change", function (event) {
    if (event.target.id !== "pick-all") return;
    document.querySelectorAll("table.queue input[name=ticket]").forEach(function (box) {
      box.checked = event.target.checked;
    });
  });
  document.addEventListener("submit", function (event) {
    var query = event.target.querySelector("input[name=query]");
    if (query && (event.target.id === "bulk" || event.target.classList.contains("save-view"))) {
      query.value = window.location.search.replace(/^\?/, "");
    }
  });

  // The header's menus: one open at a time, closed by a click elsewhere or Escape.
  function closeMenus(except) {
    document.querySelectorAll("header.top details.menu[open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest ? event.target.closest("details.menu") : null);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenus(null);
  });
})();
