/*
 * Neighbourhood Atlas: the vector-tile choropleth, for England and Wales at a small-area level (34,753 LSOAs).
 *
 * Leaflet redrawing 35,000 canvas polygons took 1.8 s to load and 1.0 s to restyle here, and every pan
 * redrew them all; ONS's census maps draw every small area from vector tiles instead. So does this: the
 * pipeline builds tiles with tippecanoe (tiles/<level>.pmtiles, served by /api/tiles/<level>/{z}/{x}/{y}.mvt
 * with the build's version, cached a year), and protomaps-leaflet (npm, built into assets/vendor/ by
 * `npm run build` in js/) draws them as a Leaflet layer inside dash-leaflet's own map: one map stack. Only
 * the tiles on screen are fetched; a switch repaints the tiles already held from the same class digits the
 * district maps use (one per area, in code order: each feature carries its position ``i``), with no request
 * for geometry.
 *
 * window.atlas.tiles: paint(mapId, spec) draws or repaints; clear(mapId) removes; pick(mapId, latlng) finds
 * the feature under a point. ``spec``: {url, fill(i) -> colour, opacity, selected: [i...], onHover(i, latlng),
 * onClick(i)}. It decides nothing: colours, names and figures come from the page's scripts (atlas.js).
 */
(function () {
  "use strict";

  var maps = {}; // container id -> Leaflet map (caught as dash-leaflet creates it)
  var held = {}; // container id -> {layer, url, spec, hover}
  var MAX_DATA_ZOOM = 10; // pipeline/tiles.py MAX_ZOOM: deeper zooms draw the level-10 tiles larger
  var OUTLINE_ZOOM = 8;

  function hook() {
    if (!window.L || !window.L.Map || window.L.Map._atlasHooked) {
      return;
    }
    window.L.Map._atlasHooked = true;
    window.L.Map.addInitHook(function () {
      var el = this.getContainer();
      if (el && el.id) {
        maps[el.id] = this;
        window.dispatchEvent(new CustomEvent("atlas:map", { detail: { id: el.id, map: this } }));
      }
    });
  }
  hook();
  document.addEventListener("DOMContentLoaded", hook);

  function mapOf(id) {
    var map = maps[id];
    return map && map.getContainer && document.body.contains(map.getContainer()) ? map : null;
  }

  function lineWidth(z) {
    return z < 9 ? 0.25 : z < 11 ? 0.5 : 0.8;
  }

  function rules(entry) {
    var P = window.protomapsL;
    return [
      { dataLayer: "areas", symbolizer: new P.PolygonSymbolizer({
        fill: function (z, f) { return entry.spec.fill(f.props.i); },
        opacity: function (z, f) { return entry.spec.opacity === undefined ? 0.8 : entry.spec.opacity; },
      }) },
      // Outlines from zoom 8 (a county on screen): below it they are hairlines that only darken the map, and
      // stroking 35,000 of them doubled the time of every repaint (bench/bench_places.py).
      { dataLayer: "areas", minzoom: OUTLINE_ZOOM, symbolizer: new P.LineSymbolizer({ color: "#4d4d4d",
        opacity: 0.6, width: function (z) { return lineWidth(z); } }) },
      { dataLayer: "areas", filter: function (z, f) { return entry.selected[f.props.i] === true; },
        symbolizer: new P.LineSymbolizer({ color: "#000000", width: 3 }) },
    ];
  }

  function selectedSet(list) {
    var out = {};
    (list || []).forEach(function (i) { if (i >= 0) { out[i] = true; } });
    return out;
  }

  function rerender(layer) {
    // protomaps' own rerenderTiles() gives no signal when done: render each held tile, and wait for all.
    var jobs = [];
    Object.keys(layer._tiles || {}).forEach(function (k) {
      var coords = layer._wrapCoords(layer._keyToTileCoords(k));
      jobs.push(Promise.resolve(layer.renderTile(coords, layer._tiles[k].el, layer._tileCoordsToKey(coords))));
    });
    return Promise.all(jobs);
  }

  function pick(id, latlng) {
    var entry = held[id];
    if (!entry || !entry.layer._map) {
      return -1;
    }
    var found = entry.layer.queryTileFeaturesDebug(latlng.lng, latlng.lat, 1);
    var list = found && found.get ? found.get("") || [] : [];
    for (var n = 0; n < list.length; n += 1) {
      var props = list[n].feature && list[n].feature.props;
      if (props && typeof props.i === "number") {
        return props.i;
      }
    }
    return -1;
  }

  function events(id, map, entry) {
    var pending = null;
    entry.onMove = function (e) {
      pending = e.latlng;
      if (entry.frame) {
        return;
      }
      entry.frame = window.requestAnimationFrame(function () {
        entry.frame = null;
        var i = pick(id, pending);
        if (entry.spec.onHover) {
          entry.spec.onHover(i, pending);
        }
      });
    };
    entry.onOut = function () {
      if (entry.spec.onHover) {
        entry.spec.onHover(-1, null);
      }
    };
    entry.onClick = function (e) {
      var i = pick(id, e.latlng);
      if (i >= 0 && entry.spec.onClick) {
        entry.spec.onClick(i, e.latlng);
      }
    };
    map.on("mousemove", entry.onMove);
    map.on("mouseout", entry.onOut);
    map.on("click", entry.onClick);
  }

  function clear(id) {
    var entry = held[id];
    if (!entry) {
      return;
    }
    var map = entry.layer._map;
    if (map) {
      map.off("mousemove", entry.onMove);
      map.off("mouseout", entry.onOut);
      map.off("click", entry.onClick);
      map.removeLayer(entry.layer);
    }
    delete held[id];
  }

  function paint(id, spec, tries) {
    // Draw the tiles of spec.url on map ``id`` (created on first use), or repaint them in place. Returns a
    // promise resolved once every tile on screen shows the new paint (null when the map is not there yet:
    // it is tried again on the next frames).
    var map = mapOf(id);
    if (!map || !window.protomapsL) {
      tries = tries || 0;
      if (tries < 300) {
        return new Promise(function (resolve) {
          window.requestAnimationFrame(function () { resolve(paint(id, spec, tries + 1)); });
        });
      }
      return Promise.resolve(false);
    }
    var entry = held[id];
    if (entry && entry.url === spec.url && entry.layer._map === map) {
      entry.spec = spec;
      entry.selected = selectedSet(spec.selected);
      return rerender(entry.layer).then(function () { return true; });
    }
    clear(id);
    entry = { url: spec.url, spec: spec, selected: selectedSet(spec.selected) };
    entry.layer = window.protomapsL.leafletLayer({
      url: spec.url, maxDataZoom: MAX_DATA_ZOOM, paintRules: rules(entry), labelRules: [], attribution: "",
      tileDelay: 1,
    });
    held[id] = entry;
    return new Promise(function (resolve) {
      entry.layer.once("load", function () { resolve(true); });
      entry.layer.addTo(map);
      events(id, map, entry);
    });
  }

  window.atlas = Object.assign({}, window.atlas, {
    tiles: {
      paint: paint,
      clear: clear,
      pick: pick,
      map: mapOf,
      held: function (id) { return held[id] || null; },
    },
  });
})();
