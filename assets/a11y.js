/*
 * Neighbourhood Atlas: every control named for a screen reader (axe-core's "aria-input-field-name" and
 * "nested-interactive" rules; see tests/test_browser_places.py).
 *
 * Dash 4 draws dcc.RadioItems and dcc.Checklist as a role="listbox" of role="option" labels, each holding a
 * native radio or checkbox: an unnamed listbox whose options nest interactive inputs. The native inputs inside
 * their labels are already the accessible controls, so here the list becomes a named radio group (or group)
 * and its labels lose the option role. dcc.Slider's thumb (role="slider") and its number box get the name of
 * the field's label. Dash keeps re-rendering these: a MutationObserver names what appears or changes.
 */
(function () {
  "use strict";

  function labelOf(el) {
    // The field's <label id="<id>-label">, or the name of the group it is in.
    var id = el.id;
    if (id && document.getElementById(id + "-label")) {
      return { labelledby: id + "-label" };
    }
    var named = el.parentElement ? el.parentElement.closest("[aria-labelledby], [aria-label]") : null;
    if (named && named.getAttribute("aria-labelledby")) {
      return { labelledby: named.getAttribute("aria-labelledby") };
    }
    if (named && named.getAttribute("aria-label") && named.tagName !== "FORM") {
      return { label: named.getAttribute("aria-label") };
    }
    var text = (el.textContent || "").trim();
    return text ? { label: text } : null;
  }

  function name(el, found) {
    if (!found) {
      return;
    }
    if (found.labelledby && el.getAttribute("aria-labelledby") !== found.labelledby) {
      el.setAttribute("aria-labelledby", found.labelledby);
    } else if (found.label && !found.labelledby && el.getAttribute("aria-label") !== found.label) {
      el.setAttribute("aria-label", found.label);
    }
  }

  function fixLists(root) {
    var lists = root.querySelectorAll(".dash-options-list[role='listbox']");
    Array.prototype.forEach.call(lists, function (list) {
      var radios = list.querySelector("input[type='radio']") !== null;
      var role = radios ? "radiogroup" : "group";
      if (list.getAttribute("role") !== role) {
        list.setAttribute("role", role);
      }
      name(list, labelOf(list));
    });
    var options = root.querySelectorAll(".dash-options-list-option[role='option'], " +
      ".dash-options-list-option[aria-selected]");
    Array.prototype.forEach.call(options, function (option) {
      if (option.closest(".dash-dropdown-content")) {
        return;  // a dropdown's options are a real listbox's
      }
      option.removeAttribute("role");
      option.removeAttribute("aria-selected");
    });
  }

  function fixSliders(root) {
    var sliders = root.querySelectorAll(".dash-slider-container");
    Array.prototype.forEach.call(sliders, function (slider) {
      var found = labelOf(slider);
      Array.prototype.forEach.call(slider.querySelectorAll("[role='slider'], input"), function (el) {
        name(el, found);
      });
    });
  }

  function fix(root) {
    if (!root || !root.querySelectorAll) {
      return;
    }
    fixLists(root.parentElement || root);
    fixSliders(root.parentElement || root);
  }

  var pending = false;
  function later() {
    if (!pending) {
      pending = true;
      window.requestAnimationFrame(function () {
        pending = false;
        fix(document.body);
      });
    }
  }

  if (window.MutationObserver) {
    new MutationObserver(function (records) {
      for (var i = 0; i < records.length; i += 1) {
        var r = records[i];
        var target = r.target;
        // The map's own DOM (Leaflet's panes, tiles, tooltips) and the HTML the page's scripts write (legend,
        // table, search results) hold no Dash list or slider: their many changes are not looked through.
        if (target.closest && target.closest(".leaflet-container, .legend, .legend-strip, .table-wrap, " +
            ".place-results")) {
          continue;
        }
        if (r.type === "childList" || (target.classList && (target.classList.contains("dash-options-list") ||
            target.classList.contains("dash-options-list-option") || target.classList.contains("dash-slider-thumb")))) {
          later();
          return;
        }
      }
    }).observe(document.documentElement, { childList: true, subtree: true, attributes: true,
      attributeFilter: ["role", "aria-selected"] });
  }
  document.addEventListener("DOMContentLoaded", function () { fix(document.body); });
})();
