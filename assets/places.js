/*
 * Neighbourhood Atlas: finding a place. The search box is a combobox (WAI-ARIA 1.2 pattern): words typed
 * ask GET /api/search (atlas/search.py decides what matches and in which order); no result is highlighted
 * until an arrow key moves to one (ArrowDown goes to the first), Enter opens the one highlighted (or, with
 * none, the first), Escape closes the list. "Near me" asks the browser for its position (the browser asks
 * the person first) and GET /api/locate for the areas there. Opening a place goes through the address's
 * store with push: the server's render opens its district (or region) and level, selects the area it lies
 * in and flies to it, and the address says so; a postcode, a town or the reader's own position is pinned
 * (``pin=lat,lon`` in the address, drawn here as a marker over the map) and the map flies to it
 * (``map=zoom/lat/lon``).
 *
 * The phone layout's parts live here too: the button that opens the controls, the legend's sheet (opened from
 * its strip over the map), and hover cards kept inside the screen.
 * Ids come from window.atlas.ids (ui/ids.py).
 */
(function () {
  "use strict";

  var timer = null;
  var results = [];
  var active = -1;
  var asked = 0; // the latest request: an older answer arriving late is dropped

  function I() {
    return window.atlas.ids;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function esc(text) {
    return window.atlas.escapeHtml(text === null || text === undefined ? "" : text);
  }

  function status(text) {
    var box = byId(I().PLACE_STATUS);
    if (box) {
      box.textContent = text || "";
    }
  }

  function list() {
    return byId(I().PLACE_RESULTS);
  }

  function close() {
    var box = list();
    var input = byId(I().PLACE_SEARCH);
    if (box) {
      box.hidden = true;
      box.innerHTML = "";
    }
    if (input) {
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }
    active = -1;
  }

  function describe(r) {
    // What it is and where: "village in Richmondshire, North Yorkshire", "postcode in Edgbaston ward,
    // Birmingham", "electoral ward (December 2022) in Birmingham".
    var where = r.where && r.where !== r.name && r.where !== "England and Wales" ? " in " + r.where : "";
    var now = r.district_now && r.district_now.name ? " (council since 2023: " + r.district_now.name + ")" : "";
    return r.what + where + now;
  }

  function render(found) {
    var box = list();
    var input = byId(I().PLACE_SEARCH);
    if (!box || !input) {
      return;
    }
    results = found.results || [];
    active = -1; // nothing is highlighted until an arrow key moves: ArrowDown goes to the first
    var html = results.map(function (r, i) {
      return "<li role='option' id='place-opt-" + i + "' data-place-index='" + i + "' aria-selected='" +
        (i === active ? "true" : "false") + "' class='place-option'><span class='place-name'>" + esc(r.label) +
        "</span> <span class='place-kind'>" + esc(describe(r)) + "</span></li>";
    }).join("");
    if (!results.length) {
      html = "<li role='option' aria-disabled='true' aria-selected='false' class='place-none'>" +
        esc(found.note || ("Nothing found for “" + found.query + "”.")) + "</li>";
    } else if (found.note) {
      html += "<li role='presentation' class='place-note'>" + esc(found.note) + "</li>";
    }
    box.innerHTML = html;
    box.hidden = false;
    input.setAttribute("aria-expanded", "true");
    mark();
    status(results.length ? results.length + " place" + (results.length === 1 ? "" : "s") + " found; use the " +
      "arrow keys and Enter to open one." : (found.note || "Nothing found."));
  }

  function mark() {
    var input = byId(I().PLACE_SEARCH);
    var box = list();
    if (!box || !input) {
      return;
    }
    Array.prototype.forEach.call(box.querySelectorAll("[data-place-index]"), function (li) {
      var on = Number(li.getAttribute("data-place-index")) === active;
      li.setAttribute("aria-selected", on ? "true" : "false");
      li.classList.toggle("active", on);
      if (on && li.scrollIntoView) {
        li.scrollIntoView({ block: "nearest" });
      }
    });
    if (active >= 0) {
      input.setAttribute("aria-activedescendant", "place-opt-" + active);
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function ask(text) {
    var mine = ++asked;
    if (!text.trim()) {
      close();
      status("");
      return;
    }
    fetch("/api/search?q=" + encodeURIComponent(text.slice(0, 100)) + "&limit=10", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { query: text, results: [], note: "The search is not available." }; })
      .then(function (found) {
        if (mine === asked) {
          render(found);
        }
      })
      .catch(function () {
        if (mine === asked) {
          status("The search could not be reached.");
        }
      });
  }

  function open(place, words) {
    // Open a place: its district (or region...) and level, with the area its point lies in selected. The
    // view's other keys (variable, classes, colours) are kept; the server falls back, and says so, where
    // they do not apply. The level shown stays when the place is in the district shown and has an area there.
    var params = new URLSearchParams(window.location.search);
    var level = place.level;
    var area = place.area;
    var shown = params.get("level");
    if (params.get("authority") === place.authority && shown && place.areas && place.areas[shown]) {
      level = shown;
      area = place.areas[shown];
    }
    params.set("authority", place.authority);
    params.set("level", level);
    ["scope", "map", "area", "pin"].forEach(function (k) { params.delete(k); });
    if (area) {
      params.set("area", area);
    }
    var keys = { map: null, pin: null }; // written into the address with the view (atlas.js write_url)
    if (place.point && place.point[0] !== null && place.point[0] !== undefined) {
      var lat = Number(place.point[1]).toFixed(5);
      var lon = Number(place.point[0]).toFixed(5);
      if (place.zoom) {
        // A town or village: the map flies to it at its zoom; a postcode's map shows the area it lies in.
        keys.map = place.zoom + "/" + lat + "/" + lon;
        params.set("map", keys.map);
      }
      keys.pin = lat + "," + lon;
      params.set("pin", keys.pin);
      pinLabel = place.pinLabel || place.label || "";
    }
    window.atlas._pendingKeys = keys;
    // The server keeps the question asked: where the variable shown has no data at the place's own level, the
    // area of the level shown that holds the point is selected instead; the words name the one selected.
    selectedWords = place.selected || null;
    status(words || ("Opening " + place.label + "…"));
    close();
    // On a phone the map is what the person wants to see now: the controls and the legend's sheet close, and
    // the map comes into view with the pin.
    if (document.body.classList.contains("controls-open")) {
      toggleControls(false, true);
    }
    if (document.body.classList.contains("legend-sheet-open")) {
      legendSheet(false);
    }
    bringMapIntoView();
    showMapAfterRender = true; // again once the view is drawn: a message above the map may have moved it
    if (window.dash_clientside && window.dash_clientside.set_props) {
      var search = "?" + params.toString().replace(/%2C/g, ",").replace(/%2F/g, "/");
      window.dash_clientside.set_props(I().NAV, { data: { search: search, t: Date.now(), push: true } });
    }
  }

  function choose(i) {
    var r = results[i];
    if (!r) {
      return;
    }
    var input = byId(I().PLACE_SEARCH);
    if (input) {
      input.value = r.label;
    }
    open(r, "Opening " + r.label + " (" + describe(r) + ")." + (r.note ? " " + r.note : ""));
  }

  document.addEventListener("input", function (event) {
    if (!event.target || event.target.id !== I().PLACE_SEARCH) {
      return;
    }
    var text = event.target.value || "";
    if (timer) {
      window.clearTimeout(timer);
    }
    timer = window.setTimeout(function () { ask(text); }, 120);
  });

  document.addEventListener("keydown", function (event) {
    if (!event.target || event.target.id !== I().PLACE_SEARCH) {
      return;
    }
    var box = list();
    var openList = box && !box.hidden;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!openList) {
        ask(event.target.value || "");
      } else if (results.length) {
        active = (active + (event.key === "ArrowDown" ? 1 : -1) + results.length) % results.length;
        mark();
      }
      event.preventDefault();
    } else if (event.key === "Enter") {
      event.preventDefault(); // never submit the controls' form
      if (openList && active >= 0) {
        choose(active);
      } else if (openList && results.length) {
        choose(0); // Enter with nothing highlighted: the best match, as a search box's Enter does
      } else if ((event.target.value || "").trim()) {
        // Enter before the list arrived: search now and open the best match.
        var text = event.target.value;
        fetch("/api/search?q=" + encodeURIComponent(text.slice(0, 100)) + "&limit=10", { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (found) {
            render(found);
            if (found.results && found.results.length) {
              choose(0);
            }
          });
      }
    } else if (event.key === "Escape") {
      if (openList) {
        close();
        event.preventDefault();
      }
    }
  });

  document.addEventListener("click", function (event) {
    var option = event.target.closest ? event.target.closest("[data-place-index]") : null;
    if (option) {
      choose(Number(option.getAttribute("data-place-index")));
      return;
    }
    if (event.target.id === I().NEAR_ME) {
      nearMe();
      return;
    }
    if (event.target.closest && event.target.closest("#" + I().CONTROLS_TOGGLE)) {
      toggleControls();
      return;
    }
    var box = list();
    if (box && !box.hidden && !(event.target.closest && event.target.closest(".place-search"))) {
      close();
    }
  });

  function nearMe() {
    if (!navigator.geolocation) {
      status("This browser cannot tell where you are; type a place or postcode instead.");
      return;
    }
    status("Asking your browser where you are…");
    navigator.geolocation.getCurrentPosition(function (pos) {
      var lat = pos.coords.latitude.toFixed(6);
      var lon = pos.coords.longitude.toFixed(6);
      fetch("/api/locate?lat=" + lat + "&lon=" + lon, { credentials: "same-origin" })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (got) {
          if (!got.ok) {
            status(got.body && got.body.error ? "Not found: " + got.body.error + "." : "Your position could not be looked up.");
            return;
          }
          var b = got.body;
          // The ward is named once, from the point (December 2022 wards), with the district.
          var ward = b.ward ? b.ward.name + " ward, " : "";
          // Opened on the LSOA of 2021 (today's indices and Census 2021), as a searched postcode is.
          var lsoa = b.lsoa21 || b.lsoa;
          var prefix = "You are in " + ward + b.authority.name;
          var names = {};
          [b.lsoa, b.lsoa21, b.oa].forEach(function (a) { if (a) { names[a.code] = a.name; } });
          open({ authority: b.lsoa21 ? b.lsoa21.authority : b.authority.code, level: b.lsoa21 ? "lsoa21" : "lsoa11",
                 area: lsoa.code, label: lsoa.name, point: [b.lon, b.lat], pinLabel: "You are here",
                 selected: { prefix: prefix, names: names },
                 areas: { lsoa11: b.lsoa.code, lsoa21: b.lsoa21 ? b.lsoa21.code : null,
                          ward22: b.ward ? b.ward.code : null, oa11: b.oa ? b.oa.code : null } },
               prefix + " (" + lsoa.name + " selected).");
        })
        .catch(function () { status("Your position could not be looked up."); });
    }, function (err) {
      status(err && err.code === 1 ? "Your browser did not share your position: type a place or postcode instead." :
        "Your position is not available just now; type a place or postcode instead.");
    }, { timeout: 15000, maximumAge: 60000 });
  }

  // -- the phone layout: controls behind a button ---------------------------------------------------------

  function toggleControls(force, toMap) {
    var button = byId(I().CONTROLS_TOGGLE);
    var panel = byId(I().CONTROLS_PANEL);
    if (!button || !panel) {
      return;
    }
    var open = force === undefined ? button.getAttribute("aria-expanded") !== "true" : force;
    button.setAttribute("aria-expanded", open ? "true" : "false");
    document.body.classList.toggle("controls-open", open);
    if (open) {
      var first = panel.querySelector("input, button, select, [tabindex='0']");
      if (first) {
        first.focus();
      }
    } else if (toMap) {
      var map = byId(I().MAP);
      if (map) {
        map.focus({ preventScroll: true });
      }
    } else {
      button.focus();
    }
  }

  // -- the pin: a searched postcode or place, or the reader's own position (pin= in the address) ------------

  var pinLabel = "";
  var pinLayer = null;
  var showMapAfterRender = false;
  var selectedWords = null; // {prefix, names: code -> name}: Near me's words, written once the view is drawn

  function bringMapIntoView() {
    // On a phone the map is under the title bar; a message or the controls above it may push it down.
    var wrap = document.querySelector(".mapwrap");
    if (!wrap || !window.matchMedia || !window.matchMedia("(max-width: 700px)").matches) {
      return;
    }
    var top = wrap.getBoundingClientRect().top;
    if (top < 0 || top > 80) {
      wrap.scrollIntoView({ block: "start" });
    }
  }

  function pinIcon() {
    // A drop pin drawn in SVG (no image file): dark with a white rim and a white dot, readable on every palette.
    var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='30' height='42' viewBox='0 0 30 42' aria-hidden='true'>" +
      "<path d='M15 41 C15 41 2 24 2 15 A13 13 0 0 1 28 15 C28 24 15 41 15 41 Z' fill='#1a1a1a' stroke='#ffffff' " +
      "stroke-width='2.5'/><circle cx='15' cy='15' r='5' fill='#ffffff'/></svg>";
    return window.L.divIcon({ html: svg, className: "atlas-pin", iconSize: [30, 42], iconAnchor: [15, 41],
                              popupAnchor: [0, -38] });
  }

  function settleWords() {
    // Near me's words name the area the drawn view selected, once the view drawn is the one the address
    // names (the server may have kept the question at another level: the area of that level holding the point).
    var h = window.atlas._latest;
    var q = new URLSearchParams(window.location.search);
    if (!selectedWords || !h || !h.p || h.p.key !== q.get("authority") + "/" + q.get("level")) {
      return;
    }
    var chosen = h.s || (h.pending ? h.want : null);
    if (chosen && selectedWords.names[chosen]) {
      status(selectedWords.prefix + " (" + selectedWords.names[chosen] + " selected).");
      selectedWords = null;
    }
  }

  window.addEventListener("atlas:view", settleWords);

  function readPin() {
    var text = new URLSearchParams(window.location.search).get("pin") || "";
    var m = /^(-?\d{1,2}(?:\.\d{1,6})?),(-?\d{1,3}(?:\.\d{1,6})?)$/.exec(text.trim());
    return m ? [Number(m[1]), Number(m[2])] : null;
  }

  function drawPin() {
    var map = window.atlas.tiles && window.atlas.tiles.map(I().MAP);
    if (!map || !window.L) {
      return;
    }
    if (showMapAfterRender) {
      showMapAfterRender = false;
      bringMapIntoView();
    }
    settleWords();
    var at = readPin();
    if (!at) {
      if (pinLayer) {
        map.removeLayer(pinLayer);
        pinLayer = null;
      }
      return;
    }
    var title = (pinLabel || "Pinned point") + " (" + at[0].toFixed(5) + ", " + at[1].toFixed(5) + ")";
    if (pinLayer && pinLayer._map === map) {
      pinLayer.setLatLng(at);
      pinLayer.options.title = title;
      if (pinLayer._icon) {
        pinLayer._icon.setAttribute("title", title);
        pinLayer._icon.setAttribute("aria-label", title);
      }
      return;
    }
    pinLayer = window.L.marker(at, { icon: pinIcon(), title: title, alt: title, keyboard: false,
                                     interactive: false, zIndexOffset: 1000 }).addTo(map);
    if (pinLayer._icon) {
      pinLayer._icon.setAttribute("role", "img");
      pinLayer._icon.setAttribute("aria-label", title);
    }
  }

  // The address changes after every render (write_url) and on back/forward: the pin follows it.
  window.addEventListener("atlas:styled", drawPin);
  window.addEventListener("popstate", function () { window.setTimeout(drawPin, 0); });
  window.addEventListener("atlas:map", function () { window.setTimeout(drawPin, 0); });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.body.classList.contains("controls-open")) {
      var panel = byId(I().CONTROLS_PANEL);
      if (panel && panel.contains(document.activeElement) && !(event.target.closest &&
          event.target.closest(".dash-dropdown, .Select, [role='listbox'], [role='combobox']"))) {
        toggleControls(false);
      }
    }
  });

  // dcc.Input takes no ARIA attributes: give the search box those of a combobox as soon as Dash draws it.
  function dress() {
    var input = byId(I().PLACE_SEARCH);
    if (!input || input.getAttribute("role") === "combobox") {
      return !!input;
    }
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", I().PLACE_RESULTS);
    input.setAttribute("aria-describedby", I().PLACE_SEARCH + "-help");
    return true;
  }
  if (window.MutationObserver) {
    var watcher = new MutationObserver(function () { dress(); });
    document.addEventListener("DOMContentLoaded", function () {
      if (!dress()) {
        watcher.observe(document.body, { childList: true, subtree: true });
      }
    });
  }

  // -- the phone layout: the legend's strip opens the whole legend as a sheet over the map's foot ------------

  function legendSheet(open) {
    document.body.classList.toggle("legend-sheet-open", open);
    Array.prototype.forEach.call(document.querySelectorAll(".legend-open"), function (b) {
      b.setAttribute("aria-expanded", open ? "true" : "false");
    });
    if (open) {
      var close = byId(I().LEGEND_CLOSE);
      if (close) {
        close.focus({ preventScroll: true });
      }
    } else {
      var strip = document.querySelector(".legend-open");
      if (strip && strip.offsetParent) {
        strip.focus();
      }
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.closest && target.closest(".legend-open")) {
      legendSheet(!document.body.classList.contains("legend-sheet-open"));
    } else if (target.id === I().LEGEND_CLOSE) {
      legendSheet(false);
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.body.classList.contains("legend-sheet-open")) {
      legendSheet(false);
    }
  });

  // -- hover cards stay inside the screen (a tap on a phone opens one at the finger, near an edge) -------------

  function keepInside(tooltip) {
    var el = tooltip && tooltip.getElement && tooltip.getElement();
    if (!el || !el.getBoundingClientRect) {
      return;
    }
    el.style.translate = "";
    var r = el.getBoundingClientRect();
    var width = document.documentElement.clientWidth;
    var height = window.innerHeight;
    var dx = r.right > width - 4 ? width - 4 - r.right : 0;
    dx = r.left + dx < 4 ? 4 - r.left : dx;
    var dy = r.bottom > height - 4 ? height - 4 - r.bottom : 0;
    dy = r.top + dy < 4 ? 4 - r.top : dy;
    if (dx || dy) {
      el.style.translate = Math.round(dx) + "px " + Math.round(dy) + "px";
    }
  }

  window.addEventListener("atlas:map", function (e) {
    var map = e.detail && e.detail.map;
    if (!map) {
      return;
    }
    var open = null;
    map.on("tooltipopen", function (ev) {
      open = ev.tooltip;
      window.requestAnimationFrame(function () { keepInside(open); });
    });
    map.on("tooltipclose", function () { open = null; });
    map.on("mousemove", function () {
      if (open) {
        window.requestAnimationFrame(function () { keepInside(open); });
      }
    });
  });

  window.atlas = Object.assign({}, window.atlas, {
    places: { open: open, ask: ask, toggleControls: toggleControls, drawPin: drawPin, legendSheet: legendSheet,
              keepInside: keepInside },
  });
})();
