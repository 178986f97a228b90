// lossbook: a display equation that does not fit its column gets a "scroll" label (class
// lb-scrolls on its div.math), and an inline formula wider than its line scrolls inside its own
// box (class lb-wide); see lossbook.css. Both are re-checked when the window changes size.
"use strict";
(() => {
  const markWide = () => {
    for (const box of document.querySelectorAll("div.math > mjx-container")) {
      box.parentElement.classList.toggle("lb-scrolls", box.scrollWidth > box.clientWidth + 1);
    }
    for (const math of document.querySelectorAll("span.math > mjx-container")) {
      math.classList.remove("lb-wide");
      let block = math.parentElement;
      while (block && getComputedStyle(block).display.startsWith("inline")) block = block.parentElement;
      if (block && math.getBoundingClientRect().right > block.getBoundingClientRect().right + 0.5) {
        math.classList.add("lb-wide");
      }
    }
  };
  let pending = null;
  const schedule = () => {
    if (pending) cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => { pending = null; markWide(); });
  };
  const start = () => {
    const mathjax = window.MathJax;
    if (mathjax && mathjax.startup && mathjax.startup.promise) {
      mathjax.startup.promise.then(markWide);
    }
    window.addEventListener("resize", schedule);
  };
  if (document.readyState === "complete") start();
  else window.addEventListener("load", start);
})();
