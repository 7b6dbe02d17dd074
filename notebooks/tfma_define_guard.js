// Classic-notebook extension installed by scripts/notebook_setup.sh (as recsys_tfma_define_guard/main).
//
// TFMA 0.47 adds its Polymer bundle (vulcanized_tfma.js) with a plain <script> tag when a viewer
// first renders. The bundle carries d3-tip as a UMD module, which calls an anonymous define() when
// it sees RequireJS (define.amd); RequireJS then fails whichever module it is loading at that
// moment, typically TFMA's widget module for the next viewer ("Mismatched anonymous define()
// module"), and that viewer is never drawn (seen about one run in three). While that one script
// loads, define.amd is hidden, so d3-tip attaches to window.d3 as it does outside RequireJS.
// (Loading the bundle earlier instead breaks TFMA's views: its elements must be created before
// they are defined.)
define([], function () {
  var BUNDLE = 'nbextensions/tensorflow_model_analysis/vulcanized_tfma.js';

  function guard(script) {
    var amd = window.define.amd;
    var restore = function () { window.define.amd = amd; };
    window.define.amd = undefined;
    script.addEventListener('load', restore);
    script.addEventListener('error', restore);
  }

  function load_ipython_extension() {
    // Runs before the script is fetched and executed: a mutation record is delivered as a
    // microtask after TFMA's appendChild, and the script runs only after its download.
    new MutationObserver(function (records) {
      records.forEach(function (r) {
        r.addedNodes.forEach(function (node) {
          var src = node.tagName === 'SCRIPT' && node.getAttribute('src');
          if (src && src.slice(-BUNDLE.length) === BUNDLE) {
            guard(node);
          }
        });
      });
    }).observe(document.head, {childList: true});
  }
  return {load_ipython_extension: load_ipython_extension};
});
