// Refreshes the incident board in place every 30 seconds, keeping focus and
// scroll where they are. Without script, the board's Refresh link does it.
"use strict";
(function () {
  var board = document.getElementById("board");
  if (!board || !window.fetch || !window.DOMParser) return;
  setInterval(function () {
    fetch(window.location.pathname, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("board");
        if (fresh && board.contains(document.activeElement) === false) {
          board.replaceChildren.apply(board, Array.prototype.slice.call(fresh.childNodes));
        }
      })
      .catch(function () {});
  }, 30000);
})();
