/*
 * Neighbourhood Atlas: the "make your own area" page's map style (ui/areas.py). An area is filled dark blue
 * when it is in the selection (``hideout.selected``, the codes the server keeps), light grey otherwise.
 */
(function () {
  "use strict";

  function style(feature, context) {
    var chosen = (context && context.hideout && context.hideout.selected) || [];
    var code = feature && feature.properties && feature.properties.code;
    var on = chosen.indexOf(code) >= 0;
    return {color: "#ffffff", weight: 0.6, fillOpacity: on ? 0.7 : 0.35, fillColor: on ? "#2166ac" : "#bdbdbd"};
  }

  window.atlas = Object.assign({}, window.atlas, {areas: {style: style}});
})();
