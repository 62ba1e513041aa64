// The England and Wales map's tile painter, run in a Web Worker (built by `npm run build` into
// assets/vendor/tiles.worker.js, not committed; started by assets/tiles.js).
//
// Protomaps-leaflet decoded and drew every vector tile on the page's main thread: at country zoom one tile holds
// thousands of LSOAs, and each took 110-157 ms, so zooming from country to street stuttered (bench_places.py).
// Here the same work runs off the main thread: this worker fetches a tile (the browser's HTTP cache applies),
// decodes it with @mapbox/vector-tile and pbf, keeps each area's outline as a Path2D, and draws the tile on an
// OffscreenCanvas; the page receives an ImageBitmap and shows it without copying (a "bitmaprenderer" canvas).
// A variable switch sends only the new colours (one palette index per area, by position ``i``), and the tiles
// already decoded are drawn again from their kept paths, with no request.
//
// Messages in:  {type: "style", layer, version, palette: [css colour], index: Uint8Array (palette index per
//                area; 255 = no fill), opacity, selected: [i], outlineZoom}      {type: "unstyle", layer}
//               {type: "draw", id, layer, url, key, size, sub: {d, x, y}, zoom, ratio}
//               {type: "cancel", id}     {type: "pick", id, key, x, y (0-1 within the tile)}     {type: "stats", id}
// Messages out: {type: "drawn", id, version, bitmap} | {type: "failed", id, error} | {type: "picked", id, i}
//               | {type: "stats", id, fetched, drawn, drawMs, decodeMs} (this worker's tiles so far)
import { VectorTile } from "@mapbox/vector-tile";
import Pbf from "pbf";

const LAYER = "areas";
const KEEP = 48; // decoded tiles kept (a screen at any zoom holds fewer than 20)

const styles = new Map(); // layer (the map's id: a page may hold several maps of the same tiles) -> its style
const NO_STYLE = { version: 0, palette: [], index: new Uint8Array(0), opacity: 0.8, selected: new Set(), outlineZoom: 8 };
const decoded = new Map(); // data tile key -> Promise of {extent, features: [{i, path, box}], all: Path2D}
const pending = new Set(); // draw ids still wanted
let probe = null; // a 1x1 context for isPointInPath
const counts = { fetched: 0, drawn: 0, drawMs: 0, decodeMs: 0 }; // for the tests and bench_places.py

function lineWidth(z) {
  return z < 9 ? 0.25 : z < 11 ? 0.5 : 0.8;
}

function decode(buffer) {
  const tile = new VectorTile(new Pbf(new Uint8Array(buffer)));
  const layer = tile.layers[LAYER];
  const features = [];
  const all = new Path2D();
  let extent = 4096;
  if (layer) {
    extent = layer.extent || 4096;
    for (let n = 0; n < layer.length; n += 1) {
      const feature = layer.feature(n);
      const i = feature.properties.i;
      if (feature.type !== 3 || typeof i !== "number") {
        continue;
      }
      const path = new Path2D();
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (const ring of feature.loadGeometry()) {
        for (let k = 0; k < ring.length; k += 1) {
          const p = ring[k];
          if (k === 0) {
            path.moveTo(p.x, p.y);
          } else {
            path.lineTo(p.x, p.y);
          }
          if (p.x < x0) x0 = p.x;
          if (p.x > x1) x1 = p.x;
          if (p.y < y0) y0 = p.y;
          if (p.y > y1) y1 = p.y;
        }
        path.closePath();
      }
      features.push({ i, path, box: [x0, y0, x1, y1] });
      all.addPath(path);
    }
  }
  return { extent, features, all };
}

function load(key, url) {
  let entry = decoded.get(key);
  if (entry) {
    decoded.delete(key); // most recently used last
    decoded.set(key, entry);
    return entry;
  }
  counts.fetched += 1;
  entry = fetch(url, { credentials: "same-origin" }).then((response) => {
    if (response.status === 204) {
      return new ArrayBuffer(0); // no area in this tile (the sea)
    }
    if (!response.ok) {
      throw new Error("tile " + key + ": HTTP " + response.status);
    }
    return response.arrayBuffer();
  }).then((buffer) => {
    const t0 = performance.now();
    const tile = decode(buffer);
    counts.decodeMs += performance.now() - t0;
    return tile;
  });
  entry.catch(() => decoded.delete(key)); // asked again next time
  decoded.set(key, entry);
  while (decoded.size > KEEP) {
    decoded.delete(decoded.keys().next().value);
  }
  return entry;
}

function draw(tile, job) {
  const style = styles.get(job.layer) || NO_STYLE;
  // The display tile ``job`` from the decoded data tile ``tile``: the whole tile, or for zooms deeper than the
  // tiles' own (job.sub.d > 0) the square (sub.x, sub.y) of side extent / 2^d, drawn again from the paths so
  // that lines stay sharp.
  const size = job.size;
  const canvas = new OffscreenCanvas(size, size);
  const ctx = canvas.getContext("2d");
  const side = tile.extent / Math.pow(2, job.sub.d);
  const ox = job.sub.x * side, oy = job.sub.y * side;
  const k = size / side;
  ctx.setTransform(k, 0, 0, k, -ox * k, -oy * k);
  const margin = side * 0.02;
  const within = job.sub.d === 0 ? null : [ox - margin, oy - margin, ox + side + margin, oy + side + margin];
  const visible = within ? tile.features.filter((f) => f.box[2] >= within[0] && f.box[0] <= within[2] &&
    f.box[3] >= within[1] && f.box[1] <= within[3]) : tile.features;
  // Fill: one colour at a time (setting fillStyle parses a colour, so it is set once per class).
  const buckets = style.palette.map(() => []);
  for (const f of visible) {
    const c = f.i < style.index.length ? style.index[f.i] : 255;
    if (c < buckets.length) {
      buckets[c].push(f);
    }
  }
  ctx.globalAlpha = style.opacity;
  // An area smaller than a pixel or two on screen (most LSOAs at country zoom: a pixel is 1.5 km there) is
  // filled as its box: the same few pixels, for a fraction of the cost of its path.
  const small = 2 / k;
  buckets.forEach((features, c) => {
    if (features.length) {
      ctx.fillStyle = style.palette[c];
      for (const f of features) {
        const b = f.box;
        if (b[2] - b[0] < small && b[3] - b[1] < small) {
          ctx.fillRect(b[0], b[1], b[2] - b[0], b[3] - b[1]);
        } else {
          ctx.fill(f.path);
        }
      }
    }
  });
  // Outlines from zoom 8 (a county on screen): below it they are hairlines that only darken the map.
  if (job.zoom >= style.outlineZoom) {
    ctx.globalAlpha = 0.6;
    ctx.strokeStyle = "#4d4d4d";
    ctx.lineWidth = lineWidth(job.zoom) * job.ratio / k;
    ctx.stroke(tile.all);
  }
  if (style.selected.size) {
    // The selected area in a style no boundary uses (as assets/atlas.js draws it on a district's map): a white
    // casing under a dashed near-black line.
    ctx.globalAlpha = 1;
    for (const f of visible) {
      if (style.selected.has(f.i)) {
        ctx.setLineDash([]);
        ctx.strokeStyle = "#ffffff";
        ctx.lineWidth = 7 * job.ratio / k;
        ctx.stroke(f.path);
        ctx.setLineDash([9 * job.ratio / k, 6 * job.ratio / k]);
        ctx.strokeStyle = "#111111";
        ctx.lineWidth = 3 * job.ratio / k;
        ctx.stroke(f.path);
      }
    }
    ctx.setLineDash([]);
  }
  return canvas.transferToImageBitmap();
}

function pick(tile, x, y) {
  if (!probe) {
    probe = new OffscreenCanvas(1, 1).getContext("2d");
  }
  for (const f of tile.features) {
    const b = f.box;
    if (x >= b[0] && x <= b[2] && y >= b[1] && y <= b[3] && probe.isPointInPath(f.path, x, y)) {
      return f.i;
    }
  }
  return -1;
}

self.onmessage = (event) => {
  const m = event.data;
  if (m.type === "style") {
    styles.set(m.layer, { version: m.version, palette: m.palette, index: m.index, opacity: m.opacity,
                          selected: new Set(m.selected || []), outlineZoom: m.outlineZoom });
  } else if (m.type === "draw") {
    pending.add(m.id);
    load(m.key, m.url).then((tile) => {
      if (!pending.has(m.id)) {
        return; // the tile left the screen
      }
      pending.delete(m.id);
      const t0 = performance.now();
      const bitmap = draw(tile, m);
      counts.drawMs += performance.now() - t0;
      counts.drawn += 1;
      const version = (styles.get(m.layer) || NO_STYLE).version;
      self.postMessage({ type: "drawn", id: m.id, version, bitmap }, [bitmap]);
    }).catch((error) => {
      if (pending.delete(m.id)) {
        self.postMessage({ type: "failed", id: m.id, error: String(error && error.message || error) });
      }
    });
  } else if (m.type === "cancel") {
    pending.delete(m.id); // its fetch, shared by any other request for the same tile, runs on and is kept
  } else if (m.type === "pick") {
    const entry = decoded.get(m.key);
    (entry || Promise.resolve(null)).then((tile) => {
      const i = tile ? pick(tile, m.x * tile.extent, m.y * tile.extent) : -1;
      self.postMessage({ type: "picked", id: m.id, i });
    }, () => self.postMessage({ type: "picked", id: m.id, i: -1 }));
  } else if (m.type === "unstyle") {
    styles.delete(m.layer); // the map's layer was removed
  } else if (m.type === "stats") {
    self.postMessage(Object.assign({ type: "stats", id: m.id }, counts));
  }
};
