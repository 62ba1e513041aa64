/*
 * Neighbourhood Atlas, the point layer: monitoring sites (and published points) drawn as circle markers in the
 * explorer's own map, sized and coloured by the class the server gave each site (atlas/points.py), clustered
 * where they are dense. Like the areas, it decides nothing: the paint carries one class character per site
 * (decoded by window.atlas.classAt), each class's colour and radius, and the printed reading of each site.
 *
 * window.atlas.points holds the functions dash-leaflet calls by name (layers/points.py: marker, cluster,
 * eachSite); window.dash_clientside.points the clientside callbacks (callbacks/points.py): ``combine`` (a new
 * dataset: url and hideout together; a new day or reading: the drawn markers restyled in place, as the areas
 * are) and ``write_url`` (the address's points, measure, day and site keys).
 */
(function () {
  "use strict";

  var NO_READING = "#ffffff";
  var drawn = {}; // geometry url -> [{feature, layer}] of the markers created (some since removed by a zoom)
  var clustered = {}; // geometry url -> [{feature, layer, index}] of the cluster markers created

  function P() {
    return window.atlas.ids.POINTS;
  }

  function nu() {
    return window.dash_clientside.no_update;
  }

  function esc(text) {
    return window.atlas.escapeHtml(text);
  }

  function current(ctx) {
    // The latest paint for this geometry: a switch restyles the drawn markers in place, so the hideout
    // dash-leaflet holds may be older than what is on the map (a zoom draws new markers from this one).
    var h = window.atlas.points._latest;
    return h && ctx && h.url === ctx.url ? h : (ctx && ctx.hideout) || {};
  }

  function classOf(h, i) {
    return h && h.cls ? window.atlas.classAt(h.cls, i) : -1;
  }

  function markerStyle(h, i) {
    var c = classOf(h, i);
    if (c < 0) {
      // No reading at this time: an open circle, so absence is not a colour.
      return { radius: 4, color: "#525252", weight: 1.2, fillColor: NO_READING, fillOpacity: 0.9, dashArray: "2 2" };
    }
    return { radius: h.r[c], color: "#252525", weight: 1, fillColor: h.c[c], fillOpacity: 0.9, dashArray: null };
  }

  function tipHtml(feature, h) {
    var p = feature.properties;
    var i = p.i;
    var c = classOf(h, i);
    var lines = ["<strong>" + esc(p.name) + "</strong> <span class='code'>" + esc(p.site) + "</span>"];
    if (p.type) {
      lines.push(esc(p.type) + (p.network ? " · " + esc(p.network) : ""));
    }
    var text = h.text ? h.text[i] : null;
    lines.push(esc(h.label || "Reading") + ": <strong>" + (text ? esc(text) : c >= 0 ? esc(h.labels[c]) : "no reading") +
               "</strong>");
    if (c >= 0 && text) {
      lines.push(esc(h.labels[c]));
    }
    lines.push("<span class='asof'>" + esc(h.asOf || "") + "</span>");
    lines.push("<em>Click for its readings and chart</em>");
    return lines.join("<br>");
  }

  function clusterIcon(feature, index, h) {
    // A cluster takes the colour of its highest class (the worst reading among its sites) and says how many
    // sites it holds; its size grows with the count.
    var leaves = index.getLeaves(feature.properties.cluster_id, Infinity);
    var worst = -1;
    leaves.forEach(function (leaf) {
      worst = Math.max(worst, classOf(h, leaf.properties.i));
    });
    var n = leaves.length;
    var size = 24 + Math.min(20, Math.round(Math.sqrt(n) * 3));
    var fill = worst >= 0 ? h.c[worst] : NO_READING;
    var dark = worst >= 0 && worst >= Math.ceil(h.c.length / 2);
    var words = n + " sites here; the highest reading: " + (worst >= 0 ? h.labels[worst] : "none") +
      ". Zoom in to see them.";
    return {
      icon: window.L.divIcon({
        className: "point-cluster",
        iconSize: window.L.point(size, size),
        html: "<span class='point-cluster-dot' style='background:" + fill + ";color:" + (dark ? "#ffffff" : "#111111") +
          ";width:" + size + "px;height:" + size + "px;line-height:" + size + "px'>" + n + "</span>",
      }),
      title: words,
    };
  }

  function alive(list) {
    // Markers a zoom removed are dropped from the register.
    return (list || []).filter(function (e) { return e.layer && e.layer._map; });
  }

  function restyle(h) {
    var started = window.performance ? window.performance.now() : 0;
    var markers = drawn[h.url] = alive(drawn[h.url]);
    markers.forEach(function (e) {
      var style = markerStyle(h, e.feature.properties.i);
      e.layer.setStyle(style);
      e.layer.setRadius(style.radius);
      if (e.layer.isTooltipOpen && e.layer.isTooltipOpen()) {
        e.layer.setTooltipContent(tipHtml(e.feature, h));
      }
    });
    var clusters = clustered[h.url] = alive(clustered[h.url]);
    clusters.forEach(function (e) {
      var made = clusterIcon(e.feature, e.index, h);
      e.layer.setIcon(made.icon);
      var el = e.layer.getElement && e.layer.getElement();
      if (el) {
        el.setAttribute("title", made.title);
        el.setAttribute("aria-label", made.title);
      }
    });
    window.dispatchEvent(new CustomEvent("atlas:points", { detail: { url: h.url, n: markers.length } }));
    if (window.performance && window.performance.measure) {
      window.performance.measure("atlas-points-restyle", { start: started, end: window.performance.now() });
    }
    return markers.length + clusters.length;
  }

  function timeDraw(url) {
    // Performance marks for bench/bench_points.py: from the layer's new address to the first frame with its
    // markers (or clusters) on the map ("atlas-points-draw"); gives up after about ten seconds of frames.
    if (!window.performance || !window.performance.mark) {
      return;
    }
    window.performance.mark("atlas-points-url");
    var frames = 0;
    function check() {
      if (alive(drawn[url]).length || alive(clustered[url]).length) {
        window.performance.mark("atlas-points-drawn");
        window.performance.measure("atlas-points-draw", "atlas-points-url", "atlas-points-drawn");
      } else if (frames++ < 600) {
        window.requestAnimationFrame(check);
      }
    }
    window.requestAnimationFrame(check);
  }

  function choose(dataset, site) {
    if (window.dash_clientside.set_props) {
      window.dash_clientside.set_props(P().SELECTED, { data: site ? { dataset: dataset, site: site } : null });
    }
  }

  window.atlas = Object.assign({}, window.atlas, {
    points: {
      _latest: null,

      marker: function (feature, latlng, ctx) {
        var h = current(ctx);
        return window.L.circleMarker(latlng, Object.assign({ pane: P().PANE }, markerStyle(h, feature.properties.i)));
      },

      cluster: function (feature, latlng, index, ctx) {
        var h = current(ctx);
        var made = clusterIcon(feature, index, h);
        var marker = window.L.marker(latlng, { icon: made.icon, title: made.title, alt: made.title, keyboard: true });
        (clustered[ctx.url] = clustered[ctx.url] || []).push({ feature: feature, layer: marker, index: index });
        return marker;
      },

      eachSite: function (feature, layer, ctx) {
        if (feature.properties.cluster) {
          return;
        }
        (drawn[ctx.url] = drawn[ctx.url] || []).push({ feature: feature, layer: layer });
        layer.bindTooltip(function () { return tipHtml(feature, current(ctx)); },
          { className: "atlas-tip", direction: "top", offset: [0, -6] });
        layer.on("click", function () {
          var h = current(ctx);
          choose(h.key, feature.properties.site);
        });
      },

      restyle: restyle,
      drawnCount: function () {
        var h = window.atlas.points._latest;
        return h ? alive(drawn[h.url]).length : 0;
      },
    },
  });

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    points: {
      combine: function (paint, drawnUrl) {
        if (!paint) {
          window.atlas.points._latest = null;
          return drawnUrl ? [null, {}] : [nu(), nu()];
        }
        window.atlas.points._latest = paint;
        if (drawnUrl === paint.url && (alive(drawn[paint.url]).length || alive(clustered[paint.url]).length)) {
          // The same sites, already drawn: restyle them in place (dash-leaflet would redraw every marker).
          restyle(paint);
          return [nu(), nu()];
        }
        timeDraw(paint.url);
        return [paint.url, paint];
      },

      ask: function (nav, pstate) {
        // The address's view, on to render_points only when it names a point layer or one is drawn.
        var params = new URLSearchParams((nav && nav.search) || "");
        var named = window.atlas.ids.POINT_KEYS.some(function (key) { return params.has(key); });
        return named || (pstate && pstate.dataset) ? nav : nu();
      },

      card_ask: function (selected, stored, hidden) {
        // The selected area's card is asked for only when an area is selected or the card is shown (to hide
        // it); the time makes a new view with the same area a change.
        if (typeof selected !== "string" && hidden !== false) {
          return nu();
        }
        return { selected: typeof selected === "string" ? selected : null, t: Date.now() };
      },

      write_url: function (pstate, selected) {
        // The point layer's keys follow what is drawn (replaceState: a new day adds no history entry).
        if (window.self !== window.top && window.location.pathname.indexOf("/embed") === 0) {
          return nu();
        }
        var params = new URLSearchParams(window.location.search);
        window.atlas.ids.POINT_KEYS.forEach(function (key) { params.delete(key); });
        if (pstate && pstate.keys) {
          new URLSearchParams(pstate.keys).forEach(function (value, key) {
            if (key !== "site") {
              params.set(key, value);
            }
          });
          if (selected && selected.site && selected.dataset === pstate.dataset) {
            params.set("site", selected.site);
          }
        }
        var next = "?" + params.toString().replace(/%2C/g, ",").replace(/%2F/g, "/");
        if (next !== window.location.search) {
          window.history.replaceState(window.history.state, "", window.location.pathname + next);
        }
        return nu();
      },
    },
  });

  // The cards' buttons: a site named in the area card opens its card; a card's Close button closes it.
  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-atlas-site],[data-atlas-close-site]") : null;
    if (!target) {
      return;
    }
    if (target.hasAttribute("data-atlas-close-site")) {
      choose(null, null);
      return;
    }
    var parts = target.getAttribute("data-atlas-site").split("/");
    choose(parts[0], parts[1]);
  });
})();
