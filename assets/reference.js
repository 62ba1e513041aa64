/*
 * Neighbourhood Atlas: the reference layer. With no basemap (no tiles can be fetched on many hosts: DESIGN.md)
 * a choropleth alone says nothing of where things are, so the map carries its own names and boundaries, all
 * from the atlas's data: every district's boundary, the wards of the district (or place) on show, and the names
 * of districts, cities, towns, suburbs, villages, hamlets and wards (GET /api/labels/<band>.json: the ONS label
 * points and OS Open Names' places; where the gazetteer has no places, wards are named from zoom 11).
 *
 * Names are placed here, on one canvas over the map, after each move: by zoom (each kind has its range: a
 * district's name gives way to towns and wards close up) and so that none collide (the more important kind
 * claims its space first: district, city, town, suburb, village, ward, hamlet). Each is drawn near-black with a
 * white halo, which reads over every palette. The boundaries are dash-leaflet layers (layers/reference.py)
 * whose URLs are set here once the first map is drawn, so they never delay it.
 *
 * A button on the map ("Names and boundaries", aria-pressed) shows or hides the whole layer: on by default
 * unless the site has a basemap (ATLAS_TILES_URL: the map's container has the class has-basemap).
 */
(function () {
  "use strict";

  var STYLE = {
    a: { size: 13, weight: 700, colour: "#1a1a1a", upper: true },
    c: { size: 15, weight: 700, colour: "#111111" },
    t: { size: 13, weight: 700, colour: "#111111" },
    s: { size: 12, weight: 600, colour: "#1a1a1a" },
    v: { size: 12, weight: 600, colour: "#1a1a1a" },
    w: { size: 11, weight: 500, colour: "#262626", italic: true },
    h: { size: 11, weight: 500, colour: "#262626" },
    o: { size: 11, weight: 500, colour: "#262626" },
  };
  var ORDER = "actsvwho";
  var LOCAL_ZOOM = 11; // the local band (suburbs, villages, wards, hamlets) is read from here
  var WARD_ZOOM = 11; // ward boundaries from here
  var MAX_LABELS = 400;
  var bands = {}; // band -> {kinds, rows}
  var asked = {};
  var state = null; // {map, on, labels, control, build}

  function I() {
    return window.atlas.ids;
  }

  function buildOf(h) {
    var url = h && h.p && h.p.url ? String(h.p.url) : "";
    var m = /[?&]v=([^&]+)/.exec(url);
    return m ? decodeURIComponent(m[1]) : null;
  }

  function load(band) {
    if (asked[band] || !state || !state.build) {
      return;
    }
    asked[band] = true;
    fetch("/api/labels/" + band + ".json?v=" + encodeURIComponent(state.build), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (got) {
        if (got && got.rows) {
          bands[band] = got;
          if (state && state.labels) {
            state.labels.redraw();
          }
        }
      })
      .catch(function () { asked[band] = false; });
  }

  // -- the names: one canvas over the map, redrawn after each move ---------------------------------------------

  var widths = {};

  function font(st) {
    return (st.italic ? "italic " : "") + st.weight + " " + st.size + "px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  }

  function Labels() {
    return window.L.Layer.extend({
      onAdd: function (map) {
        this._map = map;
        if (!map.getPane("labels")) {
          var pane = map.createPane("labels");
          pane.style.zIndex = 470;
          pane.style.pointerEvents = "none";
        }
        this._canvas = window.L.DomUtil.create("canvas", "atlas-labels leaflet-zoom-hide");
        this._canvas.setAttribute("aria-hidden", "true");
        map.getPane("labels").appendChild(this._canvas);
        map.on("moveend zoomend resize viewreset", this.redraw, this);
        this.redraw();
      },
      onRemove: function (map) {
        map.off("moveend zoomend resize viewreset", this.redraw, this);
        if (this._canvas && this._canvas.parentNode) {
          this._canvas.parentNode.removeChild(this._canvas);
        }
        this._canvas = null;
      },
      redraw: function () {
        var map = this._map;
        var canvas = this._canvas;
        if (!map || !canvas || !map._loaded) {
          return;
        }
        var size = map.getSize();
        var ratio = window.devicePixelRatio || 1;
        canvas.width = Math.round(size.x * ratio);
        canvas.height = Math.round(size.y * ratio);
        canvas.style.width = size.x + "px";
        canvas.style.height = size.y + "px";
        window.L.DomUtil.setPosition(canvas, map.containerPointToLayerPoint([0, 0]));
        var ctx = canvas.getContext("2d");
        ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
        ctx.clearRect(0, 0, size.x, size.y);
        place(ctx, map, size);
      },
    });
  }

  function candidates(map, size) {
    var z = Math.round(map.getZoom());
    var bounds = map.getBounds().pad(0.05);
    var out = [];
    Object.keys(bands).forEach(function (band) {
      var kinds = bands[band].kinds;
      bands[band].rows.forEach(function (r) {
        var range = kinds[r[1]];
        if (!range || z < r[4] || z > range[1]) {
          return;
        }
        if (r[3] < bounds.getSouth() || r[3] > bounds.getNorth() || r[2] < bounds.getWest() || r[2] > bounds.getEast()) {
          return;
        }
        out.push(r);
      });
    });
    out.sort(function (a, b) { return ORDER.indexOf(a[1]) - ORDER.indexOf(b[1]); });
    return out;
  }

  function place(ctx, map, size) {
    var taken = []; // boxes [x0, y0, x1, y1] of the names drawn
    var drawn = 0;
    candidates(map, size).some(function (r) {
      var st = STYLE[r[1]] || STYLE.o;
      var text = st.upper ? r[0].toUpperCase() : r[0];
      ctx.font = font(st);
      var key = r[1] + "|" + text;
      var w = widths[key];
      if (w === undefined) {
        w = widths[key] = ctx.measureText(text).width + (st.upper ? text.length * 0.8 : 0);
      }
      var p = map.latLngToContainerPoint([r[3], r[2]]);
      var box = [p.x - w / 2 - 3, p.y - st.size / 2 - 3, p.x + w / 2 + 3, p.y + st.size / 2 + 3];
      if (box[0] < 0 || box[1] < 0 || box[2] > size.x || box[3] > size.y) {
        return false;
      }
      for (var i = 0; i < taken.length; i += 1) {
        var t = taken[i];
        if (box[0] < t[2] && box[2] > t[0] && box[1] < t[3] && box[3] > t[1]) {
          return false;
        }
      }
      taken.push(box);
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      if (st.upper && ctx.letterSpacing !== undefined) {
        ctx.letterSpacing = "0.8px";
      }
      ctx.lineJoin = "round";
      ctx.lineWidth = 3.5;
      ctx.strokeStyle = "rgba(255,255,255,0.92)";
      ctx.strokeText(text, p.x, p.y);
      ctx.fillStyle = st.colour;
      ctx.fillText(text, p.x, p.y);
      if (ctx.letterSpacing !== undefined) {
        ctx.letterSpacing = "0px";
      }
      drawn += 1;
      return drawn >= MAX_LABELS;
    });
    state.placed = drawn;
  }

  // -- the boundaries: dash-leaflet layers whose URLs are set here -----------------------------------------------

  function wardsOf(h) {
    // The wards of the district or place on show (a district, region, Wales or combined authority): not for
    // England and Wales as a whole (7,665 wards, 3 MB), whose districts' lines are drawn.
    var key = h && h.p && h.p.key ? String(h.p.key) : "";
    var authority = key.split("/")[0];
    return /^(E0[6-9]|W06|E12|E47|W92)[0-9]{6}$/.test(authority) ? authority : null;
  }

  function setUrls(h) {
    if (!state || !state.on || !state.build || !window.dash_clientside || !window.dash_clientside.set_props) {
      return;
    }
    // The national overview draws the districts themselves, their borders included: no second copy of them.
    var key = h && h.p && h.p.key ? String(h.p.key) : "";
    var districts = /\/lad$/.test(key) ? null : "/api/areas/all/lad.pbf?v=" + encodeURIComponent(state.build);
    if (state.districts !== districts) {
      state.districts = districts;
      window.dash_clientside.set_props(I().REF_DISTRICTS, { url: districts });
    }
    var authority = wardsOf(h);
    var wards = authority ? "/api/areas/" + authority + "/ward22.pbf?v=" + encodeURIComponent(state.build) : null;
    if (state.wards !== wards) {
      state.wards = wards;
      window.dash_clientside.set_props(I().REF_WARDS, { url: wards });
    }
  }

  function showPanes() {
    var map = state && state.map;
    if (!map) {
      return;
    }
    var wardsPane = map.getPane("reference-wards");
    var districtsPane = map.getPane("reference");
    if (wardsPane) {
      wardsPane.style.display = state.on && map.getZoom() >= WARD_ZOOM ? "" : "none";
    }
    if (districtsPane) {
      districtsPane.style.display = state.on ? "" : "none";
    }
    if (state.on && map.getZoom() >= LOCAL_ZOOM) {
      load("local");
    }
  }

  function setOn(on) {
    if (!state) {
      return;
    }
    state.on = on;
    if (state.button) {
      state.button.setAttribute("aria-pressed", on ? "true" : "false");
    }
    if (on) {
      state.labels.addTo(state.map);
      load("main");
      setUrls(window.atlas._latest);
    } else if (state.labels._map) {
      state.map.removeLayer(state.labels);
    }
    showPanes();
  }

  function control(map) {
    var Toggle = window.L.Control.extend({
      options: { position: "topright" },
      onAdd: function () {
        var button = window.L.DomUtil.create("button", "atlas-reference-toggle");
        button.type = "button";
        button.textContent = "Names and boundaries";
        button.title = "Show or hide the names of places and the boundaries of districts and wards";
        button.setAttribute("aria-pressed", "false");
        window.L.DomEvent.disableClickPropagation(button);
        window.L.DomEvent.on(button, "click", function () { setOn(!state.on); });
        state.button = button;
        return button;
      },
    });
    return new Toggle().addTo(map);
  }

  window.addEventListener("atlas:map", function (e) {
    if (!e.detail || e.detail.id !== I().MAP || !window.L) {
      return;
    }
    var map = e.detail.map;
    var container = map.getContainer();
    state = { map: map, on: false, labels: new (Labels())(), build: null, districts: null, wards: null,
              placed: 0, wanted: !container.classList.contains("has-basemap") };
    if (!container.closest(".atlas-embed")) {
      control(map); // an embedded map is small and another site's: its layer stays as the site set it
    }
    map.on("zoomend", showPanes);
    showPanes();
  });

  window.addEventListener("atlas:styled", function () {
    if (!state) {
      return;
    }
    var h = window.atlas._latest;
    state.build = state.build || buildOf(h);
    if (state.wanted) {
      // The first map is drawn: the layer comes now, after it (never delaying it).
      state.wanted = false;
      var start = function () { setOn(true); };
      if (window.requestIdleCallback) {
        window.requestIdleCallback(start, { timeout: 1500 });
      } else {
        window.setTimeout(start, 200);
      }
      return;
    }
    setUrls(h);
  });

  window.atlas = Object.assign({}, window.atlas, {
    reference: {
      on: function () { return !!(state && state.on); },
      set: setOn,
      placed: function () { return state ? state.placed : 0; },
    },
  });
})();
