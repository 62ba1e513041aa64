/*
 * Neighbourhood Atlas: the explorer's Export, Download data and Embed controls, and the embed page's
 * small behaviours (callbacks/embed.py).
 *
 * window.atlas.embed holds the pure link builders (tests and the console call them);
 * window.dash_clientside.atlas_embed holds the clientside callbacks. The Embed dialog is a native
 * <dialog> opened with showModal(): the browser keeps focus inside it, Escape closes it, and focus goes
 * back to the Embed button when it closes.
 */
(function () {
  "use strict";

  var EXPORTS = [["png", 96], ["png", 300], ["svg", null], ["pdf", null]];
  var DATA = ["csv", "geojson", "gpkg", "parquet"];
  // British National Grid's useful extent, as export.parse_bbox accepts it.
  var LIMITS = { west: -10, south: 48, east: 4, north: 62 };
  var TINY = { width: 420, height: 320 };

  function nu() {
    return window.dash_clientside.no_update;
  }

  function S() {
    return window.atlas.ids.SHARE; // ui/ids.py, served as /_atlas/ids.js
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function corners(bounds) {
    // dash-leaflet gives [[south, west], [north, east]]; a Leaflet LatLngBounds-like object also works.
    if (!bounds) {
      return null;
    }
    if (Array.isArray(bounds) && bounds.length === 2) {
      return { south: bounds[0][0], west: bounds[0][1], north: bounds[1][0], east: bounds[1][1] };
    }
    if (bounds._southWest && bounds._northEast) {
      return { south: bounds._southWest.lat, west: bounds._southWest.lng,
               north: bounds._northEast.lat, east: bounds._northEast.lng };
    }
    return null;
  }

  function bbox(bounds) {
    // west,south,east,north to 5 decimals (about 1 m), as export.url writes it, cut to what the export
    // can draw; null when nothing of the view is left (the export then frames the authority).
    var c = corners(bounds);
    if (!c || ![c.west, c.south, c.east, c.north].every(Number.isFinite)) {
      return null;
    }
    var w = Math.max(c.west, LIMITS.west);
    var s = Math.max(c.south, LIMITS.south);
    var e = Math.min(c.east, LIMITS.east);
    var n = Math.min(c.north, LIMITS.north);
    if (!(w < e && s < n)) {
      return null;
    }
    return [w, s, e, n].map(function (v) { return v.toFixed(5); }).join(",");
  }

  function exportUrl(search, fmt, dpi, box) {
    var query = search || "";
    if (box) {
      query += (query ? "&" : "?") + "bbox=" + box;
    }
    if (dpi && fmt === "png") {
      query += (query ? "&" : "?") + "dpi=" + dpi;
    }
    return "/export/map." + fmt + query;
  }

  function links(stored, bounds) {
    // Export (with the map's bounds), the view's data in each format, and the authority's datapack.
    if (!stored || !stored.state || !stored.search) {
      return null;
    }
    var st = stored.state;
    var box = bbox(bounds);
    var out = EXPORTS.map(function (e) { return exportUrl(stored.search, e[0], e[1], box); });
    var base = "/api/values/" + encodeURIComponent(st.authority) + "/" + encodeURIComponent(st.level) + "/" +
      encodeURIComponent(st.variable) + ".";
    DATA.forEach(function (ext) { out.push(base + ext); });
    var national = st.authority === "all";
    out.push(national ? "#" : "/datapack/" + encodeURIComponent(st.authority) + ".zip");
    out.push(national);  // the national view has no datapack: its item is hidden
    return out;
  }

  var watching = false;

  function watchSize() {
    // Leaflet measures its container only on a window resize; in the embed the map's box also changes
    // when a longer title or source wraps onto another line. dash-leaflet re-measures when its
    // invalidateSize prop changes.
    var box = document.querySelector(".atlas-embed .embed-mapbox");
    if (watching || !box || !window.ResizeObserver || !window.dash_clientside.set_props) {
      return;
    }
    watching = true;
    var last = null;
    new ResizeObserver(function (entries) {
      var r = entries[entries.length - 1].contentRect;
      var size = Math.round(r.width) + "x" + Math.round(r.height);
      if (last !== null && size !== last) {
        window.dash_clientside.set_props(window.atlas.ids.MAP, { invalidateSize: size });
      }
      last = size;
    }).observe(box);
  }

  // -- the tools' links and dialog, created when first approached (ui/share.py) ------------------------------

  var builtFrom = null;  // the parts last put in place (a page laid out again brings new ones)
  var shown = [];  // the links' addresses last set

  function build(parts) {
    if (!parts || parts === builtFrom) {
      return;
    }
    builtFrom = parts;
    shown = [];
    Object.keys(parts).forEach(function (box) {
      window.dash_clientside.set_props(box, { children: parts[box] });
    });
  }

  function linkTargets() {
    // (id, property) in the order links() gives its values.
    var s = S();
    return [[s.EXPORT_PNG, "href"], [s.EXPORT_PNG_PRINT, "href"], [s.EXPORT_SVG, "href"], [s.EXPORT_PDF, "href"],
            [s.DATA_CSV, "href"], [s.DATA_GEOJSON, "href"], [s.DATA_GPKG, "href"], [s.DATA_PARQUET, "href"],
            [s.DATAPACK, "href"], [s.DATAPACK_ITEM, "hidden"]];
  }

  function approach(event) {
    // The first focus (the keyboard) or press (a pointer) inside the tools creates them, before the click.
    var s = window.atlas.ids && S();
    var tools = s && event.target && event.target.closest ? event.target.closest("#" + s.TOOLS) : null;
    if (tools && !byId(s.DIALOG) && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(s.OPENED, { data: true });
    }
  }
  document.addEventListener("focusin", approach, true);
  document.addEventListener("pointerdown", approach, true);

  window.atlas = Object.assign({}, window.atlas, {
    embed: { bbox: bbox, exportUrl: exportUrl, links: links },
  });

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    atlas_embed: {
      links: function (stored, bounds, opened, parts) {
        // Nothing until the tools were first approached; then their links and dialog are created (once)
        // and the links' addresses set, only those that changed (each set is an update of Dash's store).
        if (!opened) {
          return nu();
        }
        build(parts);
        var out = links(stored, bounds);
        if (out) {
          var targets = linkTargets();
          out.forEach(function (value, i) {
            if (shown[i] !== value) {
              shown[i] = value;
              var t = targets[i];
              window.dash_clientside.set_props(t[0], t[1] === "href" ? { href: value } : { hidden: value });
            }
          });
        }
        return nu();
      },

      open_link: function (stored) {
        return stored && stored.search ? "/" + stored.search : nu();
      },

      fold_legend: function (className) {
        watchSize();
        // Only when the page did not say (legend=open|closed): a tiny frame starts with the legend folded.
        if (!className || className.indexOf("legend-auto") < 0) {
          return nu();
        }
        return !(window.innerWidth < TINY.width || window.innerHeight < TINY.height);
      },
    },
  });

  // -- the Embed dialog ---------------------------------------------------------------------------------

  function copy(text, status) {
    function done(ok) {
      status.textContent = ok ? "Copied." : "Could not copy: select the code and copy it (Ctrl+C).";
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
      return;
    }
    // Plain http off localhost: the Clipboard API is not there; the selection-and-command fallback is.
    var box = byId(S().DIALOG_SNIPPET);
    box.focus();
    box.select();
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    done(ok);
  }

  function whenDrawn(id, then) {
    var tries = 0;
    (function look() {
      if (byId(id)) {
        then();
      } else if (++tries < 120) {
        window.requestAnimationFrame(look);
      }
    })();
  }

  document.addEventListener("click", function (event) {
    var ids = window.atlas.ids && S();
    var target = ids && event.target.closest ?
      event.target.closest("#" + [S().EMBED_BUTTON, S().DIALOG_CLOSE, S().DIALOG_COPY].join(",#")) : null;
    if (!target) {
      return;
    }
    var dialog = byId(S().DIALOG);
    if (!dialog && target.id === S().EMBED_BUTTON) {
      // Pressed before the tools were created (a click without a press or focus first): create them, and
      // open the dialog once it is drawn.
      window.dash_clientside.set_props(S().OPENED, { data: true });
      whenDrawn(S().DIALOG, function () { target.click(); });
      return;
    }
    if (!dialog) {
      return;
    }
    if (target.id === S().EMBED_BUTTON) {
      if (!dialog.open) {
        var status = byId(S().DIALOG_COPIED);
        if (status) {
          status.textContent = "";
        }
        dialog.showModal();
        // Focus the code (what most come for), not the first checkbox: the Enter that opened the dialog
        // would otherwise tick it.
        var code = byId(S().DIALOG_SNIPPET);
        if (code) {
          code.focus();
        }
      }
    } else if (target.id === S().DIALOG_CLOSE) {
      dialog.close();
    } else {
      copy(byId(S().DIALOG_SNIPPET).value, byId(S().DIALOG_COPIED));
    }
  });

  document.addEventListener("close", function (event) {
    // The dialog's close event does not bubble; listening in the capture phase still sees it.
    if (event.target && window.atlas.ids && event.target.id === S().DIALOG) {
      var opener = byId(S().EMBED_BUTTON);
      if (opener) {
        opener.focus();
      }
    }
  }, true);
})();
