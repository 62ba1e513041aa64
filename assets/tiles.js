/*
 * Neighbourhood Atlas: the vector-tile choropleth, for England and Wales at a small-area level (34,753 LSOAs).
 *
 * Leaflet redrawing 35,000 canvas polygons took 1.8 s to load and 1.0 s to restyle here, and every pan
 * redrew them all; ONS's census maps draw every small area from vector tiles instead. So does this: the
 * pipeline builds tiles with tippecanoe (tiles/<level>.pmtiles, served by /api/tiles/<level>/{z}/{x}/{y}.mvt
 * with the build's version, cached a year), and they are drawn as a Leaflet GridLayer inside dash-leaflet's
 * own map: one map stack. Only the tiles on screen are fetched; a switch repaints the tiles already held from
 * the same class digits the district maps use (one per area, in code order: each feature carries its
 * position ``i``), with no request for geometry.
 *
 * Decoding and drawing a tile happen off the page's main thread, in Web Workers (js/tiles-worker.js, built
 * into assets/vendor/tiles.worker.js by `npm run build` in js/): drawn by protomaps-leaflet on the main thread,
 * each country-zoom tile blocked the page for 110-157 ms and zooming from country to street stuttered. Here
 * the page only hands each worker a tile's address and shows the ImageBitmap it returns (a "bitmaprenderer"
 * canvas: no copy). Tiles of 512 px (the data tile of zoom z-1, as tippecanoe's 256-px zooms count); zooms
 * deeper than the tiles' own (10) are drawn again from the level-10 paths, so lines stay sharp; zooms below
 * the first (4) show Leaflet's scaled zoom-5 tiles.
 *
 * window.atlas.tiles: paint(mapId, spec) draws or repaints; clear(mapId) removes; pick(mapId, latlng) finds
 * the feature under a point (a promise of its position, or -1); stats() the tiles the workers fetched and
 * drew. ``spec``: {url, n, fill(i) -> colour, opacity,
 * selected: [i...], onHover(i, latlng), onClick(i)}. It decides nothing: colours, names and figures come from
 * the page's scripts (atlas.js).
 */
(function () {
  "use strict";

  var maps = {}; // container id -> Leaflet map (caught as dash-leaflet creates it)
  var held = {}; // container id -> {id, layer, url, spec, version, onMove, onOut, onClick}; each map its own
  // style in the workers (the compare view draws three maps of the same tiles)
  var MIN_DATA_ZOOM = 4; // pipeline/tiles.py MIN_ZOOM and MAX_ZOOM
  var MAX_DATA_ZOOM = 10;
  var TILE = 512;
  var OUTLINE_ZOOM = 8;
  var NO_FILL = 255;
  var script = document.currentScript;
  var WORKER_URL = new URL("vendor/tiles.worker.js", script && script.src ? script.src : window.location.href).href;

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

  function supported() {
    return typeof window.Worker === "function" && typeof window.OffscreenCanvas === "function" &&
      typeof window.createImageBitmap === "function";
  }

  // -- the workers: one tile always goes to the same worker, which keeps its decoded paths ---------------------

  var pool = null;
  var nextId = 1;
  var waiting = {}; // message id -> callback(message)
  var styleVersion = 0;

  function workers() {
    if (!pool) {
      var count = Math.max(2, Math.min(4, (navigator.hardwareConcurrency || 2) - 1));
      pool = [];
      for (var n = 0; n < count; n += 1) {
        var w = new Worker(WORKER_URL);
        w.onmessage = function (e) {
          var cb = waiting[e.data.id];
          if (cb) {
            delete waiting[e.data.id];
            cb(e.data);
          }
        };
        pool.push(w);
      }
    }
    return pool;
  }

  function workerFor(key) {
    // By the data tile's column and row, as a checkerboard: the tiles on screen, neighbours all, are shared
    // evenly between the workers (a hash of the key gave one worker 4 of 6 at country zoom), and a tile
    // always goes to the worker that keeps its decoded paths.
    var list = workers();
    var parts = key.split("/");
    return list[(Number(parts[1]) + Number(parts[2])) % list.length];
  }

  function send(worker, message, transfer, cb) {
    var id = nextId;
    nextId += 1;
    message.id = id;
    if (cb) {
      waiting[id] = cb;
    }
    worker.postMessage(message, transfer || []);
    return id;
  }

  function styleMessage(entry) {
    // Colours by position: a palette of the distinct colours and one palette index per area.
    var spec = entry.spec;
    var n = spec.n || 0;
    var palette = [], seen = {};
    var index = new Uint8Array(n);
    for (var i = 0; i < n; i += 1) {
      var c = spec.fill(i);
      if (!c) {
        index[i] = NO_FILL;
        continue;
      }
      if (seen[c] === undefined) {
        seen[c] = palette.length < NO_FILL ? palette.length : NO_FILL;
        if (seen[c] !== NO_FILL) {
          palette.push(c);
        }
      }
      index[i] = seen[c];
    }
    styleVersion += 1;
    return { type: "style", layer: entry.id, version: styleVersion, palette: palette, index: index,
             opacity: spec.opacity === undefined || spec.opacity === null ? 0.8 : spec.opacity,
             selected: (spec.selected || []).filter(function (i) { return i >= 0; }), outlineZoom: OUTLINE_ZOOM };
  }

  function restyle(entry) {
    var message = styleMessage(entry);
    workers().forEach(function (w) { w.postMessage(message); });
    entry.version = message.version;
    return message.version;
  }

  // -- tile addresses ------------------------------------------------------------------------------------------

  function dataTile(z, x, y) {
    // The data tile behind display tile (z, x, y) of TILE px: tippecanoe's tile of zoom z-1, or for deeper
    // zooms the level-10 tile holding it and which square of it (sub) to draw.
    var zoom = z - 1;
    var d = Math.max(0, zoom - MAX_DATA_ZOOM);
    var dz = zoom - d;
    var f = Math.pow(2, d);
    var tx = Math.floor(x / f), ty = Math.floor(y / f);
    return { z: dz, x: tx, y: ty, key: dz + "/" + tx + "/" + ty, sub: { d: d, x: x - tx * f, y: y - ty * f } };
  }

  function tileUrl(template, t) {
    return template.replace("{z}", t.z).replace("{x}", t.x).replace("{y}", t.y);
  }

  var Layer = null;

  function layerClass() {
    if (Layer) {
      return Layer;
    }
    Layer = window.L.GridLayer.extend({
      options: { tileSize: TILE, minNativeZoom: MIN_DATA_ZOOM + 1, updateWhenZooming: false, keepBuffer: 1 },

      createTile: function (coords, done) {
        var layer = this;
        var ratio = Math.min(2, window.devicePixelRatio || 1);
        var canvas = document.createElement("canvas");
        canvas.width = canvas.height = Math.round(TILE * ratio);
        canvas.style.width = canvas.style.height = TILE + "px";
        var t = dataTile(coords.z, coords.x, coords.y);
        canvas._atlas = { coords: coords, t: t, ratio: ratio, version: 0, done: done, job: 0 };
        layer._drawTile(canvas);
        return canvas;
      },

      _drawTile: function (canvas, then) {
        var entry = this._atlas;
        var info = canvas._atlas;
        var t = info.t;
        var url = tileUrl(entry.url, t);
        if (info.job) {
          delete waiting[info.job]; // a newer drawing of the same tile replaces it
        }
        var job = { type: "draw", layer: entry.id, url: url, key: t.key, size: canvas.width, sub: t.sub,
                    zoom: info.coords.z, ratio: info.ratio };
        info.job = send(workerFor(t.key), job, null, function (m) {
          info.job = 0;
          if (m.type === "drawn") {
            canvas.getContext("bitmaprenderer").transferFromImageBitmap(m.bitmap);
            info.version = m.version;
          }
          if (info.done) {
            var done = info.done;
            info.done = null;
            done(m.type === "drawn" ? null : new Error(m.error), canvas);
          }
          if (then) {
            then();
          }
        });
      },

      _repaint: function (version) {
        // Draw every tile held again with the style of ``version``; resolves once all show it. A tile still
        // on its way is drawn with the newest style when it arrives.
        var layer = this;
        var jobs = [];
        Object.keys(layer._tiles || {}).forEach(function (k) {
          var canvas = layer._tiles[k].el;
          var info = canvas && canvas._atlas;
          if (!info) {
            return;
          }
          if (info.done) {
            // Its first drawing is on its way: it may have been drawn just before the new style reached the
            // worker, so it is drawn again if it came back older.
            jobs.push(new Promise(function (resolve) {
              var done = info.done;
              info.done = function (err, el) {
                done(err, el);
                if (!err && info.version < version && layer._map) {
                  layer._drawTile(canvas, resolve);
                } else {
                  resolve();
                }
              };
            }));
          } else if (info.version < version) {
            jobs.push(new Promise(function (resolve) { layer._drawTile(canvas, resolve); }));
          }
        });
        return Promise.all(jobs);
      },
    });
    return Layer;
  }

  function forget(e) {
    var info = e.tile && e.tile._atlas;
    if (info && info.job) {
      delete waiting[info.job];
      workerFor(info.t.key).postMessage({ type: "cancel", id: info.job });
      info.job = 0;
    }
  }

  // -- what is under the pointer --------------------------------------------------------------------------------

  function pick(id, latlng) {
    var entry = held[id];
    var map = entry && entry.layer._map;
    if (!map || !latlng) {
      return Promise.resolve(-1);
    }
    var z = Math.max(MIN_DATA_ZOOM + 1, Math.round(map.getZoom()));
    var p = map.project(latlng, z);
    var t = dataTile(z, Math.floor(p.x / TILE), Math.floor(p.y / TILE));
    var span = TILE * Math.pow(2, t.sub.d); // the data tile's width in pixels at zoom z
    var x = p.x / span - t.x, y = p.y / span - t.y; // where in the data tile, 0-1
    return new Promise(function (resolve) {
      send(workerFor(t.key), { type: "pick", key: t.key, x: x, y: y }, null, function (m) { resolve(m.i); });
    });
  }

  function events(id, map, entry) {
    var pending = null, asked = 0;
    entry.onMove = function (e) {
      pending = e.latlng;
      if (entry.frame) {
        return;
      }
      entry.frame = window.requestAnimationFrame(function () {
        entry.frame = null;
        var at = pending;
        asked += 1;
        var mine = asked;
        pick(id, at).then(function (i) {
          if (mine === asked && held[id] === entry && entry.spec.onHover) {
            entry.spec.onHover(i, at); // only the latest question is answered
          }
        });
      });
    };
    entry.onOut = function () {
      asked += 1;
      if (entry.spec.onHover) {
        entry.spec.onHover(-1, null);
      }
    };
    entry.onClick = function (e) {
      pick(id, e.latlng).then(function (i) {
        if (i >= 0 && held[id] === entry && entry.spec.onClick) {
          entry.spec.onClick(i, e.latlng);
        }
      });
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
    if (pool) {
      pool.forEach(function (w) { w.postMessage({ type: "unstyle", layer: id }); });
    }
    delete held[id];
  }

  function notice(map, why) {
    // No worker drawing in this browser (before 2023: Safari 16.3, Firefox 104), or workers refused: say so
    // on the map.
    if (map._atlasNotice) {
      return;
    }
    var box = window.L.control({ position: "topright" });
    box.onAdd = function () {
      var div = window.L.DomUtil.create("div", "atlas-notice");
      div.setAttribute("role", "status");
      div.textContent = (why || "This map of every small area of England and Wales needs a browser from 2023 " +
        "or later (OffscreenCanvas in workers).") + " Choose one authority or a region to see its map here.";
      return div;
    };
    box.addTo(map);
    map._atlasNotice = box;
  }

  function paint(id, spec, tries) {
    // Draw the tiles of spec.url on map ``id`` (created on first use), or repaint them in place. Returns a
    // promise resolved once every tile on screen shows the new paint (null when the map is not there yet:
    // it is tried again on the next frames).
    var map = mapOf(id);
    if (!map || !window.L || !window.L.GridLayer) {
      tries = tries || 0;
      if (tries < 300) {
        return new Promise(function (resolve) {
          window.requestAnimationFrame(function () { resolve(paint(id, spec, tries + 1)); });
        });
      }
      return Promise.resolve(false);
    }
    if (!supported()) {
      notice(map);
      return Promise.resolve(false);
    }
    var entry = held[id];
    if (entry && entry.url === spec.url && entry.layer._map === map) {
      entry.spec = spec;
      return entry.layer._repaint(restyle(entry)).then(function () { return true; });
    }
    clear(id);
    entry = { id: id, url: spec.url, spec: spec };
    try {
      restyle(entry); // starts the workers on first use
    } catch (err) {
      // A worker the browser refuses to start (a page's policy, a blocked script): said on the map.
      notice(map, "The map's drawing workers could not start (" + String(err && err.message || err) + ").");
      return Promise.resolve(false);
    }
    var Cls = layerClass();
    entry.layer = new Cls({ maxZoom: map.getMaxZoom() || 20 });
    entry.layer._atlas = entry;
    entry.layer.on("tileunload", forget);
    held[id] = entry;
    return new Promise(function (resolve) {
      entry.layer.once("load", function () { resolve(true); });
      entry.layer.addTo(map);
      events(id, map, entry);
    });
  }

  function stats() {
    // Tiles fetched and drawn by the workers so far, and the milliseconds spent decoding and drawing them
    // (their requests are in the workers' own Resource Timing, not the page's): for tests and bench_places.py.
    if (!pool) {
      return Promise.resolve({ fetched: 0, drawn: 0, drawMs: 0, decodeMs: 0, workers: 0 });
    }
    return Promise.all(pool.map(function (w) {
      return new Promise(function (resolve) { send(w, { type: "stats" }, null, resolve); });
    })).then(function (list) {
      var sum = { fetched: 0, drawn: 0, drawMs: 0, decodeMs: 0, workers: list.length };
      list.forEach(function (m) {
        ["fetched", "drawn", "drawMs", "decodeMs"].forEach(function (k) { sum[k] += m[k]; });
      });
      return sum;
    });
  }

  window.atlas = Object.assign({}, window.atlas, {
    tiles: {
      stats: stats,
      paint: paint,
      clear: clear,
      pick: pick,
      map: mapOf,
      held: function (id) { return held[id] || null; },
    },
  });
})();
