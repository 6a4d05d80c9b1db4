// The ipywidgets HTML manager (html-manager/embed.js) typesets widget labels with MathJax 2's
// MathJax.Hub.Queue; the site loads MathJax 3, which has no Hub. Give it that one entry point.
// MathJax 3 replaces window.MathJax when its deferred script runs, so patch after that.
document.addEventListener("DOMContentLoaded", () => {
  const mathjax = window.MathJax;
  if (mathjax && !mathjax.Hub && mathjax.startup) {
    mathjax.Hub = {
      Queue: ([, , element]) => mathjax.startup.promise.then(() => mathjax.typesetPromise([element])),
    };
  }
});
