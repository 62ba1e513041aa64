/*
 * Neighbourhood Atlas, in the browser: it paints what the server decided (atlas/view.py) and decides
 * nothing itself. A switch sends a "paint": one class character per area (in the order of the geometry's
 * features, "-" for no data; see classAt), the colours, the legend with its printed labels and counts, and
 * the words the hover card and table print for each class (a category's label for a categorical
 * variable, whose paint carries everything and fetches no details). The printed
 * values and ranks that hover cards and the table show are fetched from /api/view.json?...&fields=details
 * only when something shows them (a hover, a selection, the table scrolled into view), and kept per view.
 *
 * window.atlas holds the functions dash-leaflet calls by name (style, hoverStyle, onEachFeature; see
 * layers/areas.py) and the painting helpers the other pages' scripts share (compare.js, embed.js);
 * window.dash_clientside.atlas holds the explorer's clientside callbacks (callbacks/explorer.py).
 * Component ids come from window.atlas.ids (ui/ids.py, served as /_atlas/ids.js): none is spelled here.
 */
(function () {
  "use strict";

  var NO_DATA = "#ffffff";
  var PAGE_SIZE = 25;
  var layers = {}; // geometry url -> [{feature, layer}] of the layers drawn last
  var details = {}; // details url -> {promise, data}: every area's printed figures (after a first hover)
  var pages = {}; // table page url -> {promise, data}: one page of the table (fields=rows), fetched for its rows
  var tableState = { sort: { col: "rank", dir: "asc" }, page: 0 };

  function ids() {
    return window.atlas.ids;
  }

  function nu() {
    return window.dash_clientside.no_update;
  }

  // -- words ------------------------------------------------------------------------------------------

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // One formatter, made once: Number.toLocaleString builds a new one at every call, which for the table's
  // ranks and counts was 80-330 ms of a phone's first load (Lighthouse's 4x slower CPU). Same output.
  var WHOLE = new Intl.NumberFormat("en-GB");

  function count(n) {
    // Whole numbers the server sent (ranks, counts), with thousands separators.
    return n === null || n === undefined ? "–" : WHOLE.format(Number(n));
  }

  function plural(n, word) {
    return count(n) + " " + word + (n === 1 ? "" : "s");
  }

  // -- a paint, read ------------------------------------------------------------------------------------

  function classAt(cls, i) {
    // The one decoder of a paint's class characters (atlas.view.CLASS_ALPHABET): "0"-"9" are classes
    // 0-9, "A"-"Z" 10-35, "a"-"z" 36-61; anything else ("-") is no data.
    var code = cls ? cls.charCodeAt(i) : -1;
    if (code >= 48 && code <= 57) {
      return code - 48;
    }
    if (code >= 65 && code <= 90) {
      return code - 55;
    }
    if (code >= 97 && code <= 122) {
      return code - 61;
    }
    return -1;
  }

  function classOf(p, i) {
    return p ? classAt(p.cls, i) : -1;
  }

  function isEstimate(d, i) {
    // d.est: indices of the areas whose figure is an estimate (a few per authority), made a set once.
    if (!d || !d.est) {
      return false;
    }
    if (!d._est) {
      d._est = {};
      d.est.forEach(function (j) { d._est[j] = true; });
    }
    return !!d._est[i];
  }

  function whyOf(p, i) {
    // Why area i of a categorical view has no value (an election's tie, no election there that year), from
    // the paint's ``why`` (one character per area, "-" where it has a value).
    var w = p && p.why;
    var k = w ? classAt(w.at, i) : -1;
    return k >= 0 ? w.labels[k] : null;
  }

  function carriedOf(d, i) {
    // d.carried: the areas whose figures are another area's (merged, split...), by index: [word, sentence].
    return d && d.carried ? d.carried[String(i)] || null : null;
  }

  function fillOf(p, i) {
    var c = classOf(p, i);
    return c >= 0 ? p.c[c] : NO_DATA;
  }

  function detailsUrl(p) {
    return p && p.details ? p.details : null;
  }

  function detailsOf(p) {
    var url = detailsUrl(p);
    var entry = url ? details[url] : null;
    return entry && entry.data ? entry.data : null;
  }

  function loadDetails(p) {
    // The printed values and ranks of a view, fetched once per view and shared by hover and table.
    var url = detailsUrl(p);
    if (!url) {
      return Promise.resolve(null);
    }
    if (!details[url]) {
      var entry = { data: null };
      entry.promise = fetch(url, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) {
          throw new Error("details " + r.status);
        }
        return r.json();
      }).then(function (data) {
        entry.data = data;
        window.dispatchEvent(new CustomEvent("atlas:details", { detail: { url: url } }));
        return data;
      }).catch(function () {
        delete details[url];
        return null;
      });
      details[url] = entry;
    }
    return details[url].promise;
  }

  function rowsUrl(p, sort, page, find) {
    // One page of the table in its order, with its rows' printed figures only (GET /api/view.json?fields=rows):
    // what the table's visible page and a selection need, instead of every area's details (issue 17 §11).
    var url = detailsUrl(p);
    if (!url) {
      return null;
    }
    return url.replace("fields=details", "fields=rows") + "&sort=" + encodeURIComponent(sort.col) + "&dir=" +
      (sort.dir === "desc" ? "desc" : "asc") + "&page=" + (page || 0) + "&size=" + PAGE_SIZE +
      (find ? "&find=" + encodeURIComponent(find) : "");
  }

  function pageOf(url) {
    var entry = url ? pages[url] : null;
    return entry && entry.data ? entry.data : null;
  }

  function loadPage(url) {
    if (!url || pages[url]) {
      return;
    }
    var entry = pages[url] = { data: null };
    fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) {
        throw new Error("rows " + r.status);
      }
      return r.json();
    }).then(function (data) {
      entry.data = data;
      window.dispatchEvent(new CustomEvent("atlas:details", { detail: { url: url } }));
    }).catch(function () {
      delete pages[url];
    });
  }

  function figuresOf(p, i) {
    // Area i's printed figures from whatever is here: every area's details, or a fetched table page holding
    // its row. {text, rank, rn, est, ranked, estNote} or null.
    var d = detailsOf(p);
    if (d && d.var === p.var) {
      return { text: d.text[i], rank: d.rank ? d.rank[i] : null, rn: d.rn ? d.rn[i] : null,
               est: isEstimate(d, i), ranked: d.ranked, estNote: d.estNote, carried: carriedOf(d, i) };
    }
    var prefix = detailsUrl(p);
    if (!prefix) {
      return null;
    }
    prefix = prefix.replace("fields=details", "fields=rows");
    var urls = Object.keys(pages);
    for (var k = 0; k < urls.length; k += 1) {
      var pg = pages[urls[k]].data;
      if (pg && urls[k].indexOf(prefix + "&") === 0 && pg.var === p.var && pg.rows[String(i)]) {
        var r = pg.rows[String(i)];
        return { text: r.text, rank: r.rank, rn: r.rn, est: r.est, ranked: pg.ranked, estNote: pg.estNote,
                 carried: r.carried || null };
      }
    }
    return null;
  }

  // -- map: style, hover --------------------------------------------------------------------------------------

  function styleFor(feature, h) {
    var p = h && h.p;
    var base = { weight: 0.6, color: "#4d4d4d", opacity: 0.7, fillOpacity: 0, fillColor: NO_DATA };
    if (!p || !p.cls) {
      return base;
    }
    var i = feature.properties.id;
    var c = classOf(p, i);
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
      // Its own edge heavier, and above everything the selection's own outline (outlineSelected: a white
      // casing, which hides this edge, under a dashed near-black line).
      base.weight = 3.5;
      base.color = "#000000";
      base.opacity = 1;
      base.dashArray = null;
    }
    return base;
  }

  function figureLines(p, d, i) {
    // The lines about area i's value: printed value, rank (or the publisher's own rank, as published).
    // ``d`` is unused beyond its presence: the figures come from figuresOf (details or a table page).
    var lines = [];
    if (!p.details) {
      // A categorical paint: its class line names the category, and there is nothing more to fetch.
      var c = classOf(p, i);
      if (c >= 0) {
        lines.push(escapeHtml(p.label) + ": <strong>" + escapeHtml(classCell(p, c)) + "</strong>");
      } else if (whyOf(p, i)) {
        lines.push("<em>" + escapeHtml(whyOf(p, i)) + "</em>");  // the "No data" line follows
      }
      return lines;
    }
    var f = figuresOf(p, i);
    if (!f) {
      lines.push("<em>Loading its figures…</em>");
      return lines;
    }
    lines.push(escapeHtml(p.label) + ": <strong>" + escapeHtml(f.text) + "</strong>");
    if (f.est) {
      lines.push("<em>" + escapeHtml(f.estNote) + "</em>");
    }
    if (f.carried) {
      lines.push("<em>" + escapeHtml(f.carried[1]) + "</em>");
    }
    if (f.rank !== null && f.rank !== undefined) {
      var where = p.all ? " local authority districts" : " areas in " + escapeHtml(p.place || "the authority");
      lines.push("Rank " + count(f.rank) + " of " + count(f.ranked) + where + " (1 = highest)");
    } else if (p.unranked && f.text !== "no data") {
      lines.push("<em>" + escapeHtml(p.unranked) + "</em>");
    }
    if (f.rn !== null && f.rn !== undefined && p.national) {
      lines.push("Rank " + count(f.rn) + " of " + count(p.national.count) + " across " +
                 escapeHtml(p.national.coverage));
    }
    if (p.notes && p.notes.length) {  // the variable's caveats (ties, multi-member wards...), as in the legend
      lines.push("<span class='note'>" + escapeHtml(p.notes.join(" ")) + "</span>");
    }
    return lines;
  }

  function hoverHtml(feature, h) {
    var p = h && h.p;
    var props = feature.properties;
    var lines = ["<strong>" + escapeHtml(props.name) + "</strong> <span class='code'>" +
                 escapeHtml(props.code) + "</span>"];
    if (!p || !p.cls) {
      return lines.join("<br>");
    }
    var i = props.id;
    lines = lines.concat(figureLines(p, detailsOf(p), i));
    var c = classOf(p, i);
    if (c >= 0) {
      if (classText(p, c)) {
        lines.push(escapeHtml(classText(p, c)));
      }
    } else {
      lines.push("No data");
    }
    if (p.exposure && p.exposure.length) {  // the place's population-weighted exposure (air pollutants)
      lines.push("<span class='note'>" + escapeHtml(p.exposure.join(" ")) + "</span>");
    }
    if (p.asOf) {  // a published dataset: its as-of date and version, and that it is stale
      lines.push("<span class='asof'>" + escapeHtml(p.asOf) + "</span>");
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
    var h = window.atlas._latest;
    outlineSelected(h && h.p && h.p.url === url && h.p.geom !== "tiles" && h.s ? window.atlas.layerOf(h.s) : null);
    window.dispatchEvent(new CustomEvent("atlas:styled", { detail: { url: url, n: n } }));
  }

  // The selected area (a searched postcode's or place's area, a clicked one) is outlined in a style no boundary
  // uses: a white casing under a dashed near-black line, in a pane of its own above the authority's outline,
  // so it reads over every palette and is never mistaken for the district's border (a plain black line).
  var SELECTION_CASING = { color: "#ffffff", weight: 7, opacity: 0.95, fill: false, dashArray: null };
  var SELECTION_LINE = { color: "#111111", weight: 3, opacity: 1, fill: false, dashArray: "9 6" };
  var selection = null;

  function outlineSelected(layer) {
    if (selection) {
      selection.remove();
      selection = null;
    }
    var map = layer && layer._map;
    if (!map || !layer.feature) {
      return;
    }
    if (!map.getPane("selection")) {
      var pane = map.createPane("selection");
      pane.style.zIndex = 460;
      pane.style.pointerEvents = "none";
    }
    var geometry = layer.feature.geometry;
    selection = window.L.layerGroup([
      window.L.geoJSON(geometry, { style: SELECTION_CASING, pane: "selection", interactive: false }),
      window.L.geoJSON(geometry, { style: SELECTION_LINE, pane: "selection", interactive: false }),
    ]).addTo(map);
    selection._atlasCode = layer.feature.properties.code;
  }

  function refreshOpenTooltips() {
    var h = window.atlas._latest;
    var list = h && h.p ? layers[h.p.url] || [] : [];
    list.forEach(function (entry) {
      if (entry && entry.layer.isTooltipOpen && entry.layer.isTooltipOpen()) {
        entry.layer.setTooltipContent(hoverHtml(entry.feature, h));
      }
    });
  }

  // -- the legend and the table, written as HTML ------------------------------------------------------------
  // Written into their containers rather than returned as Dash components: a few hundred Dash components
  // re-rendered on every switch cost ~300 ms here (each one's wrapper runs on every store update), the
  // same HTML costs ~2 ms.

  function tag(name, attrs, inner) {
    var text = "<" + name;
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) {
        return;
      }
      text += " " + key + (value === true ? "" : '="' + escapeHtml(value) + '"');
    });
    return text + ">" + (inner === undefined ? "" : inner) + "</" + name + ">";
  }

  function legendHtml(legend) {
    // The server's legend (atlas.view.View.legend), as every other consumer draws it.
    var out = tag("p", { "class": "legend-title" }, escapeHtml(legend.title));
    out += tag("p", { "class": "legend-scheme" }, escapeHtml(legend.method));
    legend.notes.forEach(function (note) {
      out += tag("p", { "class": "legend-note", role: "note" }, escapeHtml(note));
    });
    var rows = legend.rows.map(function (r) {
      return tag("li", { "class": "legend-row" },
        tag("span", { "class": "swatch", style: "background-color:" + r.colour }) +
        tag("span", { "class": "range" }, escapeHtml(r.label)) +
        tag("span", { "class": "count" }, escapeHtml(plural(r.count, "area"))));
    });
    if (legend.ranges && legend.ranges.count > 0) {
      rows.push(tag("li", { "class": "legend-row nodata" },
        tag("span", { "class": "swatch swatch-nodata" }) + tag("span", { "class": "range" }, escapeHtml(legend.ranges.label)) +
        tag("span", { "class": "count" }, escapeHtml(plural(legend.ranges.count, "area")))));
    }
    if (legend.missing > 0) {
      rows.push(tag("li", { "class": "legend-row nodata" },
        tag("span", { "class": "swatch swatch-nodata" }) + tag("span", { "class": "range" }, "No data") +
        tag("span", { "class": "count" }, escapeHtml(plural(legend.missing, "area")))));
    }
    out += tag("ul", { "class": "legend-classes", "aria-label": "Classes" }, rows.join(""));
    out += histogramHtml(legend.histogram);
    out += tag("p", { "class": "legend-foot" }, escapeHtml(legend.foot));
    return out;
  }

  function stripHtml(legend) {
    // The legend's compact strip over the map on a phone: the classes' colours in a row, the first class's lower
    // and the last's upper bound, and a button that opens the whole legend (assets/places.js).
    var rows = legend.rows || [];
    var swatches = rows.map(function (r) {
      return tag("span", { "class": "strip-swatch", style: "background-color:" + r.colour, title: r.label });
    }).join("");
    var first = rows.length ? String(rows[0].label).split(" – ")[0] : "";
    var last = rows.length ? String(rows[rows.length - 1].label).split(" – ").pop() : "";
    var range = rows.length > 1 && first !== rows[0].label ? first + " – " + last : rows.length + " categories";
    return tag("button", { type: "button", "class": "legend-open", "aria-expanded": "false",
                           "aria-controls": ids().LEGEND_PANEL },
      tag("span", { "class": "strip-swatches", "aria-hidden": "true" }, swatches) +
      tag("span", { "class": "strip-text" }, tag("strong", {}, escapeHtml(legend.title)) + " " + escapeHtml(range)));
  }

  function histogramHtml(hist) {
    if (!hist) {
      return "";
    }
    var top = Math.max.apply(null, hist.counts) || 1;
    var bars = hist.counts.map(function (c, i) {
      return tag("span", { "class": "bar", title: plural(c, "area"),
        style: "height:" + (100 * c / top).toFixed(1) + "%;background-color:" + hist.colours[i] });
    }).join("");
    var marks = hist.marks.map(function (left) {
      return tag("span", { "class": "break", style: "left:" + Math.max(0, Math.min(100, left)).toFixed(2) + "%" });
    }).join("");
    // A guideline or limit inside the values' range (a variable with thresholds): a labelled line.
    (hist.lines || []).forEach(function (line) {
      marks += tag("span", { "class": "threshold", title: line.label,
        style: "left:" + Math.max(0, Math.min(100, line.left)).toFixed(2) + "%" });
    });
    return tag("figure", { "class": "histogram" },
      tag("div", { "class": "bars", role: "img",
        "aria-label": "Histogram of the values from " + hist.lo + " to " + hist.hi + ", with the class breaks marked" },
        bars + marks) +
      tag("figcaption", { "class": "axis" }, tag("span", {}, escapeHtml(hist.lo)) + tag("span", {}, escapeHtml(hist.hi))));
  }

  function sortedRows(p, areas, d, sort) {
    var n = areas.codes.length;
    var rows = [];
    for (var i = 0; i < n; i += 1) {
      rows.push(i);
    }
    var col = (sort && sort.col) || "rank";
    var dir = sort && sort.dir === "desc" ? -1 : 1;
    var key = {
      name: function (j) { return areas.names[j] || ""; },
      value: function (j) { return d ? d.v[j] : null; },
      rank: function (j) { return d && d.rank ? d.rank[j] : (d ? (d.v[j] === null ? null : -d.v[j]) : null); },
      rn: function (j) { return d && d.rn ? d.rn[j] : null; },
      "class": function (j) { var c = classOf(p, j); return c >= 0 ? c : null; },
    }[col] || function (j) { return j; };
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

  function tableHtml(p, areas, selected, sort, pageWanted, toSelected, pageData) {
    // ``pageData``: the server's page of the table (fields=rows) when every area's details are not here: its
    // order and its rows' figures. Without either, the rows wait in the geometry's order, figures "…".
    var d = detailsOf(p);
    var cols = p.columns;
    var known = cols.map(function (c) { return c[0]; });
    if (!sort || known.indexOf(sort.col) < 0) {
      sort = { col: p.sort, dir: "asc" };  // the server's default order for this view (rank, or category)
    }
    var rows = sortedRows(p, areas, d, sort);
    var pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    var page = Math.min(pages - 1, Math.max(0, pageWanted || 0));
    var selIndex = selected ? areas.codes.indexOf(selected) : -1;
    if (selIndex >= 0 && toSelected && (d || !p.details)) {
      page = Math.floor(rows.indexOf(selIndex) / PAGE_SIZE);
    }
    var pageRows = null;
    if (!d && pageData) {
      page = pageData.page;
      pages = pageData.pages;
      pageRows = pageData.order;
    }
    function fig(i) {
      if (d) {
        return { text: d.text[i], rank: d.rank ? d.rank[i] : null, rn: d.rn ? d.rn[i] : null, est: isEstimate(d, i),
                 estNote: d.estNote, carried: carriedOf(d, i) };
      }
      var r = pageData && pageData.rows[String(i)];
      return r ? { text: r.text, rank: r.rank, rn: r.rn, est: r.est, estNote: pageData.estNote,
                   carried: r.carried || null } : null;
    }
    var active = sort.col;
    var dir = sort && sort.dir === "desc" ? "desc" : "asc";
    var head = tag("tr", {}, cols.map(function (c) {
      var on = c[0] === active;
      var next = on && dir === "asc" ? "desc" : "asc";
      return tag("th", { scope: "col", "aria-sort": on ? (dir === "asc" ? "ascending" : "descending") : "none" },
        tag("button", { type: "button", "class": "sort", "data-atlas-sort": c[0] + ":" + next,
          title: "Sort by " + c[1].toLowerCase() }, escapeHtml(c[1] + (on ? (dir === "asc" ? " ▲" : " ▼") : ""))));
    }).join(""));
    var body = (pageRows || rows.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE)).map(function (i) {
      var f = fig(i);
      var code = areas.codes[i];
      var isSel = code === selected;
      var c = classOf(p, i);
      var cells = tag("th", { scope: "row" },
        tag("button", { type: "button", "class": "select", "data-atlas-select": code,
          "aria-pressed": isSel ? "true" : "false" }, escapeHtml(areas.names[i])) +
        tag("span", { "class": "code" }, escapeHtml((areas.names[i] === code ? "" : " " + code) + (isSel ? " (selected)" : ""))));
      known.forEach(function (col) {
        if (col === "value") {
          cells += tag("td", { "class": "num" }, f ? escapeHtml(f.text) +
            (f.est ? " " + tag("abbr", { "class": "estimate", title: f.estNote }, "(estimate)") : "") +
            (f.carried ? " " + tag("abbr", { "class": "estimate", title: f.carried[1] }, "(" + f.carried[0] + ")") : "")
            : "…");
        } else if (col === "rank") {
          cells += tag("td", { "class": "num" }, f ? count(f.rank) : "…");
        } else if (col === "rn") {
          cells += tag("td", { "class": "num" }, f ? count(f.rn) : "…");
        } else if (col === "class") {
          cells += tag("td", {}, c >= 0 ? tag("span", { "class": "swatch", style: "background-color:" + p.c[c] }) +
            " " + escapeHtml(classCell(p, c)) : "no data" + (whyOf(p, i) ? ": " + escapeHtml(whyOf(p, i)) : ""));
        }
      });
      return tag("tr", { "class": isSel ? "selected" : "", "aria-current": isSel ? "true" : undefined,
        "data-code": code }, cells);
    }).join("");
    var caption = tag("caption", {}, escapeHtml(p.label + " for the " + count(rows.length) +
      (p.all ? " local authority districts" : " areas of " + (p.place || "the authority")) +
      ". Choose a name to select it on the map; choose a column heading to sort." +
      (p.ranked ? "" : " " + p.rankNote)));
    var nav = tag("nav", { "class": "pager", "aria-label": "Table pages" },
      tag("button", { type: "button", "data-atlas-page": String(page - 1), disabled: page === 0 }, "Previous") +
      tag("span", { "aria-live": "polite" }, " Page " + (page + 1) + " of " + pages + " ") +
      tag("button", { type: "button", "data-atlas-page": String(page + 1), disabled: page >= pages - 1 }, "Next"));
    return { html: tag("table", { "class": "areas" }, caption + tag("thead", {}, head) + tag("tbody", {}, body)) + nav,
             page: page };
  }

  function helpText(p, areas, selected) {
    if (!selected) {
      return p.all ? "Click a district, or choose it in the Area list, to open its small-area map." :
        "Hover over an area for its figures; click it to select it in the table.";
    }
    var i = areas.codes.indexOf(selected);
    if (i < 0) {
      return "";
    }
    var f = p.details ? figuresOf(p, i) : null;
    var c = classOf(p, i);
    var text = "Selected: " + areas.names[i] + (areas.names[i] === selected ? "" : " (" + selected + ")");
    if (f) {
      text += ", " + f.text;
      if (f.rank !== null && f.rank !== undefined) {
        text += ", rank " + count(f.rank) + " of " + count(f.ranked);
      }
    }
    text += c >= 0 ? "; " + (classText(p, c) || classCell(p, c)) : "; no data";
    return text + ". Click it again to clear.";
  }

  // A class's words, made from the paint's class labels (sent once, not thrice): the hover card's
  // "Class 2 of 5: 3.7% – 5.1%" (a category: none, the card names it) and the table's "2 of 5 (3.7% – 5.1%)"
  // (a category: its label).
  function classText(p, c) {
    var label = p.classLabels[c];
    return p.categorical || label === undefined ? "" : "Class " + (c + 1) + " of " + p.k + ": " + label;
  }

  function classCell(p, c) {
    var label = p.classLabels[c];
    if (label === undefined) {
      return "";
    }
    return p.categorical ? label : (c + 1) + " of " + p.k + " (" + label + ")";
  }

  function visibleSoon(el) {
    if (!el) {
      return false;
    }
    var box = el.getBoundingClientRect();
    return box.top < (window.innerHeight || 800) && box.bottom > 0 && el.offsetParent !== null;
  }

  var watched = null;

  function drawTable(toSelected) {
    // The table and the help line for the view on screen; the figures arrive with the details.
    var h = window.atlas._latest;
    var box = document.getElementById(ids().TABLE);
    var help = document.getElementById(ids().HELP);
    var areas = window.atlas._areas;
    if (!h || !h.p || !areas || areas.key !== h.p.key) {
      return;
    }
    if (help) {
      help.textContent = helpText(h.p, areas, h.s);
    }
    if (!box || box.offsetParent === null) {
      return; // the embed page has no table
    }
    // A selection (a click, a search result, an address with area=) turns the table to its row, also when the
    // row's place in the order is known only once its page arrives.
    if (toSelected) {
      tableState.follow = true;
    }
    var pageData = null;
    if (h.p.details && !detailsOf(h.p)) {
      // Only the visible page's figures are fetched (and the selected area's page): not every area's.
      var sort = tableState.sort && h.p.columns.some(function (c) { return c[0] === tableState.sort.col; }) ?
        tableState.sort : { col: h.p.sort, dir: "asc" };
      var find = tableState.follow && h.s ? h.s : null;
      var url = rowsUrl(h.p, sort, find ? 0 : tableState.page, find);
      pageData = pageOf(url);
      if (!pageData && (find || visibleSoon(box))) {
        loadPage(url);
      } else if (!pageData && window.IntersectionObserver && watched !== box) {
        watched = box;
        new IntersectionObserver(function (entries) {
          if (entries.some(function (e) { return e.isIntersecting; })) {
            drawTable(false);
          }
        }, { rootMargin: "200px" }).observe(box);
      }
    }
    var out = tableHtml(h.p, areas, h.s, tableState.sort, tableState.page, toSelected || tableState.follow, pageData);
    if (h.s && (detailsOf(h.p) || pageData)) {
      tableState.follow = false;
    }
    tableState.page = out.page;
    // Redrawn while a keyboard user is on one of its buttons (a page of figures arriving, a selection): the
    // same button keeps the focus, so a key pressed next still reaches it.
    var focused = document.activeElement && box.contains(document.activeElement) ? document.activeElement : null;
    var again = null;
    if (focused) {
      ["data-atlas-select", "data-atlas-sort", "data-atlas-page"].some(function (name) {
        var value = focused.getAttribute(name);
        if (value !== null) {
          again = "[" + name + "=\"" + (window.CSS && CSS.escape ? CSS.escape(value) : value) + "\"]";
        }
        return value !== null;
      });
    }
    box.innerHTML = out.html;
    var target = again ? box.querySelector(again) : null;
    if (target) {
      target.focus({ preventScroll: true });
    }
  }

  window.addEventListener("atlas:details", function () {
    drawTable(false);
    refreshOpenTooltips();
  });

  window.atlas = Object.assign({}, window.atlas, {
    _latest: null,
    _areas: null,

    // Shared with the other pages' scripts (compare.js, embed.js).
    escapeHtml: escapeHtml,
    count: count,
    classAt: classAt,
    classOf: classOf,
    tileFeature: function (i, key) { return tileFeature(i, key); },
    fillOf: fillOf,
    legendHtml: legendHtml,
    loadDetails: loadDetails,
    detailsOf: detailsOf,
    hoverHtml: hoverHtml,
    styleFor: styleFor,
    restyle: restyle,
    tableHtml: tableHtml,
    helpText: helpText,

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
        var h = current(ctx);
        if (h && h.p && !detailsOf(h.p)) {
          loadDetails(h.p);
        }
        return hoverHtml(feature, h);
      }, { sticky: true, className: "atlas-tip" });
      var h = current(ctx);
      if (h && h.p && feature.properties.id === h.p.n - 1) {
        styled(url, h.p.n);
      }
    },

    // What is drawn now, for tests, the benchmark and the console.
    // The area outlined as selected (a district's map; England and Wales's tiles draw it in the workers).
    outlined: function () {
      return selection ? selection._atlasCode : null;
    },

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

  // -- the address follows the selected area and the map's position (area=, map=) -----------------------

  function syncAddress() {
    // replaceState: selecting an area or moving the map adds no history entry of its own.
    var h = window.atlas._latest;
    if (!h || !h.p || window.location.pathname.indexOf("/embed") === 0 && window.self !== window.top) {
      return;
    }
    var params = new URLSearchParams(window.location.search);
    var chosen = h.s || (h.pending ? h.want : null); // a selection waiting for the names stays in the address
    // A view drawn before the address has caught up with it (near me, a search result in another authority):
    // its area waits for the address's authority and level, so the two never disagree.
    var named = params.get("authority") && params.get("level") ? params.get("authority") + "/" + params.get("level")
      : h.p.key;
    if (named !== h.p.key) {
      chosen = undefined;
    }
    if (chosen) {
      params.set("area", chosen);
    } else if (chosen === null) {
      params.delete("area");
    }
    var map = window.atlas.tiles && window.atlas.tiles.map(ids().MAP);
    if (map && map._loaded) {
      var c = map.getCenter();
      params.set("map", Math.round(map.getZoom()) + "/" + c.lat.toFixed(5) + "/" + c.lng.toFixed(5));
    }
    var next = "?" + params.toString().replace(/%2C/g, ",").replace(/%2F/g, "/");
    if (next !== window.location.search) {
      window.history.replaceState(window.history.state, "", window.location.pathname + next);
    }
    window.dispatchEvent(new CustomEvent("atlas:view", { detail: { key: h.p.key } })); // places.js: Near me's words
  }

  function publishBounds(map) {
    // The map's bounds for the export links (callbacks/embed.py): a store of their own, so a move wakes one
    // small callback, not a re-render of the whole map component (dash-leaflet's trackViewport is off).
    if (!map._loaded || !window.dash_clientside || !window.dash_clientside.set_props) {
      return;
    }
    var b = map.getBounds();
    window.dash_clientside.set_props(ids().MAP_BOUNDS, {
      data: [[b.getSouth(), b.getWest()], [b.getNorth(), b.getEast()]],
    });
  }

  window.addEventListener("atlas:map", function (e) {
    if (e.detail && e.detail.id === ids().MAP) {
      var map = e.detail.map;
      map.whenReady(function () { publishBounds(map); });
      map.on("moveend", function () {
        if (moveTimer) {
          window.clearTimeout(moveTimer);
        }
        moveTimer = window.setTimeout(function () {
          syncAddress();
          publishBounds(map);
        }, 150);
      });
    }
  });
  var moveTimer = null;

  // -- the vector-tile map (England and Wales at a small-area level: assets/tiles.js) ----------------------

  var tip = null;

  function hideTip() {
    if (tip && tip._map) {
      tip._map.removeLayer(tip);
    }
  }

  // A tiled view's codes and names (England and Wales at a small-area level: 1.9 MB for 34,753 LSOAs) are not
  // in the render answer: only their versioned URL (areas.url), fetched once beside the tiles and kept by the
  // browser for a year. The paint needs none of them (one class character per area, by position); the hover
  // card, the table and the selection use them once they are here, and are redrawn when they arrive.
  var areaLists = {};

  function areasOf(areas) {
    // The view's codes and names when known (starting their fetch when not), else null.
    if (!areas) {
      return null;
    }
    if (areas.codes || !areas.url) {
      return areas.codes ? areas : null;
    }
    var entry = areaLists[areas.url];
    if (!entry) {
      entry = areaLists[areas.url] = { data: null };
      fetch(areas.url, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) {
          throw new Error("HTTP " + r.status);
        }
        return r.json();
      }).then(function (got) {
        entry.data = { key: areas.key, codes: got.codes || [], names: got.names || [] };
        areasArrived(areas.key, entry.data);
      }).catch(function () {
        delete areaLists[areas.url]; // asked again by the next paint
      });
    }
    return entry.data;
  }

  function areasArrived(key, areas) {
    var h = window.atlas._latest;
    if (!h || !h.p || h.p.key !== key) {
      return;
    }
    window.atlas._areas = areas;
    h.pending = false;
    var wanted = h.want || null;
    h.s = wanted && areas.codes.indexOf(wanted) >= 0 ? wanted : null;
    if (h.p.geom === "tiles" && h.s) {
      paintTiles(h, areas.codes); // the selection's outline (the fills are already painted)
    }
    if (tip && tip._map && tip._atlasIndex !== undefined) {
      tip.setContent(hoverHtml(tileFeature(tip._atlasIndex), h));
    }
    drawTable(!!h.s);
    syncAddress();
    window.dispatchEvent(new CustomEvent("atlas:areas", { detail: { key: key } })); // compare's maps too
  }

  function tileFeature(i, key) {
    // Area ``i`` of a tiled view (``key``: the view's, by default the explorer's). Until the codes and names
    // arrive (a moment after the first paint), the card says so: the figures and class it shows are already
    // this area's. Shared with compare.js.
    var areas = window.atlas._areas;
    var h = window.atlas._latest;
    var want = key || (h && h.p ? h.p.key : null);
    if (!areas || !areas.codes || !want || areas.key !== want) {
      return { properties: { id: i, code: "", name: "Loading the area's name…" } };
    }
    return { properties: { id: i, code: areas.codes[i], name: areas.names ? areas.names[i] : areas.codes[i] } };
  }

  function showTip(i, latlng) {
    var map = window.atlas.tiles.map(ids().MAP);
    var h = window.atlas._latest;
    if (!map || i < 0 || !latlng || !h || !h.p) {
      hideTip();
      return;
    }
    if (!detailsOf(h.p)) {
      loadDetails(h.p);
    }
    if (!tip) {
      tip = window.L.tooltip({ className: "atlas-tip", direction: "top", offset: [0, -8] });
    }
    tip.setLatLng(latlng).setContent(hoverHtml(tileFeature(i), h));
    if (!tip._map) {
      tip.addTo(map);
    }
    tip._atlasIndex = i;
  }

  function paintTiles(h, codes) {
    var i = h.s ? codes.indexOf(h.s) : -1;
    var p = h.p;
    var started = window.atlas.tiles.paint(ids().MAP, {
      url: p.url,
      n: p.n,
      fill: function (j) { return fillOf(p, j); },
      opacity: h.o === undefined || h.o === null ? 0.8 : h.o,
      selected: i >= 0 ? [i] : [],
      onHover: showTip,
      onClick: function (j, latlng) {
        showTip(j, latlng); // a tap shows what a hover would
        var areas = window.atlas._areas;
        var code = areas && areas.codes ? areas.codes[j] : null;
        var now = window.atlas._latest;
        if (code && window.dash_clientside.set_props) {
          window.dash_clientside.set_props(ids().SELECTED, { data: now && now.s === code ? null : code });
        }
      },
    });
    Promise.resolve(started).then(function (ok) {
      if (ok && window.atlas._latest === h) {
        styled(p.url, p.n);
      }
    });
  }

  window.addEventListener("atlas:details", function () {
    if (tip && tip._map && tip._atlasIndex !== undefined) {
      tip.setContent(hoverHtml(tileFeature(tip._atlasIndex), window.atlas._latest));
    }
  });

  // -- clientside callbacks ------------------------------------------------------------------------------

  var builderFrom = null;  // the indicator builder's form, once created from these parts

  function viewPath() {
    return window.location.pathname;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    atlas: {
      builder_ask: function (stored, opened, parts) {
        // The indicator builder's tables are asked for only when its form is unfolded, or when the view is a
        // built indicator (its definition fills the form): callbacks/builder.py. The form is created then,
        // once, before its callbacks run (ui/builder.py; set_props updates Dash's layout at once).
        if (!opened && !(stored && stored.built)) {
          return nu();
        }
        var b = ids().BUILDER;
        if (parts && parts !== builderFrom) {
          builderFrom = parts;
          window.dash_clientside.set_props(b.BODY, { children: parts });
        }
        return stored || nu();
      },
      gaps_ask: function (group) {
        // The Table list's "Not here" line (atlas/mapview.py GAPS_OPTION) alone goes to the server.
        return group === ids().GAPS_OPTION ? { group: group, t: Date.now() } : nu();
      },
      area_options: function (value, opened, all, shown) {
        // The Area list: its value's option alone until the list is first opened, then every option (the
        // dropdown indexes all of them for its search when it is given them: ui/explorer.py area_control).
        // Whoever sets the value (render, a click on the national map), the options hold it, so the
        // dropdown's check of its value against new options never clears it.
        if (!Array.isArray(all) || (Array.isArray(shown) && shown.length === all.length)) {
          return nu();
        }
        if (opened) {
          return all;
        }
        var own = all.filter(function (o) { return o.value === value; });
        return own.length ? own : nu();
      },
      write_url: function (stored, cstate) {
        // The URL follows the view the server rendered (canonical), beside the map's repaint rather than
        // before the request: a control's change goes straight to the server. A view reached by the
        // address itself (first load, back or forward) only replaces a non-canonical address.
        if (!stored || !stored.search) {
          return nu();
        }
        var params = new URLSearchParams(stored.search);
        if (cstate && cstate.keys) {
          new URLSearchParams(cstate.keys).forEach(function (value, key) { params.set(key, value); });
        }
        var here = new URLSearchParams(window.location.search);
        ["controls", "legend"].forEach(function (key) {  // the embed page's own keys stay
          if (here.has(key)) {
            params.set(key, here.get(key));
          }
        });
        // The map's position (written as it moves: syncAddress) and the pin stay, unless a place was just
        // chosen in the search (assets/places.js): then they are that place's.
        var pending = window.atlas._pendingKeys;
        window.atlas._pendingKeys = null;
        ["map", "pin"].forEach(function (key) {
          if (pending && Object.prototype.hasOwnProperty.call(pending, key)) {
            if (pending[key]) {
              params.set(key, pending[key]);
            }
          } else if (here.has(key)) {
            params.set(key, here.get(key));
          }
        });
        // the point layer's keys (assets/points.js writes them)
        ["points", "measure", "day", "site"].forEach(function (key) {
          if (here.has(key)) {
            params.set(key, here.get(key));
          }
        });
        var latest = window.atlas._latest;
        var chosen = latest && (latest.s || (latest.pending ? latest.want : null));
        if (chosen && latest.p && latest.p.key === stored.state.authority + "/" + stored.state.level) {
          params.set("area", chosen);
        }
        if (stored.title) {
          document.title = stored.title + " – Neighbourhood Atlas";
        }
        var next = "?" + params.toString().replace(/%2C/g, ",").replace(/%2F/g, "/");
        if (next === window.location.search) {
          return nu();
        }
        window.setTimeout(function () {
          if (window.atlas.places && window.atlas.places.drawPin) {
            window.atlas.places.drawPin();
          }
        }, 0);
        var ctx = window.dash_clientside.callback_context;
        var trig = ctx && ctx.triggered ? ctx.triggered.map(function (t) { return t.prop_id; }) : [];
        var byCompare = trig.indexOf(ids().COMPARE.STATE + ".data") >= 0 && trig.indexOf(ids().STATE + ".data") < 0;
        var asked = byCompare ? cstate && cstate.via === "control" : stored.via === "control";
        var embedded = window.self !== window.top;
        if (asked && !embedded) {
          window.history.pushState(null, "", viewPath() + next);
        } else {
          // Inside another site's frame, never add to its history (its back button is the reader's).
          window.history.replaceState(null, "", viewPath() + next);
        }
        return nu();
      },

      show_breaks: function (scheme) {
        return scheme === "custom" ? {} : { display: "none" };
      },

      combine: function (payload, areas, opacity, selected, drawnUrl) {
        if (!payload) {
          return [nu(), nu()];
        }
        var known = areas && areas.key === payload.key ? areasOf(areas) : null;
        var codes = known ? known.codes : [];
        var h = {
          p: payload,
          o: opacity,
          s: selected && codes.indexOf(selected) >= 0 ? selected : null,
          want: selected || null, // resolved when a tiled view's codes arrive (areasArrived)
          pending: !known && !!(areas && areas.key === payload.key && areas.url),
          nd: known && known.nodata ? known.nodata : null,
        };
        window.atlas._latest = h;
        window.atlas._areas = known || window.atlas._areas;
        syncAddress();
        if (payload.geom === "tiles") {
          // England and Wales at a small-area level: vector tiles (assets/tiles.js); the GeoJSON layer is
          // emptied (a null url draws nothing).
          paintTiles(h, codes);
          return [drawnUrl ? null : nu(), nu()];
        }
        if (window.atlas.tiles) {
          window.atlas.tiles.clear(ids().MAP);
          hideTip();
        }
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
            return [nu(), nu(), [{ type: "P", namespace: "dash_html_components",
              props: { children: clickData.properties.name + " has no small-area data in this atlas, " +
                "which maps the neighbourhoods of England and Wales." } }]];
          }
          return [code, nu(), nu()];
        }
        return [nu(), code === selected ? null : code, nu()];
      },

      legend: function (payload) {
        if (payload && payload.legend) {
          var box = document.getElementById(ids().LEGEND);
          if (box) {
            box.innerHTML = legendHtml(payload.legend);
          }
          var strip = document.getElementById(ids().LEGEND_STRIP);
          if (strip) {
            strip.innerHTML = stripHtml(payload.legend);
          }
        }
        return nu();
      },

      table: function (payload, areas, selected) {
        if (!payload) {
          return nu();
        }
        var ctx = window.dash_clientside.callback_context;
        var trig = ctx && ctx.triggered ? ctx.triggered.map(function (t) { return t.prop_id; }) : [];
        var known = areas && areas.key === payload.key ? areasOf(areas) : null;
        if (known) {
          window.atlas._areas = known;
        }
        if (trig.indexOf(ids().AREAS + ".data") >= 0) {
          tableState.page = 0;
          tableState.follow = !!selected;
        }
        drawTable(trig.indexOf(ids().SELECTED + ".data") >= 0);
        return nu();
      },
    },
  });

  // -- the Area list's options, given when it is first focused or pressed ---------------------------------

  function openAreaList(event) {
    var area = event.target && event.target.closest ? event.target.closest("#" + CSS.escape(ids().AUTHORITY)) : null;
    if (!area || !window.dash_clientside.set_props) {
      return;
    }
    // Every time (the page's layout may have been created again): area_options sends the list once.
    window.dash_clientside.set_props(ids().AUTHORITY_OPENED, { data: true });
  }
  // Focus for the keyboard; a press for browsers that do not focus a pressed button (Safari).
  document.addEventListener("focusin", openAreaList, true);
  document.addEventListener("pointerdown", openAreaList, true);

  // The indicator builder's form, unfolded: its tables are wanted from now on (builder_ask). A details
  // element's toggle event does not bubble; it is caught on its way down.
  document.addEventListener("toggle", function (event) {
    var b = ids().BUILDER;
    if (b && event.target && event.target.id === b.PANEL && event.target.open && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(b.OPENED, { data: true });
    }
  }, true);

  // -- the table's buttons: one delegated listener (no callback per row) ----------------------------------

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-atlas-select],[data-atlas-sort],[data-atlas-page]") : null;
    if (!target || !window.dash_clientside.set_props) {
      return;
    }
    if (target.hasAttribute("data-atlas-select")) {
      var code = target.getAttribute("data-atlas-select");
      var h = window.atlas._latest;
      window.dash_clientside.set_props(ids().SELECTED, { data: h && h.s === code ? null : code });
    } else if (target.hasAttribute("data-atlas-sort")) {
      var parts = target.getAttribute("data-atlas-sort").split(":");
      tableState.sort = { col: parts[0], dir: parts[1] };
      tableState.page = 0;
      drawTable(false);
      var again = document.querySelector("[data-atlas-sort^='" + parts[0] + ":']");
      if (again) {
        again.focus();
      }
    } else {
      tableState.page = Number(target.getAttribute("data-atlas-page"));
      drawTable(false);
      var pager = document.querySelector("[data-atlas-page='" + String(tableState.page + 1) + "']") ||
        document.querySelector("[data-atlas-page]");
      if (pager && !pager.disabled) {
        pager.focus();
      }
    }
  });

  // -- back and forward: the address names the view ---------------------------------------------------------

  window.addEventListener("popstate", function () {
    if (!window.dash_clientside.set_props || !window.atlas._latest) {
      return; // no view drawn on this page (yet)
    }
    try {
      window.dash_clientside.set_props(ids().NAV, { data: { search: window.location.search, t: Date.now() } });
    } catch (err) {
      // A page without the explorer's view: the page router handles the address.
    }
  });
})();
