/*
 * Neighbourhood Atlas: making an area. The "make your own area" page's map style (ui/areas.py): an area is
 * filled dark blue when it is in the selection (``hideout.selected``, the codes the server keeps), light grey
 * otherwise. And the explorer's "make an area" mode (callbacks/areas.py): ``dash_clientside.areas.event``
 * passes the explorer's clicks and view changes on to the server only while the mode is open, so a closed
 * mode costs the explorer no request.
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

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    areas: {
      // (the explorer's selected area, its rendered view, whether the mode's panel is hidden) -> the event
      event: function (selected, state, hidden) {
        if (hidden !== false) {
          return window.dash_clientside.no_update;
        }
        var triggered = (window.dash_clientside.callback_context || {}).triggered || [];
        var click = triggered.some(function (t) { return /\.data$/.test(t.prop_id) && t.prop_id.indexOf("selected") >= 0; });
        var view = state && state.state;
        return {click: click, selected: typeof selected === "string" ? selected : null,
                level: view && typeof view.level === "string" ? view.level : null, at: Date.now()};
      },
    },
  });
})();
