/*
 * Neighbourhood Atlas, compare view (issue 4), in the browser.
 *
 * Three maps (A, B, bivariate) share the explorer's geometry URL (fetched once, then from the browser's
 * cache) and are restyled in place from the payloads: A's is the explorer's own (view-payload), B's comes
 * from callbacks/compare.py in the same compact form, and the relation carries the tertile breaks of each.
 * Pan and zoom are kept in sync here, in the browser, with Leaflet's own events; the scatter plot is
 * built here from the two payloads, so a switch sends only values.
 *
 * window.atlas.cmp holds what dash-leaflet calls by name (layers in callbacks/compare.py);
 * window.dash_clientside.compare holds the clientside callbacks. Classes come from window.atlas.classIndex
 * (assets/classify.js), the server's rule.
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
  var optionsGiven = null; // the explorer's variable options last copied to B's and the profile's lists

  function nu() {
    return window.dash_clientside.no_update;
  }

  // Formatting is atlas.js's (loaded first: Dash loads assets in name order), looked up at call time.
  function escapeHtml(text) {
    return window.atlas.escapeHtml(text);
  }

  function num(value, dp) {
    return window.atlas.num(value, dp);
  }

  function withUnit(value, p) {
    return window.atlas.withUnit(value, p || {});
  }

  function spread(cls, k) {
    // Fewer than three tertiles (ties): two classes go to the grid's ends, as compare_view._spread does.
    return k === 2 && cls >= 0 ? cls * 2 : cls;
  }

  function bivariate(pa, pb, rel) {
    var n = pa.v.length;
    var out = new Int8Array(n);
    for (var i = 0; i < n; i += 1) {
      var ca = rel.ta.b.length ? spread(window.atlas.classIndex(pa.v[i], rel.ta.b), rel.ta.b.length) : -1;
      var cb = rel.tb.b.length ? spread(window.atlas.classIndex(pb.v[i], rel.tb.b), rel.tb.b.length) : -1;
      out[i] = ca >= 0 && cb >= 0 ? 3 * cb + ca : -1;
    }
    return out;
  }

  function fills(m, pa, pb, rel) {
    if (m === "bv") {
      var cls = bivariate(pa, pb, rel);
      return Array.prototype.map.call(cls, function (c) { return c >= 0 ? rel.colours[c] : NO_DATA; });
    }
    var p = m === "a" ? pa : pb;
    var d = window.atlas.derive(p);
    return Array.prototype.map.call(d.cls, function (c) { return c >= 0 ? p.c[c] : NO_DATA; });
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
    if (code === hover || (h.hl && h.hl.indexOf(code) >= 0)) {
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
      lines.push("A, " + escapeHtml(h.pa.label) + ": <strong>" + escapeHtml(withUnit(h.pa.v[i], h.pa)) + "</strong>");
      lines.push("B, " + escapeHtml(h.pb.label) + ": <strong>" + escapeHtml(withUnit(h.pb.v[i], h.pb)) + "</strong>");
    }
    lines.push("<em>Click to open its profile</em>");
    return lines.join("<br>");
  }

  function restyle(m) {
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
    // The Leaflet map of a compare map, from one of its drawn layers; its moves are mirrored on the others.
    var first = reg[m].list[0];
    var map = first && first.layer._map;
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
      // Not drawn yet, or still in a hidden section (its style arrives in the same update): try again.
      tries = tries || 0;
      if (tries < 50) {
        setTimeout(function () { if (fitted !== rel.key) { fit(rel, tries + 1); } }, 100);
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

  function drawnAll(url) {
    window.dispatchEvent(new CustomEvent("atlas:compare-styled", { detail: { url: url } }));
  }

  window.atlas = Object.assign({}, window.atlas);
  window.atlas.cmp = {
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
        setTimeout(function () {
          if (latest.a && latest.a.rel && fitted !== latest.a.rel.key) {
            fit(latest.a.rel);
          } else {
            attach(m);
            mirror("a");
          }
          drawnAll(ctx.url);
        }, 0);
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
    bivariate: bivariate,
    restyle: restyle,
  };

  // -- legends -------------------------------------------------------------------------------------------

  function classLegend(p) {
    var d = window.atlas.derive(p);
    var rows = "";
    for (var i = 0; i < p.k; i += 1) {
      var lower = i === 0 ? p.lo : p.b[i - 1];
      rows += "<li class='legend-row'><span class='swatch' style='background-color:" + escapeHtml(p.c[i]) + "'></span>" +
        "<span class='range'>" + escapeHtml(withUnit(lower, p) + " – " + withUnit(p.b[i], p)) + "</span>" +
        "<span class='count'>" + num(d.counts[i], 0) + (d.counts[i] === 1 ? " area" : " areas") + "</span></li>";
    }
    if (d.missing > 0) {
      rows += "<li class='legend-row nodata'><span class='swatch swatch-nodata'></span><span class='range'>No data</span>" +
        "<span class='count'>" + num(d.missing, 0) + (d.missing === 1 ? " area" : " areas") + "</span></li>";
    }
    return "<p class='legend-title'>" + escapeHtml(p.label) + "</p>" +
      "<p class='legend-scheme'>" + p.k + " classes, " + escapeHtml(p.schemeLabel || p.scheme) +
      (p.scope === "national" ? ", breaks across " + escapeHtml(p.cov || "the nation") : ", breaks within " + escapeHtml(p.place || "the authority")) + "</p>" +
      (p.note ? "<p class='legend-note' role='note'>" + escapeHtml(p.note) + "</p>" : "") +
      "<ul class='legend-classes' aria-label='Classes'>" + rows + "</ul>";
  }

  function tertileText(t, p, which) {
    if (!t.b.length) {
      return which + ": no values to divide into thirds.";
    }
    var lo = window.atlas.derive(p).min;
    var parts = [];
    for (var i = 0; i < t.b.length; i += 1) {
      parts.push(withUnit(i === 0 ? lo : t.b[i - 1], p) + " – " + withUnit(t.b[i], p));
    }
    return which + " (" + p.label + ") in thirds: " + parts.join("; ") + (t.note ? ". " + t.note : "");
  }

  function bivariateLegend(pa, pb, rel) {
    var cls = bivariate(pa, pb, rel);
    var counts = new Array(9).fill(0);
    var missing = 0;
    Array.prototype.forEach.call(cls, function (c) { if (c >= 0) { counts[c] += 1; } else { missing += 1; } });
    var words = ["low", "middle", "high"];
    var cells = "";
    for (var row = 2; row >= 0; row -= 1) {
      for (var col = 0; col < 3; col += 1) {
        var c = 3 * row + col;
        cells += "<span class='bv-cell' role='listitem' style='background-color:" + rel.colours[c] + "' title='A " + words[col] +
          ", B " + words[row] + ": " + counts[c] + " areas'>" + counts[c] + "</span>";
      }
    }
    return "<div class='bv-legend'><span class='bv-y'>B higher &#8594;</span>" +
      "<div class='bv-grid' role='list' aria-label='Bivariate classes: columns are thirds of A, rows thirds of B; each cell gives its number of areas'>" +
      cells + "</div><span class='bv-x'>A higher &#8594;</span></div>" +
      "<p class='legend-scheme'>" + escapeHtml(tertileText(rel.ta, pa, "A")) + "</p>" +
      "<p class='legend-scheme'>" + escapeHtml(tertileText(rel.tb, pb, "B")) + "</p>" +
      (missing ? "<p class='legend-scheme'>" + num(missing, 0) + " areas lack A or B (white, dashed).</p>" : "");
  }

  function write(id, html) {
    var box = document.getElementById(id);
    if (box && box.innerHTML !== html) {
      box.innerHTML = html;
    }
  }

  // -- scatter ---------------------------------------------------------------------------------------------

  function strength(r) {
    var a = Math.abs(r);
    var word = a < 0.1 ? "no" : a < 0.3 ? "a weak" : a < 0.5 ? "a moderate" : a < 0.7 ? "a fairly strong" : "a strong";
    return word + (a < 0.1 ? "" : r > 0 ? " positive" : " negative") + " relationship";
  }

  function statsText(rel) {
    var c = rel.corr;
    var left = c.left_out ? " (" + num(c.left_out, 0) + " left out: they lack A or B)" : " (none left out)";
    if (c.r === null) {
      return (c.note || "No correlation.") + " " + num(c.n, 0) + " areas have both values" + left + ".";
    }
    return "Pearson r = " + c.r.toFixed(3) + ", Spearman ρ = " + c.rho.toFixed(3) + ": " + strength(c.rho) +
      ", over " + num(c.n, 0) + " areas with both values" + left + ".";
  }

  // The scatter plot is SVG written here, not a plotly graph: plotly.js (3.5 MB) loaded on every page
  // delayed the explorer's first map by one to two seconds (measured with bench and the browser tests).
  var SVG_H = 360;
  var M = { l: 66, r: 14, t: 10, b: 50 };
  var plot = null; // {codes, px, py}: where each point was drawn, for box selection

  function niceTicks(lo, hi, n) {
    if (!(hi > lo)) {
      return [lo];
    }
    var raw = (hi - lo) / n;
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (f) { return f * mag; }).filter(function (s2) { return s2 >= raw; })[0];
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
      out.push(Math.round(t / step) * step);
    }
    return out;
  }

  function tickText(v) {
    return Math.abs(v) >= 10000 ? (v / 1000).toLocaleString("en-GB", { maximumFractionDigits: 1 }) + "k" :
      v.toLocaleString("en-GB", { maximumFractionDigits: 3 });
  }

  function scatterSvg(pa, pb, rel, areas, hl, width) {
    var x = [], y = [], codes = [], names = [];
    for (var i = 0; i < pa.v.length; i += 1) {
      if (Number.isFinite(pa.v[i]) && Number.isFinite(pb.v[i])) {
        x.push(pa.v[i]);
        y.push(pb.v[i]);
        codes.push(areas.codes[i]);
        names.push(areas.names[i]);
      }
    }
    var W = Math.max(260, width || 480);
    var x0 = Math.min.apply(null, x), x1 = Math.max.apply(null, x);
    var y0 = Math.min.apply(null, y), y1 = Math.max.apply(null, y);
    var padx = (x1 - x0) * 0.04 || 1, pady = (y1 - y0) * 0.04 || 1;
    x0 -= padx; x1 += padx; y0 -= pady; y1 += pady;
    function sx(v) { return M.l + (v - x0) / (x1 - x0) * (W - M.l - M.r); }
    function sy(v) { return SVG_H - M.b - (v - y0) / (y1 - y0) * (SVG_H - M.t - M.b); }
    var parts = ["<svg class='cmp-scatter' width='" + W + "' height='" + SVG_H + "' role='img' aria-label='" +
      escapeHtml("Scatter plot of " + pa.label + " (across) against " + pb.label + " (up), one point per area") + "'>"];
    parts.push("<rect class='cmp-bg' x='" + M.l + "' y='" + M.t + "' width='" + (W - M.l - M.r) + "' height='" +
      (SVG_H - M.t - M.b) + "'></rect>");
    niceTicks(x0, x1, 5).forEach(function (t) {
      var px = sx(t).toFixed(1);
      parts.push("<line class='cmp-grid' x1='" + px + "' x2='" + px + "' y1='" + M.t + "' y2='" + (SVG_H - M.b) + "'></line>" +
        "<text class='cmp-tick' x='" + px + "' y='" + (SVG_H - M.b + 16) + "' text-anchor='middle'>" + escapeHtml(tickText(t)) + "</text>");
    });
    niceTicks(y0, y1, 5).forEach(function (t) {
      var py = sy(t).toFixed(1);
      parts.push("<line class='cmp-grid' y1='" + py + "' y2='" + py + "' x1='" + M.l + "' x2='" + (W - M.r) + "'></line>" +
        "<text class='cmp-tick' x='" + (M.l - 6) + "' y='" + py + "' dy='0.32em' text-anchor='end'>" + escapeHtml(tickText(t)) + "</text>");
    });
    parts.push("<text class='cmp-axis' x='" + ((M.l + W - M.r) / 2) + "' y='" + (SVG_H - 8) + "' text-anchor='middle'>" +
      escapeHtml("A: " + pa.label) + "</text>");
    parts.push("<text class='cmp-axis' transform='translate(14," + ((M.t + SVG_H - M.b) / 2) + ") rotate(-90)' text-anchor='middle'>" +
      escapeHtml("B: " + pb.label) + "</text>");
    var px = [], py = [], on = [], off = [];
    for (var j = 0; j < x.length; j += 1) {
      px.push(sx(x[j]));
      py.push(sy(y[j]));
      var lit = hl.indexOf(codes[j]) >= 0;
      var circle = "<circle class='cmp-pt" + (lit ? " cmp-pt-on" : hl.length ? " cmp-pt-off" : "") + "' cx='" +
        px[j].toFixed(1) + "' cy='" + py[j].toFixed(1) + "' r='" + (lit ? 6 : 4) + "' data-code='" + escapeHtml(codes[j]) +
        "'><title>" + escapeHtml(names[j] + " (" + codes[j] + ")\nA: " + withUnit(x[j], pa) + "\nB: " + withUnit(y[j], pb)) +
        "</title></circle>";
      (lit ? on : off).push(circle);
    }
    parts = parts.concat(off, on); // highlighted points drawn last, on top
    parts.push("<rect class='cmp-brush' x='0' y='0' width='0' height='0'></rect></svg>");
    plot = { codes: codes, px: px, py: py };
    return parts.join("");
  }

  function ready(pa, pb, rel, areas) {
    return pa && pb && rel && areas && pa.v && pb.v && pa.key === rel.key && pb.key === rel.key &&
      areas.key === rel.key && pa["var"] === rel.a && pb["var"] === rel.b;
  }

  function searchWith(search, changes) {
    var params = new URLSearchParams(search || "");
    Object.keys(changes).forEach(function (key) {
      if (changes[key] === null || changes[key] === "") {
        params["delete"](key);
      } else {
        params.set(key, changes[key]);
      }
    });
    return "?" + params.toString().replace(/%2C/g, ",");
  }

  // The explorer writes the URL from its ten controls only: carry the compare keys over (a new authority
  // drops the pinned areas, which belong to the old one).
  function wrapWriteUrl() {
    var ns = window.dash_clientside && window.dash_clientside.atlas;
    if (!ns || !ns.write_url || ns.write_url._compare) {
      return;
    }
    var original = ns.write_url;
    ns.write_url = function () {
      var out = original.apply(this, arguments);
      if (typeof out !== "string") {
        return out;
      }
      var search = arguments[arguments.length - 1];
      var old = new URLSearchParams(search || "");
      var next = new URLSearchParams(out);
      var carry = {};
      ["view", "variable_b", "areas"].forEach(function (key) {
        if (old.has(key) && !(key === "areas" && old.get("authority") !== next.get("authority"))) {
          carry[key] = old.get(key);
        }
      });
      return searchWith(out, carry);
    };
    ns.write_url._compare = true;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside);
  wrapWriteUrl();

  window.dash_clientside.compare = {
    options: function (options, cstate) {
      // The explorer's variable options, reused (no second copy over the network), and only in the compare
      // view: thousands of options in two more dropdowns would slow every explorer page. B's value is set
      // again with them: the dropdown drops a value that is not among its options.
      if (!cstate || cstate.view !== "compare" || !options || optionsGiven === options) {
        return [nu(), nu(), nu()];
      }
      optionsGiven = options;
      var list = options.filter(function (o) { return !o.disabled; });
      return [options, list, cstate.variable_b || nu()];
    },

    gate: function (search, cstate) {
      var view = new URLSearchParams(search || "").get("view");
      var named = view !== null && view.toLowerCase() !== "explore"; // compare, or a bad value to explain
      if (!named && !(cstate && cstate.view === "compare")) {
        return nu();
      }
      return search || "";
    },

    write_url: function (view, variableB, cstate, search) {
      cstate = cstate || { view: "explore" }; // the compare callback has not run: the explorer's view
      if (!view) {
        return nu();
      }
      if (view === cstate.view && (!variableB || variableB === cstate.variable_b)) {
        return nu();
      }
      var changes = { view: view };
      if (variableB && view === "compare") {
        changes.variable_b = variableB;
      }
      var next = searchWith(search, changes);
      return next === search ? nu() : next;
    },

    combine: function (pa, pb, rel, areas, highlight, cstate, opacity) {
      var on = !!(cstate && cstate.view === "compare");
      document.body.classList.toggle("atlas-compare", on);
      var out = [nu(), nu(), nu(), nu(), nu(), nu()];
      if (!on) {
        fitted = null; // hidden: sized to nothing; shown again, the maps are sized and fitted anew
      }
      if (!on || !ready(pa, pb, rel, areas)) {
        return out;
      }
      var hl = (highlight && highlight.codes) || [];
      KEYS.forEach(function (m, j) {
        var h = { m: m, url: rel.url, f: fills(m, pa, pb, rel), hl: hl, o: opacity, pa: pa, pb: pb, rel: rel };
        latest[m] = h;
        if (reg[m].url === rel.url && reg[m].list.length === pa.v.length) {
          restyle(m);
        } else {
          out[2 * j] = rel.url;
          out[2 * j + 1] = { m: m, url: rel.url, f: h.f, o: opacity };
        }
      });
      write("compare-legend-a", classLegend(pa));
      write("compare-legend-b", classLegend(pb));
      write("compare-legend-bv", bivariateLegend(pa, pb, rel));
      if (fitted !== rel.key) {
        // Shown just now, or a new place: size the maps to their boxes and fit them, once drawn.
        setTimeout(function () { fit(rel); }, 0);
      }
      if (out[0] === nu()) {
        setTimeout(function () { drawnAll(rel.url); }, 0);
      }
      return out;
    },

    scatter: function (pa, pb, rel, areas, highlight, cstate) {
      if (!cstate || cstate.view !== "compare" || !ready(pa, pb, rel, areas)) {
        return [nu(), nu()];
      }
      var box = document.getElementById("compare-scatter");
      write("compare-scatter", scatterSvg(pa, pb, rel, areas, (highlight && highlight.codes) || [],
        box && box.clientWidth));
      return [nu(), statsText(rel)];
    },

    map_click: function (clickA, clickB, clickBV, selected) {
      var ctx = window.dash_clientside.callback_context;
      var trig = ctx && ctx.triggered && ctx.triggered[0] ? ctx.triggered[0].prop_id : "";
      var data = trig.indexOf("compare-layer-bv") === 0 ? clickBV : trig.indexOf("compare-layer-b") === 0 ? clickB : clickA;
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

    pin: function (code, search) {
      var params = new URLSearchParams(search || "");
      var pinned = (params.get("areas") || "").split(",").filter(Boolean);
      var at = pinned.indexOf(code);
      if (at >= 0) {
        pinned.splice(at, 1);
      } else if (pinned.length < MAX_PINNED) {
        pinned.push(code);
      }
      return searchWith(search, { areas: pinned.join(",") });
    },
  };

  // The profile's Pin/Unpin buttons: one delegated listener, writing the URL (the profile follows it).
  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-cmp-pin]") : null;
    if (!target || !window.dash_clientside.set_props) {
      return;
    }
    var next = window.dash_clientside.compare.pin(target.getAttribute("data-cmp-pin"), window.location.search);
    window.dash_clientside.set_props("url", { search: next });
  });
  // -- the scatter plot's mouse: hover finds the area, a click or a dragged box selects -----------------

  function setHover(code) {
    if (code !== hover) {
      hover = code;
      KEYS.forEach(restyle);
    }
  }

  function highlightCodes(codes) {
    if (window.dash_clientside.set_props) {
      window.dash_clientside.set_props("compare-highlight", { data: { codes: codes, src: "scatter" } });
    }
  }

  var drag = null;

  function local(svg, event) {
    var r = svg.getBoundingClientRect();
    return [event.clientX - r.left, event.clientY - r.top];
  }

  document.addEventListener("mouseover", function (event) {
    var pt = event.target.closest ? event.target.closest("#compare-scatter .cmp-pt") : null;
    if (pt) {
      setHover(pt.getAttribute("data-code"));
    } else if (hover && !(event.target.closest && event.target.closest("#compare-scatter"))) {
      setHover(null);
    }
  });

  document.addEventListener("mousedown", function (event) {
    var svg = event.target.closest ? event.target.closest("#compare-scatter svg") : null;
    if (!svg || event.button !== 0) {
      return;
    }
    event.preventDefault();
    drag = { svg: svg, from: local(svg, event), to: local(svg, event) };
  });

  document.addEventListener("mousemove", function (event) {
    if (!drag) {
      return;
    }
    drag.to = local(drag.svg, event);
    var brush = drag.svg.querySelector(".cmp-brush");
    brush.setAttribute("x", Math.min(drag.from[0], drag.to[0]));
    brush.setAttribute("y", Math.min(drag.from[1], drag.to[1]));
    brush.setAttribute("width", Math.abs(drag.to[0] - drag.from[0]));
    brush.setAttribute("height", Math.abs(drag.to[1] - drag.from[1]));
  });

  document.addEventListener("mouseup", function (event) {
    if (!drag) {
      return;
    }
    var d = drag;
    drag = null;
    var moved = Math.abs(d.to[0] - d.from[0]) + Math.abs(d.to[1] - d.from[1]) > 4;
    if (!moved) {
      // A click: on a point, select it (again: clear); on the background, clear.
      var pt = event.target.closest ? event.target.closest(".cmp-pt") : null;
      var code = pt ? pt.getAttribute("data-code") : null;
      var on = pt && pt.classList.contains("cmp-pt-on") && document.querySelectorAll("#compare-scatter .cmp-pt-on").length === 1;
      highlightCodes(code && !on ? [code] : []);
      return;
    }
    var xa = Math.min(d.from[0], d.to[0]), xb = Math.max(d.from[0], d.to[0]);
    var ya = Math.min(d.from[1], d.to[1]), yb = Math.max(d.from[1], d.to[1]);
    var codes = [];
    if (plot) {
      for (var i = 0; i < plot.codes.length; i += 1) {
        if (plot.px[i] >= xa && plot.px[i] <= xb && plot.py[i] >= ya && plot.py[i] <= yb) {
          codes.push(plot.codes[i]);
        }
      }
    }
    highlightCodes(codes);
  });
})();
