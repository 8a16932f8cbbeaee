// Step-throughs of adlib.graph.animate: one SVG frame per step, shown one at a
// time with first / previous / play / next buttons.  No network, no kernel.
// Without this script every frame stays visible, one below the other.
(function () {
  "use strict";

  function setUp(root) {
    var steps = root.querySelectorAll(".adlib-step");
    var controls = root.querySelector(".adlib-stepper-controls");
    if (!steps.length || !controls) {
      return;
    }
    var play = controls.querySelector('[data-action="play"]');
    var interval = parseInt(root.getAttribute("data-interval"), 10) || 1500;
    var current = 0;
    var timer = null;

    function show(k) {
      current = Math.max(0, Math.min(steps.length - 1, k));
      for (var i = 0; i < steps.length; i++) {
        steps[i].classList.toggle("is-current", i === current);
      }
    }

    function stop() {
      if (timer !== null) {
        window.clearInterval(timer);
        timer = null;
      }
      play.textContent = "\u25B6 play";
      play.setAttribute("aria-label", "play");
    }

    function start() {
      if (current === steps.length - 1) {
        show(0);
      }
      play.textContent = "\u275A\u275A pause";
      play.setAttribute("aria-label", "pause");
      timer = window.setInterval(function () {
        if (current >= steps.length - 1) {
          stop();
        } else {
          show(current + 1);
        }
      }, interval);
    }

    controls.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button) {
        return;
      }
      var action = button.getAttribute("data-action");
      if (action === "play") {
        if (timer === null) {
          start();
        } else {
          stop();
        }
        return;
      }
      stop();
      if (action === "first") {
        show(0);
      } else if (action === "prev") {
        show(current - 1);
      } else if (action === "next") {
        show(current + 1);
      }
    });

    root.addEventListener("keydown", function (event) {
      if (event.key === "ArrowRight") {
        stop();
        show(current + 1);
      } else if (event.key === "ArrowLeft") {
        stop();
        show(current - 1);
      }
    });

    controls.hidden = false;
    root.classList.add("is-ready");
    show(0);
  }

  function setUpAll() {
    var roots = document.querySelectorAll(".adlib-stepper");
    for (var i = 0; i < roots.length; i++) {
      setUp(roots[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpAll);
  } else {
    setUpAll();
  }
})();
