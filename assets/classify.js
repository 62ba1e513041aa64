/*
 * The class rule of classify.py, for the browser: the map's style function, the legend and the table
 * all ask classIndex which class a value is in, so they agree with the server's counts.
 *
 * Class i holds breaks[i-1] < v <= breaks[i]; the lowest class takes every value up to breaks[0] (it
 * includes the minimum, as in mapclassify), and a value above the last break joins the top class.
 * Missing values (null, undefined, NaN, infinities, anything not a number) are class -1.
 * classify.class_index in Python is the same rule: change one, change the other
 * (tests/test_classify.py runs this file under node and compares).
 */
window.atlas = Object.assign({}, window.atlas, {
  classIndex: function (value, breaks) {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      return -1;
    }
    var last = breaks.length - 1;
    var i = 0;
    // Breaks ascend, so the first break not below the value closes its class.
    while (i < last && value > breaks[i]) {
      i += 1;
    }
    return i;
  },

  classIndices: function (values, breaks) {
    var out = new Int8Array(values.length);
    for (var j = 0; j < values.length; j += 1) {
      out[j] = window.atlas.classIndex(values[j], breaks);
    }
    return out;
  },
});
