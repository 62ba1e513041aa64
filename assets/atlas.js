/*
 * Neighbourhood Atlas, in the browser: everything a switch changes is derived here from the small
 * payload the server sends (values in feature order, breaks, colours, unit, note) and from the names
 * and geometry fetched once per authority and level.
 *
 * window.atlas holds the functions dash-leaflet calls by name (style, hoverStyle, onEachFeature,
 * see layers/areas.py); window.dash_clientside.atlas holds the
 * clientside callbacks (callbacks/explorer.py). The class rule is window.atlas.classIndex, from
 * assets/classify.js, the same rule as classify.class_index on the server.
 */
(function () {
  "use strict";

  var NO_DATA = "#ffffff";
  var PAGE_SIZE = 25;
  var derived = new WeakMap(); // payload object -> classes, ranks, counts (computed once per payload)
  var layers = {}; // geometry url -> [{feature, layer}] of the layers drawn last

  function nu() {
    return window.dash_clientside.no_update;
  }

  // -- numbers and words ---------------------------------------------------------------------------

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function num(value, dp) {
    if (value === null || value === undefined || !Number.isFinite(value)) {
      return "no data";
    }
    return value.toLocaleString("en-GB", { maximumFractionDigits: dp === undefined ? 2 : dp });
  }

  function withUnit(value, p) {
    if (value === null || value === undefined || !Number.isFinite(value)) {
      return "no data";
    }
    var text = num(value, p.dp);
    var unit = p.unit || "";
    if (unit === "percentage") {
      return text + "%";
    }
    if (unit === "count" || unit === "rank" || unit === "score" || unit === "decile" || unit === "sum" ||
        unit === "average" || unit === "ratio" || unit === "") {
      return text;
    }
    return text + " " + unit;
  }

  function unitWord(p) {
    var unit = p.unit || "";
    return unit === "percentage" ? "per cent" : unit;
  }

  function classRange(p, i) {
    // The unit is in the legend's title; only a percentage keeps its sign on each bound.
    var lower = i === 0 ? p.lo : p.b[i - 1];
    var sign = p.unit === "percentage" ? "%" : "";
    if (i === 0 && lower > p.b[0]) {
      return "up to " + num(p.b[0], p.dp) + sign;  // custom breaks starting below every value
    }
    return num(lower, p.dp) + sign + " – " + num(p.b[i], p.dp) + sign;
  }

  // -- derived from a payload, once --------------------------------------------------------------------

  function derive(p) {
    var d = derived.get(p);
    if (d) {
      return d;
    }
    var n = p.v.length;
    var cls = p.b && p.b.length ? window.atlas.classIndices(p.v, p.b) : new Int8Array(n).fill(-1);
    var counts = new Array(p.k || 0).fill(0);
    var present = [];
    var missing = 0;
    for (var i = 0; i < n; i += 1) {
      if (cls[i] >= 0) {
        counts[cls[i]] += 1;
        present.push(i);
      } else {
        missing += 1;
      }
    }
    // Rank 1 is the highest value; ties share the best rank (as the store and the data API rank).
    present.sort(function (a, b) { return p.v[b] - p.v[a]; });
    var rank = new Int32Array(n);
    for (var j = 0; j < present.length; j += 1) {
      var here = present[j];
      rank[here] = j > 0 && p.v[here] === p.v[present[j - 1]] ? rank[present[j - 1]] : j + 1;
    }
    var min = Infinity;
    var max = -Infinity;
    present.forEach(function (i2) {
      min = Math.min(min, p.v[i2]);
      max = Math.max(max, p.v[i2]);
    });
    d = { cls: cls, counts: counts, missing: missing, ranked: present.length, rank: rank, min: min, max: max };
    derived.set(p, d);
    return d;
  }

  // -- map: style, hover, outline --------------------------------------------------------------------------

  function styleFor(feature, h) {
    var p = h && h.p;
    var base = { weight: 0.6, color: "#4d4d4d", opacity: 0.7, fillOpacity: 0, fillColor: NO_DATA };
    if (!p || !p.v) {
      return base;
    }
    var i = feature.properties.id;
    var d = derive(p);
    var c = d.cls[i];
    base.fillOpacity = h.o === undefined || h.o === null ? 0.8 : h.o;
    base.fillColor = c >= 0 ? p.c[c] : NO_DATA;
    if (p.all) {
      base.weight = 0.8;
    }
    if (h.nd && h.nd.indexOf(i) >= 0) {
      // No small-area data: a dashed border says so without relying on colour.
      base.dashArray = "3 3";
      base.color = "#737373";
    }
    if (c < 0) {
      base.dashArray = "2 2";
    }
    if (h.s && feature.properties.code === h.s) {
      base.weight = 3.5;
      base.color = "#000000";
      base.opacity = 1;
      base.dashArray = null;
    }
    return base;
  }

  function hoverHtml(feature, h) {
    var p = h && h.p;
    var props = feature.properties;
    var lines = ["<strong>" + escapeHtml(props.name) + "</strong> <span class='code'>" +
                 escapeHtml(props.code) + "</span>"];
    if (!p || !p.v) {
      return lines.join("<br>");
    }
    var i = props.id;
    var d = derive(p);
    var v = p.v[i];
    lines.push(escapeHtml(p.label) + ": <strong>" + escapeHtml(withUnit(v, p)) + "</strong>");
    if (d.cls[i] >= 0) {
      var where = p.all ? " local authority districts" : " areas in " + escapeHtml(p.place || "the authority");
      lines.push("Rank " + num(d.rank[i], 0) + " of " + num(d.ranked, 0) + where + " (1 = highest)");
      if (p.rn && p.rn[i]) {
        lines.push("Rank " + num(p.rn[i], 0) + " of " + num(p.nn, 0) + " across " + escapeHtml(p.cov || "the nation"));
      }
      lines.push("Class " + (d.cls[i] + 1) + " of " + p.k + ": " + escapeHtml(classRange(p, d.cls[i])));
    }
    if (h.nd && h.nd.indexOf(i) >= 0) {
      lines.push("<em>No small-area data in this atlas</em>");
    } else if (p.all) {
      lines.push("<em>Click to open its small-area map</em>");
    }
    return lines.join("<br>");
  }

  function current(ctx) {
    // The latest hideout for this geometry: restyle() applies a switch to the drawn layers in place, so
    // the hideout dash-leaflet holds may be older than what is on the map (its resetStyle after a hover
    // must not bring old colours back).
    var h = window.atlas._latest;
    return h && h.p && h.p.url === ctx.url ? h : ctx.hideout;
  }

  function restyle(h) {
    // Restyling the drawn layers in place repaints 1,500 polygons in a few milliseconds, where letting
    // dash-leaflet rebuild every layer on a new hideout (clearLayers + addData) takes several hundred
    // on these machines (bench/bench_switch.py).
    var list = layers[h.p.url] || [];
    var selected = null;
    for (var i = 0; i < list.length; i += 1) {
      var entry = list[i];
      if (entry) {
        entry.layer.setStyle(styleFor(entry.feature, h));
        if (h.s && entry.feature.properties.code === h.s) {
          selected = entry.layer;
        }
      }
    }
    if (selected) {
      selected.bringToFront();
    }
    styled(h.p.url, list.length);
    return list.length;
  }

  function styled(url, n) {
    // Tells the benchmark and tests that every area of ``url`` has its new style (the canvas paints it
    // in the next animation frame).
    window.dispatchEvent(new CustomEvent("atlas:styled", { detail: { url: url, n: n } }));
  }

  window.atlas = Object.assign({}, window.atlas, {
    _latest: null,

    // Number and text formatting shared with the other pages' scripts (compare.js, embed.js).
    escapeHtml: escapeHtml,
    num: num,
    withUnit: withUnit,

    style: function (feature, ctx) {
      return styleFor(feature, current(ctx));
    },

    hoverStyle: function () {
      return { weight: 2.5, color: "#000000", opacity: 1 };
    },

    onEachFeature: function (feature, layer, ctx) {
      var url = ctx.url;
      if (feature.properties.id === 0 || !layers[url]) {
        layers = {};
        layers[url] = [];
      }
      layers[url][feature.properties.id] = { feature: feature, layer: layer };
      layer.bindTooltip(function () {
        return hoverHtml(feature, current(ctx));
      }, { sticky: true, className: "atlas-tip" });
      var h = current(ctx);
      if (h && h.p && feature.properties.id === h.p.v.length - 1) {
        styled(url, h.p.v.length);
      }
    },

    derive: derive,
    restyle: restyle,
    hoverHtml: hoverHtml,
    styleFor: styleFor,

    // What is drawn now, for tests, the benchmark and the console: the Leaflet layer of an area, and
    // the style each area was last painted with.
    layerOf: function (code) {
      var h = window.atlas._latest;
      var list = h && h.p ? layers[h.p.url] || [] : [];
      for (var i = 0; i < list.length; i += 1) {
        if (list[i] && list[i].feature.properties.code === code) {
          return list[i].layer;
        }
      }
      return null;
    },
    drawn: function () {
      var h = window.atlas._latest;
      var list = h && h.p ? layers[h.p.url] || [] : [];
      return list.filter(Boolean).map(function (e) {
        return { code: e.feature.properties.code, fill: e.layer.options.fillColor,
                 weight: e.layer.options.weight, opacity: e.layer.options.fillOpacity };
      });
    },
  });

  // -- components for clientside callbacks --------------------------------------------------------------

  function el(type, props, children) {
    var p = Object.assign({}, props || {});
    if (children !== undefined) {
      p.children = children;
    }
    return { type: type, namespace: "dash_html_components", props: p };
  }

  var VOID = { Input: true, Br: true };

  function cssText(style) {
    return Object.keys(style).map(function (key) {
      return key.replace(/[A-Z]/g, function (c) { return "-" + c.toLowerCase(); }) + ":" + style[key];
    }).join(";");
  }

  function toHtml(node) {
    // The legend and the table are written as HTML into their containers, not as Dash components: a
    // few hundred Dash components re-rendered on every switch cost ~300 ms here (each one's wrapper runs
    // on every store update), the same HTML costs ~2 ms.
    if (node === null || node === undefined || node === false) {
      return "";
    }
    if (Array.isArray(node)) {
      return node.map(toHtml).join("");
    }
    if (typeof node !== "object") {
      return escapeHtml(node);
    }
    var tag = node.type.toLowerCase();
    var attrs = "";
    Object.keys(node.props).forEach(function (key) {
      var value = node.props[key];
      if (key === "children" || value === undefined || value === null || value === false) {
        return;
      }
      var name = key === "className" ? "class" : key === "htmlFor" ? "for" : key;
      if (key === "style") {
        value = cssText(value);
      }
      attrs += " " + name + (value === true ? "" : '="' + escapeHtml(value) + '"');
    });
    if (VOID[node.type]) {
      return "<" + tag + attrs + ">";
    }
    return "<" + tag + attrs + ">" + toHtml(node.props.children) + "</" + tag + ">";
  }

  function write(id, node) {
    var box = document.getElementById(id);
    if (box) {
      box.innerHTML = toHtml(node);
    }
  }

  function para(text) {
    return el("P", {}, text);
  }

  function legend(p, areas) {
    if (!p || !p.v) {
      return nu();
    }
    var d = derive(p);
    var items = [];
    var showUnit = p.unit && p.unit !== "percentage" && p.label.toLowerCase().indexOf(unitWord(p)) < 0;
    var title = p.label + (showUnit ? " (" + unitWord(p) + ")" : "");
    var out = [el("P", { className: "legend-title" }, title)];
    var scope = p.all ? "" : p.scope === "national" ? ", breaks across " + (p.cov || "the nation") :
      ", breaks within " + (p.place || "the authority");
    out.push(el("P", { className: "legend-scheme" },
      (p.k === 1 ? "1 class" : p.k + " classes") + ", " + (p.schemeLabel || p.scheme) + scope));
    if (p.note) {
      out.push(el("P", { className: "legend-note", role: "note" }, p.note));
    }
    for (var i = 0; i < p.k; i += 1) {
      items.push(el("Li", { className: "legend-row" }, [
        el("Span", { className: "swatch", style: { backgroundColor: p.c[i] } }),
        el("Span", { className: "range" }, classRange(p, i)),
        el("Span", { className: "count" }, num(d.counts[i], 0) + (d.counts[i] === 1 ? " area" : " areas")),
      ]));
    }
    if (d.missing > 0) {
      items.push(el("Li", { className: "legend-row nodata" }, [
        el("Span", { className: "swatch swatch-nodata" }),
        el("Span", { className: "range" }, "No data"),
        el("Span", { className: "count" }, num(d.missing, 0) + (d.missing === 1 ? " area" : " areas")),
      ]));
    }
    out.push(el("Ul", { className: "legend-classes", "aria-label": "Classes" }, items));
    out.push(histogram(p, d));
    out.push(el("P", { className: "legend-foot" },
      "Each class includes its upper bound. Rank 1 is the highest value" +
      (p.pol ? " (" + p.pol + ")." : ".")));
    return out;
  }

  function histogram(p, d) {
    if (!p.b || !p.b.length || !(d.max >= d.min)) {
      return el("Div", {});
    }
    var lo = Math.min(d.min, p.lo);
    var hi = d.max;
    var bins = 24;
    var width = hi > lo ? (hi - lo) / bins : 1;
    var counts = new Array(bins).fill(0);
    p.v.forEach(function (v) {
      if (v !== null && Number.isFinite(v)) {
        counts[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)))] += 1;
      }
    });
    var top = Math.max.apply(null, counts) || 1;
    var bars = counts.map(function (c, i) {
      var mid = lo + (i + 0.5) * width;
      var cls = window.atlas.classIndex(mid, p.b);
      return el("Span", {
        className: "bar",
        style: { height: (100 * c / top).toFixed(1) + "%", backgroundColor: cls >= 0 ? p.c[cls] : NO_DATA },
        title: num(c, 0) + " areas from " + withUnit(lo + i * width, p) + " to " + withUnit(lo + (i + 1) * width, p),
      });
    });
    var marks = p.b.slice(0, -1).map(function (b) {
      var left = hi > lo ? (100 * (b - lo) / (hi - lo)) : 0;
      return el("Span", { className: "break", style: { left: Math.max(0, Math.min(100, left)).toFixed(2) + "%" } });
    });
    return el("Figure", { className: "histogram" }, [
      el("Div", {
        className: "bars", role: "img",
        "aria-label": "Histogram of the values from " + withUnit(lo, p) + " to " + withUnit(hi, p) +
          ", with the class breaks marked",
      }, bars.concat(marks)),
      el("Figcaption", { className: "axis" }, [
        el("Span", {}, withUnit(lo, p)), el("Span", {}, withUnit(hi, p)),
      ]),
    ]);
  }

  function sortedRows(p, areas, d, sort) {
    var n = p.v.length;
    var rows = [];
    for (var i = 0; i < n; i += 1) {
      rows.push(i);
    }
    var col = (sort && sort.col) || "rank";
    var dir = sort && sort.dir === "desc" ? -1 : 1;
    var key = {
      name: function (i2) { return areas.names[i2] || ""; },
      value: function (i2) { return p.v[i2]; },
      rank: function (i2) { return d.cls[i2] >= 0 ? d.rank[i2] : null; },
      rn: function (i2) { return p.rn ? p.rn[i2] : null; },
      class: function (i2) { return d.cls[i2] >= 0 ? d.cls[i2] : null; },
    }[col] || function (i2) { return d.rank[i2]; };
    rows.sort(function (a, b) {
      var ka = key(a);
      var kb = key(b);
      // Missing values always last, whichever the direction.
      if (ka === null || ka === undefined) { return kb === null || kb === undefined ? a - b : 1; }
      if (kb === null || kb === undefined) { return -1; }
      if (typeof ka === "string") { return dir * ka.localeCompare(kb) || a - b; }
      return dir * (ka - kb) || a - b;
    });
    return rows;
  }

  function table(p, areas, selected, sort, pageStore) {
    if (!p || !p.v || !areas || areas.key !== p.key) {
      return [nu(), nu()];
    }
    var d = derive(p);
    var rows = sortedRows(p, areas, d, sort);
    var pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    var page = Math.min(pages - 1, Math.max(0, (pageStore && pageStore.page) || 0));
    var ctx = window.dash_clientside.callback_context;
    var trig = ctx && ctx.triggered ? ctx.triggered.map(function (t) { return t.prop_id; }) : [];
    var selIndex = selected ? areas.codes.indexOf(selected) : -1;
    if (selIndex >= 0 && trig.indexOf("selected-area.data") >= 0) {
      page = Math.floor(rows.indexOf(selIndex) / PAGE_SIZE);
    }
    if (trig.indexOf("view-payload.data") >= 0 && trig.indexOf("table-page.data") < 0 && selIndex < 0) {
      page = Math.min(page, pages - 1);
    }
    var cols = [["name", "Area"], ["value", "Value"], ["rank", "Rank"]];
    if (p.rn) {
      cols.push(["rn", "National rank"]);
    }
    cols.push(["class", "Class"]);
    var current = (sort && sort.col) || "rank";
    var dir = sort && sort.dir === "desc" ? "desc" : "asc";
    var head = el("Tr", {}, cols.map(function (c) {
      var active = c[0] === current;
      var nextDir = active && dir === "asc" ? "desc" : "asc";
      return el("Th", { scope: "col", "aria-sort": active ? (dir === "asc" ? "ascending" : "descending") : "none" },
        el("Button", { type: "button", className: "sort", "data-atlas-sort": c[0] + ":" + nextDir,
          title: "Sort by " + c[1].toLowerCase() },
          c[1] + (active ? (dir === "asc" ? " ▲" : " ▼") : "")));
    }));
    var body = rows.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE).map(function (i) {
      var code = areas.codes[i];
      var isSel = code === selected;
      var cells = [
        el("Th", { scope: "row" }, [
          el("Button", { type: "button", className: "select", "data-atlas-select": code,
            "aria-pressed": isSel ? "true" : "false" }, areas.names[i]),
          el("Span", { className: "code" }, (areas.names[i] === code ? "" : " " + code) + (isSel ? " (selected)" : "")),
        ]),
        el("Td", { className: "num" }, withUnit(p.v[i], p)),
        el("Td", { className: "num" }, d.cls[i] >= 0 ? num(d.rank[i], 0) : "–"),
      ];
      if (p.rn) {
        cells.push(el("Td", { className: "num" }, p.rn[i] ? num(p.rn[i], 0) : "–"));
      }
      cells.push(el("Td", {}, d.cls[i] >= 0 ? [
        el("Span", { className: "swatch", style: { backgroundColor: p.c[d.cls[i]] } }),
        " " + (d.cls[i] + 1) + " of " + p.k,
      ] : "no data"));
      return el("Tr", { className: isSel ? "selected" : "", "aria-current": isSel ? "true" : undefined,
        "data-code": code }, cells);
    });
    var caption = el("Caption", {}, p.label + " for the " + num(rows.length, 0) +
      (p.all ? " local authority districts" : " areas of " + (p.place || "the authority")) +
      ". Choose a name to select it on the map; choose a column heading to sort.");
    var nav = el("Nav", { className: "pager", "aria-label": "Table pages" }, [
      el("Button", { type: "button", "data-atlas-page": String(page - 1), disabled: page === 0 }, "Previous"),
      el("Span", { "aria-live": "polite" }, " Page " + (page + 1) + " of " + pages + " "),
      el("Button", { type: "button", "data-atlas-page": String(page + 1), disabled: page >= pages - 1 }, "Next"),
    ]);
    var help = p.all ?
      "Click a district, or choose it in the Area list, to open its small-area map." :
      "Hover over an area for its figures; click it to select it in the table.";
    if (selIndex >= 0) {
      // Said in words too (the paragraph is aria-live), so the selection is not only a highlight.
      help = "Selected: " + areas.names[selIndex] + (areas.names[selIndex] === selected ? "" : " (" + selected + ")") +
        ", " + withUnit(p.v[selIndex], p) +
        (d.cls[selIndex] >= 0 ? ", rank " + num(d.rank[selIndex], 0) + " of " + num(d.ranked, 0) +
          ", class " + (d.cls[selIndex] + 1) + " of " + p.k : "") + ". Click it again to clear.";
    }
    return [[el("Table", { className: "areas" }, [caption, el("Thead", {}, head), el("Tbody", {}, body)]), nav], help];
  }

  // -- clientside callbacks ------------------------------------------------------------------------------

  var KEYS = ["authority", "level", "variable", "scheme", "k", "breaks", "scope", "palette", "reverse", "opacity"];

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    atlas: {
      write_url: function () {
        var args = Array.prototype.slice.call(arguments);
        var stored = args[KEYS.length];
        var search = args[KEYS.length + 1];
        if (!stored || !stored.state) {
          return nu();
        }
        var st = stored.state;
        var now = {};
        KEYS.forEach(function (key, i) { now[key] = args[i]; });
        now.reverse = Array.isArray(now.reverse) && now.reverse.indexOf("1") >= 0;
        var same = KEYS.every(function (key) {
          var a = now[key];
          var b = st[key];
          if (key === "k" || key === "opacity") {
            return Number(a) === Number(b);
          }
          return (a === null || a === undefined ? "" : a) === (b === null || b === undefined ? "" : b);
        });
        if (same) {
          return nu();
        }
        var params = new URLSearchParams();
        var placeChanged = now.authority !== st.authority;
        KEYS.forEach(function (key) {
          var value = now[key];
          if (placeChanged && (key === "level" || key === "scope")) {
            return; // a new authority opens at its own first level, with breaks computed locally
          }
          if (key === "breaks" && now.scheme !== "custom") {
            return;
          }
          if (key === "reverse") {
            value = value ? "1" : "0";
          }
          if (value === null || value === undefined || value === "") {
            return;
          }
          params.append(key, String(value));
        });
        // The embed page's own keys (callbacks/embed.py) stay, so a reloaded frame keeps its controls.
        var here = new URLSearchParams(search || "");
        ["controls", "legend"].forEach(function (key) {
          if (here.has(key)) {
            params.append(key, here.get(key));
          }
        });
        var next = "?" + params.toString();
        return next === search ? nu() : next;
      },

      show_breaks: function (scheme) {
        return scheme === "custom" ? {} : { display: "none" };
      },

      combine: function (payload, areas, opacity, selected, drawnUrl) {
        if (!payload) {
          return [nu(), nu()];
        }
        var codes = areas && areas.key === payload.key ? areas.codes : [];
        var h = {
          p: payload,
          o: opacity,
          s: selected && codes.indexOf(selected) >= 0 ? selected : null,
          nd: areas && areas.key === payload.key && areas.nodata ? areas.nodata : null,
        };
        window.atlas._latest = h;
        if (drawnUrl === payload.url && (layers[payload.url] || []).length === payload.n) {
          // Same geometry, already drawn: restyle in place; dash-leaflet's hideout is left as it was.
          restyle(h);
          return [nu(), nu()];
        }
        // New geometry (or not drawn yet): url and hideout change together, in one update of props,
        // so dash-leaflet draws the new features with the new hideout.
        return [payload.url, h];
      },

      map_click: function (clickData, payload, areas, selected) {
        if (!clickData || !clickData.properties || !payload) {
          return [nu(), nu(), nu()];
        }
        var code = clickData.properties.code;
        if (payload.all) {
          var i = areas && areas.codes ? areas.codes.indexOf(code) : -1;
          if (areas && areas.nodata && areas.nodata.indexOf(i) >= 0) {
            return [nu(), nu(), [para(clickData.properties.name + " has no small-area data in this atlas, " +
              "which maps the neighbourhoods of England and Wales.")]];
          }
          return [code, nu(), nu()];
        }
        return [nu(), code === selected ? null : code, nu()];
      },

      legend: function (payload, areas) {
        var tree = legend(payload, areas);
        if (tree !== nu()) {
          write("legend", tree);
        }
        return nu();
      },

      table: function (payload, areas, selected, sort, page) {
        var out = table(payload, areas, selected, sort, page);
        if (out[0] !== nu()) {
          write("area-table", out[0]);
          var help = document.getElementById("view-help");
          if (help) {
            help.textContent = out[1];
          }
        }
        return nu();
      },
    },
  });

  // -- the table's buttons: one delegated listener (no callback per row) ----------------------------------

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-atlas-select],[data-atlas-sort],[data-atlas-page]") : null;
    if (!target || !window.dash_clientside.set_props) {
      return;
    }
    var set = window.dash_clientside.set_props;
    if (target.hasAttribute("data-atlas-select")) {
      var code = target.getAttribute("data-atlas-select");
      var h = window.atlas._latest;
      set("selected-area", { data: h && h.s === code ? null : code });
    } else if (target.hasAttribute("data-atlas-sort")) {
      var parts = target.getAttribute("data-atlas-sort").split(":");
      set("table-sort", { data: { col: parts[0], dir: parts[1] } });
      set("table-page", { data: { page: 0 } });
    } else {
      set("table-page", { data: { page: Number(target.getAttribute("data-atlas-page")) } });
    }
  });
})();
