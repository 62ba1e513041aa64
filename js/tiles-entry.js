// The vector-tile layer of the England and Wales maps: protomaps-leaflet, built by `npm run build` into
// assets/vendor/protomaps-leaflet.js (not committed). It draws on the Leaflet that dash-leaflet loaded
// (window.L) and is exposed as window.protomapsL for assets/tiles.js.
import { leafletLayer, PolygonSymbolizer, LineSymbolizer } from "protomaps-leaflet";

window.protomapsL = { leafletLayer: leafletLayer, PolygonSymbolizer: PolygonSymbolizer, LineSymbolizer: LineSymbolizer };
