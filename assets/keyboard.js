/*
 * Neighbourhood Atlas: typing in any list selects what was typed.
 *
 * Dash 4's dcc.Dropdown opens a popover whose focus lands on the option already chosen, not on its search
 * box: typing "Birmingham" then went nowhere, and Enter chose the focused option (Aberdeen City, or England
 * and Wales). Here, when a list opens, focus goes to its search box (where Dash filters the options and Enter
 * takes the first match) until the person moves through the options with the arrow keys; a letter typed while
 * an option has focus goes to the search box too. A list without a search box (Classes, Number of classes,
 * Geography) gets type-ahead: the letters typed move focus to the first option whose words start with them,
 * and Enter or Space chooses it, as a native <select> does.
 *
 * Dash also puts an invisible, aria-hidden input before each list's button that takes the Tab and hands focus
 * on: a hidden element that takes focus. Here the button itself takes the Tab and the relay never does.
 */
(function () {
  "use strict";

  var typed = "";
  var typedAt = 0;
  var chosen = null;  // the option type-ahead last moved to: {popover, el, at}
  var navigated = typeof WeakSet === "function" ? new WeakSet() : null;  // lists moved through by arrow keys
  var NAVIGATION = ["ArrowDown", "ArrowUp", "PageDown", "PageUp", "Home", "End", "Tab"];

  // The button takes the Tab, Dash's hidden relay does not (Dash gives it tabIndex 0 back on every blur).
  function fixRelays(root) {
    if (!root.querySelectorAll) {
      return;
    }
    var relays = root.matches && root.matches("input.dash-dropdown-focus-target") ? [root] :
      root.querySelectorAll("input.dash-dropdown-focus-target");
    Array.prototype.forEach.call(relays, function (relay) {
      if (relay.tabIndex !== -1) {
        relay.tabIndex = -1;
      }
      var button = relay.nextElementSibling;
      if (button && button.tagName === "BUTTON" && !button.disabled && button.tabIndex !== 0) {
        button.tabIndex = 0;
      }
    });
  }

  function searchBox(popover) {
    return popover ? popover.querySelector("input.dash-dropdown-search") : null;
  }

  function popoverOf(el) {
    return el && el.closest ? el.closest(".dash-dropdown-content") : null;
  }

  // A key pressed on a list's button while its list is open (typed before focus has moved into the list)
  // belongs to that list.
  function openPopoverOf(el) {
    if (!el || !el.getAttribute || el.getAttribute("aria-expanded") !== "true") {
      return null;
    }
    var controlled = el.getAttribute("aria-controls");
    var target = controlled ? document.getElementById(controlled) : null;
    return popoverOf(target) || (target && target.classList.contains("dash-dropdown-content") ? target : null) ||
      document.querySelector(".dash-dropdown-content");
  }

  function printable(event) {
    return event.key && event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey &&
      event.key !== " ";
  }

  function setValue(input, value) {
    // React keeps its own copy of an input's value: set it through the native setter, then say so.
    var setter = Object.getOwnPropertyDescriptor(window.HTMLInputElement.prototype, "value").set;
    setter.call(input, value);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // A list opened: its search box takes focus (after Radix has placed focus on the chosen option).
  if (window.MutationObserver) {
    new MutationObserver(function (records) {
      records.forEach(function (record) {
        if (record.type === "attributes") {
          fixRelays(record.target);
          return;
        }
        Array.prototype.forEach.call(record.addedNodes, function (node) {
          if (!node.querySelector) {
            return;
          }
          fixRelays(node);
          var popover = node.classList && node.classList.contains("dash-dropdown-content") ? node :
            node.querySelector(".dash-dropdown-content");
          var box = searchBox(popover);
          if (box) {
            window.setTimeout(function () { if (document.body.contains(box)) { box.focus(); } }, 0);
          }
        });
      });
    }).observe(document.documentElement, { childList: true, subtree: true, attributes: true,
      attributeFilter: ["tabindex"] });
  }
  document.addEventListener("DOMContentLoaded", function () { fixRelays(document); });

  // Dash focuses the chosen option once the list has opened: until the arrow keys are used, focus belongs in the
  // search box.
  document.addEventListener("focusin", function (event) {
    var popover = popoverOf(event.target);
    var box = searchBox(popover);
    // Radix focuses the chosen option once the list has opened; a letter typed before that has already moved
    // focus to the option it names, which keeps it.
    if (!box && chosen && chosen.popover === popover && event.target !== chosen.el &&
        Date.now() - chosen.at < 1000 && !(navigated && navigated.has(popover)) && document.body.contains(chosen.el)) {
      chosen.el.focus();
      return;
    }
    if (box && event.target !== box && !(navigated && navigated.has(popover)) &&
        event.target.closest("[role='option']")) {
      box.focus();
    }
  }, true);

  document.addEventListener("keydown", function (event) {
    var popover = popoverOf(event.target) || (printable(event) ? openPopoverOf(event.target) : null);
    if (popover && navigated && NAVIGATION.indexOf(event.key) >= 0) {
      navigated.add(popover);
    }
    if (!popover || !printable(event)) {
      return;
    }
    var box = searchBox(popover);
    if (box) {
      if (event.target !== box) {
        // A letter typed on an option: it belongs in the search box.
        event.preventDefault();
        box.focus();
        setValue(box, box.value + event.key);
      }
      return;
    }
    // No search box: type-ahead over the options' words.
    var now = Date.now();
    typed = now - typedAt > 800 ? event.key.toLowerCase() : typed + event.key.toLowerCase();
    typedAt = now;
    var options = popover.querySelectorAll("[role='option']");
    for (var i = 0; i < options.length; i += 1) {
      var text = (options[i].textContent || "").trim().toLowerCase();
      if (text.indexOf(typed) === 0) {
        var input = options[i].querySelector("input") || options[i];
        event.preventDefault();
        chosen = { popover: popover, el: input, at: now };
        input.focus();
        if (options[i].scrollIntoView) {
          options[i].scrollIntoView({ block: "nearest" });
        }
        return;
      }
    }
  }, true);
})();
