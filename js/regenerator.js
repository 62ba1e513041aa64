// Dash's renderer (4.x) calls the global ``regeneratorRuntime`` of Babel's old async transform when it loads a
// component library lazily, and Dash ships @babel/polyfill (core-js 2, 90 KB, about 1 s of a phone's main
// thread) to provide it with everything else an old browser lacks. A browser this atlas runs in (workers with
// OffscreenCanvas: 2023 and later) lacks nothing else, so the page loads this instead (ui/scripts.py drops
// the polyfill): regenerator-runtime from npm, bundled by esbuild into assets/vendor/.
import runtime from "regenerator-runtime/runtime.js";

window.regeneratorRuntime = window.regeneratorRuntime || runtime;
