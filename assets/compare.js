/*
 * Neighbourhood Atlas, compare view, in the browser: it paints what the server decided.
 *
 * Three maps (A, B, bivariate) share the explorer's geometry URL (fetched once, then from the browser's
 * cache) and are restyled in place: A from the explorer's own paint (view-payload), B from B's paint and
 * the bivariate map from the relation's class digits, all made by atlas/view.py and atlas/compare.py.
 * Pan and zoom are kept in sync here with Leaflet's own events. The scatter plot is a dcc.Graph built on
 * the server (created only when the compare view opens, so the explorer never loads plotly.js); its hover
 * and selection find the areas on the maps, and areas clicked on a map are selected among its points.
 *
 * window.atlas.cmp holds what dash-leaflet calls by name (layers/compare_areas.py);
 * window.dash_clientside.compare holds the clientside callbacks (callbacks/compare.py). Ids come from
 * window.atlas.ids.COMPARE (ui/ids.py).
 */
(function () {
  "use strict";

  var NO_DATA = "#ffffff";
  var KEYS = ["a", "b", "bv"];
  var MAX_PINNED = 4;
  var reg = { a: { url: null, list: [] }, b: { url: null, list: [] }, bv: { url: null, list: [] } };
  var latest = { a: null, b: null, bv: null };
  var maps = { a: null, b: null, bv: null };
  var hover = null; // code hovered in the scatter plot
  var syncing = false;
  var fitted = null; // the relation key last fitted
  var lastState = null; // the compare view last rendered (its pinned areas, for the Pin buttons)
  var tiled = { a: false, b: false, bv: false }; // drawn from vector tiles (England and Wales, small areas)
  var tips = { a: null, b: null, bv: null };

  function nu() {
    return window.dash_clientside.no_update;
  }

  function C() {
    return window.atlas.ids.COMPARE;
  }

  function escapeHtml(text) {
    return window.atlas.escapeHtml(text);
  }

  function digit(cls, i) {
    return window.atlas.classAt(cls, i);  // the paint's one decoder (atlas.js)
  }

  function fills(m, pa, pb, rel) {
    var n = pa.n;
    var out = new Array(n);
    for (var i = 0; i < n; i += 1) {
      if (m === "bv") {
        var c = digit(rel.cls, i);
        out[i] = c >= 0 ? rel.colours[c] : NO_DATA;
      } else {
        out[i] = window.atlas.fillOf(m === "a" ? pa : pb, i);
      }
    }
    return out;
  }

  // -- map styles --------------------------------------------------------------------------------------------

  function current(ctx) {
    var h = ctx.hideout || {};
    var l = h.m ? latest[h.m] : null;
    return l && l.url === ctx.url ? l : h;
  }

  function styleFor(feature, h) {
    var base = { weight: 0.6, color: "#4d4d4d", opacity: 0.7, fillOpacity: 0, fillColor: NO_DATA };
    if (!h || !h.f) {
      return base;
    }
    var i = feature.properties.id;
    base.fillOpacity = h.o === undefined || h.o === null ? 0.8 : h.o;
    base.fillColor = h.f[i];
    if (base.fillColor === NO_DATA) {
      base.dashArray = "2 2";
    }
    var code = feature.properties.code;
    if (h.hl && !h.hls) {
      h.hls = new Set(h.hl); // a density's cell may highlight thousands of areas
    }
    if (code === hover || (h.hls && h.hls.has(code))) {
      base.weight = 3.5;
      base.color = "#000000";
      base.opacity = 1;
      base.dashArray = null;
    }
    return base;
  }

  function tip(feature, h) {
    var props = feature.properties;
    var lines = ["<strong>" + escapeHtml(props.name) + "</strong> <span class='code'>" + escapeHtml(props.code) + "</span>"];
    var i = props.id;
    if (h && h.pa && h.pb) {
      [["A", h.pa], ["B", h.pb]].forEach(function (pair) {
        var d = window.atlas.detailsOf(pair[1]);
        if (!d) {
          window.atlas.loadDetails(pair[1]);
        }
        var c = window.atlas.classOf(pair[1], i);
        lines.push(pair[0] + ", " + escapeHtml(pair[1].label) + ": <strong>" +
          escapeHtml(d ? d.text[i] : c >= 0 ? pair[1].classLabels[c] : "no data") + "</strong>");
      });
    }
    lines.push("<em>Click to open its profile</em>");
    return lines.join("<br>");
  }

  function restyle(m) {
    if (tiled[m]) {
      paintTiled(m);
      return latest[m] ? latest[m].f.length : 0;
    }
    var h = latest[m];
    var list = reg[m].url === (h && h.url) ? reg[m].list : [];
    var top = [];
    for (var i = 0; i < list.length; i += 1) {
      var e = list[i];
      if (e) {
        var s = styleFor(e.feature, h);
        e.layer.setStyle(s);
        if (s.weight > 3) {
          top.push(e.layer);
        }
      }
    }
    top.forEach(function (layer) { layer.bringToFront(); });
    return list.length;
  }

  function attach(m) {
    // The Leaflet map of a compare map, from one of its drawn layers (or, drawn from tiles, by its container's
    // id); its moves are mirrored on the others.
    var first = reg[m].list[0];
    var map = first ? first.layer._map : (tiled[m] && window.atlas.tiles ? window.atlas.tiles.map(mapId(m)) : null);
    if (!map) {
      return null;
    }
    maps[m] = map;
    if (!map._atlasSync) {
      map._atlasSync = true;
      map.on("move zoom", function () { mirror(m); });
    }
    return map;
  }

  function mirror(from) {
    if (syncing || !maps[from]) {
      return;
    }
    syncing = true;
    try {
      var center = maps[from].getCenter();
      var zoom = maps[from].getZoom();
      KEYS.forEach(function (k) {
        if (k !== from && maps[k]) {
          maps[k].setView(center, zoom, { animate: false });
        }
      });
    } finally {
      syncing = false;
    }
  }

  function fit(rel, tries) {
    var ready = KEYS.map(attach);
    var hidden = KEYS.some(function (k) { return !maps[k] || !maps[k].getContainer().clientWidth; });
    if (!ready[0] || hidden) {
      // Not drawn yet, or still in a hidden section (its style arrives in the same update): try again on
      // the next frame, for a few seconds at most.
      tries = tries || 0;
      if (tries < 300) {
        window.requestAnimationFrame(function () { if (fitted !== rel.key) { fit(rel, tries + 1); } });
      }
      return false;
    }
    var b = rel.bbox;
    syncing = true;
    try {
      KEYS.forEach(function (k) {
        if (maps[k]) {
          maps[k].invalidateSize({ animate: false });
          maps[k].fitBounds([[b[1], b[0]], [b[3], b[2]]], { animate: false });
        }
      });
    } finally {
      syncing = false;
    }
    mirror("a"); // fitBounds on differently sized boxes may pick different zooms: A leads
    fitted = rel.key;
    return true;
  }

  // -- England and Wales at a small-area level: the three maps drawn from vector tiles (assets/tiles.js) ---------

  function mapId(m) {
    return { a: C().MAP_A, b: C().MAP_B, bv: C().MAP_BV }[m];
  }

  function tiledCodes(rel) {
    // The view's codes in paint order, once the explorer has them (atlas.js fetches them by their URL).
    var areas = window.atlas._areas;
    return areas && areas.codes && areas.key === rel.key ? areas.codes : null;
  }

  var positionsCache = { codes: null, at: null };

  function positions(codes) {
    // code -> position, made once per list of codes (a density's cell may highlight thousands of areas).
    if (positionsCache.codes !== codes) {
      var at = new Map();
      codes.forEach(function (c, i) { at.set(c, i); });
      positionsCache = { codes: codes, at: at };
    }
    return positionsCache.at;
  }

  function hideTip(m) {
    if (tips[m] && tips[m]._map) {
      tips[m]._map.removeLayer(tips[m]);
    }
  }

  function showTip(m, i, latlng) {
    var h = latest[m];
    var map = window.atlas.tiles.map(mapId(m));
    if (!h || !map || i < 0 || !latlng) {
      hideTip(m);
      return;
    }
    if (!tips[m]) {
      tips[m] = window.L.tooltip({ className: "atlas-tip", direction: "top", offset: [0, -8] });
    }
    tips[m].setLatLng(latlng).setContent(tip(window.atlas.tileFeature(i, h.rel.key), h));
    tips[m]._atlasIndex = i;
    if (!tips[m]._map) {
      tips[m].addTo(map);
    }
  }

  function refreshTips() {
    // The printed values or the names arrived: an open hover card says them.
    KEYS.forEach(function (m) {
      var t = tips[m];
      if (tiled[m] && t && t._map && latest[m] && t._atlasIndex !== undefined) {
        t.setContent(tip(window.atlas.tileFeature(t._atlasIndex, latest[m].rel.key), latest[m]));
      }
    });
  }

  window.addEventListener("atlas:details", refreshTips);

  function paintTiled(m) {
    var h = latest[m];
    if (!h) {
      return Promise.resolve(false);
    }
    var codes = tiledCodes(h.rel);
    var marked = (h.hl || []).concat(hover ? [hover] : []);
    var at = codes ? positions(codes) : null;
    var selected = at ? marked.map(function (c) { return at.has(c) ? at.get(c) : -1; })
      .filter(function (i) { return i >= 0; }) : [];
    return Promise.resolve(window.atlas.tiles.paint(mapId(m), {
      url: h.url, n: h.f.length, opacity: h.o === undefined || h.o === null ? 0.8 : h.o, selected: selected,
      fill: function (i) { return h.f[i]; },
      onHover: function (i, latlng) { showTip(m, i, latlng); },
      onClick: function (i, latlng) {
        showTip(m, i, latlng);
        var now = tiledCodes(h.rel);
        var code = now ? now[i] : null;
        if (code && window.dash_clientside.set_props) {
          var again = lastSelected === code;
          lastSelected = again ? null : code;
          window.dash_clientside.set_props(C().SELECTED, { data: again ? null : code });
          window.dash_clientside.set_props(C().HIGHLIGHT, { data: { codes: again ? [] : [code], src: "map" } });
        }
      },
    }));
  }

  var lastSelected = null;

  function drawTiled(rel) {
    // The three maps from the tiles: each painted (or repainted in place), then synced and fitted.
    Promise.all(KEYS.map(paintTiled)).then(function () {
      if (fitted !== rel.key) {
        fit(rel);
      } else {
        KEYS.forEach(attach);
      }
      drawnAll(rel.url);
    });
  }

  window.addEventListener("atlas:areas", function () {
    // The codes arrived: outlines of highlighted areas can now be drawn, hover cards can name their areas.
    refreshTips();
    KEYS.forEach(function (m) {
      if (tiled[m] && latest[m] && ((latest[m].hl || []).length || hover)) {
        paintTiled(m);
      }
    });
  });

  function drawnAll(url) {
    window.dispatchEvent(new CustomEvent("atlas:compare-styled", { detail: { url: url } }));
  }

  window.atlas = Object.assign({}, window.atlas);
  window.atlas.cmp = {
    densityOf: densityOf,
    cellAt: cellAt,
    style: function (feature, ctx) {
      return styleFor(feature, current(ctx));
    },

    onEachFeature: function (feature, layer, ctx) {
      var h = ctx.hideout || {};
      var m = h.m;
      if (!m) {
        return;
      }
      if (reg[m].url !== ctx.url || feature.properties.id === 0) {
        reg[m] = { url: ctx.url, list: [] };
      }
      reg[m].list[feature.properties.id] = { feature: feature, layer: layer };
      layer.bindTooltip(function () { return tip(feature, current(ctx)); }, { sticky: true, className: "atlas-tip" });
      var l = latest[m];
      if (l && l.f && feature.properties.id === l.f.length - 1) {
        // The last feature: once Leaflet has added the layers, find the map, sync it and fit it.
        window.requestAnimationFrame(function () {
          if (latest.a && latest.a.rel && fitted !== latest.a.rel.key) {
            fit(latest.a.rel);
          } else {
            attach(m);
            mirror("a");
          }
          drawnAll(ctx.url);
        });
      }
    },

    // For tests, the benchmark and the console.
    drawn: function (m) {
      var h = latest[m];
      var list = h && reg[m].url === h.url ? reg[m].list : [];
      return list.filter(Boolean).map(function (e) {
        return { code: e.feature.properties.code, fill: e.layer.options.fillColor, weight: e.layer.options.weight };
      });
    },
    layerOf: function (m, code) {
      var list = reg[m].list;
      for (var i = 0; i < list.length; i += 1) {
        if (list[i] && list[i].feature.properties.code === code) {
          return list[i].layer;
        }
      }
      return null;
    },
    map: function (m) {
      return maps[m] || attach(m);
    },
    restyle: restyle,
  };

  // -- legends: the server's words, drawn -----------------------------------------------------------------

  // Black or white, whichever reads better on a background "#rrggbb" (WCAG relative luminance).
  function inkOn(hex) {
    var m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(String(hex || ""));
    if (!m) {
      return "#1a1a1a";
    }
    var lum = [m[1], m[2], m[3]].map(function (h) {
      var c = parseInt(h, 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    var l = 0.2126 * lum[0] + 0.7152 * lum[1] + 0.0722 * lum[2];
    // contrast with black (l + 0.05) / 0.05 against white 1.05 / (l + 0.05)
    return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? "#000" : "#fff";
  }

  function bivariateLegend(rel) {
    if (rel.none) {
      // A categorical A or B: no bivariate map; the server says why.
      return "<p class='legend-scheme'>" + escapeHtml(rel.none) + "</p>";
    }
    var words = ["low", "middle", "high"];
    var cells = "";
    for (var row = 2; row >= 0; row -= 1) {
      for (var col = 0; col < 3; col += 1) {
        var c = 3 * row + col;
        cells += "<span class='bv-cell' role='listitem' style='background-color:" + rel.colours[c] + ";color:" +
          inkOn(rel.colours[c]) + "' title='A " +
          words[col] + ", B " + words[row] + ": " + rel.counts[c] + " areas'>" + rel.counts[c] + "</span>";
      }
    }
    function thirds(labels, which, label, note) {
      if (!labels.length) {
        return which + ": no values to divide into thirds.";
      }
      return which + " (" + label + ") in thirds: " + labels.join("; ") + (note ? ". " + note : "");
    }
    return "<div class='bv-legend'><span class='bv-y'>B higher &#8594;</span>" +
      "<div class='bv-grid' role='list' aria-label='Bivariate classes: columns are thirds of A, rows thirds of B; each cell gives its number of areas'>" +
      cells + "</div><span class='bv-x'>A higher &#8594;</span></div>" +
      "<p class='legend-scheme'>" + escapeHtml(thirds(rel.thirds.a, "A", rel.labels[0], rel.thirds.note_a)) + "</p>" +
      "<p class='legend-scheme'>" + escapeHtml(thirds(rel.thirds.b, "B", rel.labels[1], rel.thirds.note_b)) + "</p>" +
      (rel.missing ? "<p class='legend-scheme'>" + window.atlas.count(rel.missing) +
        " areas lack A or B (white, dashed).</p>" : "");
  }

  function write(id, html) {
    var box = document.getElementById(id);
    if (box && box.innerHTML !== html) {
      box.innerHTML = html;
    }
  }

  function ready(pa, pb, rel, areas) {
    return pa && pb && rel && areas && pa.cls && pb.cls && pa.key === rel.key && pb.key === rel.key &&
      areas.key === rel.key && pa["var"] === rel.a && pb["var"] === rel.b;
  }

  function sameList(a, b) {
    return a.length === b.length && a.every(function (x, i) { return x === b[i]; });
  }

  // -- the density (atlas/compare.py density_figure: more areas than points can show) ------------------------

  function densityOf(figure) {
    var d = figure && figure.data && figure.data[0];
    return d && d.type === "heatmap" && d.meta && d.meta.cells ? d.meta : null;
  }

  function cellAt(density, x, y) {
    var col = Math.min(density.columns - 1, Math.max(0, Math.floor((x - density.x0) / density.dx)));
    var row = Math.max(0, Math.floor((y - density.y0) / density.dy));
    return row * density.columns + col;
  }

  function codesIn(density, cell) {
    var areas = window.atlas._areas;
    var codes = (areas && areas.codes) || [];
    var out = [];
    density.cells.forEach(function (c, i) {
      if (c === cell && codes[i]) {
        out.push(codes[i]);
      }
    });
    return out;
  }

  function setHover(code) {
    if (code !== hover) {
      hover = code;
      KEYS.forEach(restyle);
    }
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside);
  function gateWhy(st, view, variableB, pins, cstate, nav) {
    // What reaches the server: the address's compare keys (first load, back or forward), a change of
    // the explorer's view while the compare view is open, or a compare control. Nothing otherwise.
    var ctx = window.dash_clientside.callback_context;
    var trig = ctx && ctx.triggered ? ctx.triggered.map(function (t) { return t.prop_id; }) : [];
    var cur = cstate || { view: "explore", areas: [] };
    var on = cur.view === "compare";
    if (trig.indexOf(window.atlas.ids.STATE + ".data") >= 0) {
      if (!st) {
        return nu();
      }
      if (st.via !== "control") {
        var search = (nav && nav.search) || "";
        var named = new URLSearchParams(search).get("view");
        if (!named && !on) {
          return nu();
        }
        return { source: "nav", search: search, t: Date.now() };
      }
      // Also when a message stands in the explore view (compare not offered there): the new view clears it.
      return on || cur.said ? { source: "view", t: Date.now() } : nu();
    }
    if (!view) {
      return nu();
    }
    var pinsNow = Array.isArray(pins) ? pins : (cur.areas || []);
    if (view === cur.view && (!variableB || variableB === cur.variable_b) && sameList(pinsNow, cur.areas || [])) {
      return nu();
    }
    if (view === "explore" && !on) {
      return nu();
    }
    return { source: "control", view: view, variable_b: variableB || cur.variable_b || "", pins: pinsNow,
             t: Date.now() };
  }

  function combineOut(pa, pb, rel, areas, highlight, cstate, opacity) {
    var on = !!(cstate && cstate.view === "compare");
    lastState = cstate || lastState;
    document.body.classList.toggle("atlas-compare", on);
    var out = [nu(), nu(), nu(), nu(), nu(), nu()];
    if (!on) {
      fitted = null; // hidden: sized to nothing; shown again, the maps are sized and fitted anew
    }
    if (!on || !ready(pa, pb, rel, areas)) {
      return out;
    }
    var hl = (highlight && highlight.codes) || [];
    var fromTiles = rel.geom === "tiles";
    KEYS.forEach(function (m, j) {
      var h = { m: m, url: rel.url, f: fills(m, pa, pb, rel), hl: hl, o: opacity, pa: pa, pb: pb, rel: rel };
      latest[m] = h;
      if (fromTiles) {
        if (!tiled[m]) {
          out[2 * j] = null; // the GeoJSON layer emptied: the tiles draw this map
          reg[m] = { url: null, list: [] };
        }
        tiled[m] = true;
        return;
      }
      if (tiled[m]) {
        window.atlas.tiles.clear(mapId(m));
        hideTip(m);
        tiled[m] = false;
      }
      if (reg[m].url === rel.url && reg[m].list.length === pa.n) {
        restyle(m);
      } else {
        out[2 * j] = rel.url;
        out[2 * j + 1] = { m: m, url: rel.url, f: h.f, o: opacity };
      }
    });
    write(C().LEGEND_A, window.atlas.legendHtml(pa.legend));
    write(C().LEGEND_B, window.atlas.legendHtml(pb.legend));
    write(C().LEGEND_BV, bivariateLegend(rel));
    if (fromTiles) {
      lastSelected = hl.length === 1 ? hl[0] : null;
      window.requestAnimationFrame(function () { drawTiled(rel); });
      return out;
    }
    if (fitted !== rel.key) {
      // Shown just now, or a new place: size the maps to their boxes and fit them, once drawn.
      window.requestAnimationFrame(function () { fit(rel); });
    }
    if (out[0] === nu()) {
      window.requestAnimationFrame(function () { drawnAll(rel.url); });
    }
    return out;
  }

  var builtFrom = null; // the parts last built (a new page brings new ones)

  function build(parts) {
    // The compare view's maps and lists (ui/compare.py), each put in its box once, when the view is first
    // asked for: set_props updates Dash's layout at once, so the callbacks that follow find them.
    if (!parts || parts === builtFrom) {
      return;
    }
    builtFrom = parts;
    Object.keys(parts).forEach(function (box) {
      window.dash_clientside.set_props(box, { children: parts[box] });
    });
  }

  window.dash_clientside.compare = {
    gate: function (st, view, variableB, pins, cstate, nav, parts) {
      // What reaches the server: the address's compare keys (first load, back or forward), a change of
      // the explorer's view while the compare view is open, or a compare control. Nothing otherwise.
      // What passes first creates the view's maps and lists (ui/compare.py), before its callbacks run.
      var out = gateWhy(st, view, variableB, pins, cstate, nav);
      if (out !== nu()) {
        build(parts);
      }
      return out;
    },

    combine: function (pa, pb, rel, areas, highlight, cstate, opacity) {
      // The maps' layers exist only once the view was opened: their props are set, not returned.
      var out = combineOut(pa, pb, rel, areas, highlight, cstate, opacity);
      KEYS.forEach(function (m, j) {
        var props = {};
        if (out[2 * j] !== nu()) {
          props.url = out[2 * j];
        }
        if (out[2 * j + 1] !== nu()) {
          props.hideout = out[2 * j + 1];
        }
        if (Object.keys(props).length) {
          window.dash_clientside.set_props({ a: C().LAYER_A, b: C().LAYER_B, bv: C().LAYER_BV }[m], props);
        }
      });
      return nu();
    },

    map_click: function (clickA, clickB, clickBV, selected) {
      var ctx = window.dash_clientside.callback_context;
      var trig = ctx && ctx.triggered && ctx.triggered[0] ? ctx.triggered[0].prop_id : "";
      var data = trig.indexOf(C().LAYER_BV + ".") === 0 ? clickBV : trig.indexOf(C().LAYER_B + ".") === 0 ? clickB : clickA;
      if (!data || !data.properties) {
        return [nu(), nu()];
      }
      var code = data.properties.code;
      if (code === selected) {
        return [null, { codes: [], src: "map" }];
      }
      return [code, { codes: [code], src: "map" }];
    },

    from_table: function (code) {
      // The explorer's table selects areas by keyboard: its selection opens the profile too.
      if (code === undefined) {
        return [nu(), nu()];
      }
      return [code || null, { codes: code ? [code] : [], src: "table" }];
    },

    graph_hover: function (hoverData) {
      var pt = hoverData && hoverData.points && hoverData.points[0];
      setHover(pt ? pt.customdata : null);
      return nu();
    },

    graph_select: function (selectedData, clickData, highlight, figure) {
      var ctx = window.dash_clientside.callback_context;
      var trig = ctx && ctx.triggered && ctx.triggered[0] ? ctx.triggered[0].prop_id : "";
      var source = trig.indexOf(".selectedData") > 0 ? selectedData : clickData;
      var density = densityOf(figure);
      if (density) {
        // A cell of the density clicked: its areas highlighted on the maps (clicked again: none).
        var pt = source && source.points && source.points[0];
        if (!pt || pt.curveNumber !== 0) {
          return nu();
        }
        var cell = cellAt(density, pt.x, pt.y);
        var inCell = codesIn(density, cell);
        var was = (highlight && highlight.codes) || [];
        return sameList(inCell, was) ? { codes: [], src: "scatter" } : { codes: inCell, src: "scatter" };
      }
      var codes = source && source.points ? source.points.map(function (p) { return p.customdata; }) : [];
      var now = (highlight && highlight.codes) || [];
      if (sameList(codes, now)) {
        return nu();
      }
      if (!codes.length && highlight && highlight.src !== "scatter") {
        // Plotly says "deselected" when graph_highlight replaced a drawn selection by areas chosen on a map
        // or in the table: that is not a person clearing the plot.
        return nu();
      }
      return { codes: codes, src: "scatter" };
    },

    graph_highlight: function (highlight, figure) {
      // Areas highlighted on a map or in the table are selected among the points (the scatter's own
      // selection is already drawn by Plotly); on a density, the cells holding them are outlined.
      var density = densityOf(figure);
      if (density) {
        var marks = Object.assign({}, figure.data[1], { x: [], y: [] });
        var areas = window.atlas._areas;
        var at = positions((areas && areas.codes) || []);
        var seen = {};
        ((highlight && highlight.codes) || []).forEach(function (code) {
          var i = at.has(code) ? at.get(code) : -1;
          var cell = i >= 0 ? density.cells[i] : -1;
          if (cell >= 0 && !seen[cell]) {
            seen[cell] = true;
            marks.x.push(density.x0 + density.dx * (cell % density.columns + 0.5));
            marks.y.push(density.y0 + density.dy * (Math.floor(cell / density.columns) + 0.5));
          }
        });
        return Object.assign({}, figure, { data: [figure.data[0], marks].concat(figure.data.slice(2)) });
      }
      if (!figure || !figure.data || !figure.data[0] || (highlight && highlight.src === "scatter")) {
        return nu();
      }
      var codes = (highlight && highlight.codes) || [];
      var trace = Object.assign({}, figure.data[0]);
      var index = [];
      (trace.customdata || []).forEach(function (code, i) {
        if (codes.indexOf(code) >= 0) {
          index.push(i);
        }
      });
      trace.selectedpoints = codes.length ? index : null;
      // A new selectionrevision tells Plotly to drop the selection a person drew (uirevision would keep
      // it) and show these points instead.
      var layout = Object.assign({}, figure.layout, { selections: [], selectionrevision: Date.now() });
      return Object.assign({}, figure, { data: [trace].concat(figure.data.slice(1)), layout: layout });
    },

    pins: function (code, pinned) {
      var list = (pinned || []).slice();
      var at = list.indexOf(code);
      if (at >= 0) {
        list.splice(at, 1);
      } else if (list.length < MAX_PINNED) {
        list.push(code);
      }
      return list;
    },
  };

  // The profile's Pin/Unpin buttons: one delegated listener; the compare view follows the pinned list.
  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-cmp-pin]") : null;
    if (!target || !window.dash_clientside.set_props) {
      return;
    }
    var next = window.dash_clientside.compare.pins(target.getAttribute("data-cmp-pin"), lastState && lastState.areas);
    window.dash_clientside.set_props(C().PINS, { data: next });
  });
})();
