// Live updates for a session page over Server-Sent Events. The page works without this file:
// it only swaps in the server-rendered summary and appends new timeline items as they arrive.
(function () {
  "use strict";
  var root = document.querySelector("[data-stream]");
  var summary = document.getElementById("summary");
  var timeline = document.getElementById("timeline");

  // One submission per Retry or Stop form: double clicks make one POST (the server dedupes too).
  var BUSY = { retry: "Retrying…", stop: "Stopping…" };
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList) return;
    var kind = form.classList.contains("retry") ? "retry" : form.classList.contains("stop") ? "stop" : null;
    if (!kind) return;
    if (form.getAttribute("data-sent")) { event.preventDefault(); return; }
    form.setAttribute("data-sent", "1");
    var button = form.querySelector("button");
    if (button) setTimeout(function () { button.disabled = true; button.textContent = BUSY[kind]; }, 0);
  });

  if (!root || !summary || !timeline || !window.EventSource) return;
  var source = new EventSource(root.getAttribute("data-stream"));

  source.addEventListener("summary", function (event) {
    var data = JSON.parse(event.data);
    summary.innerHTML = data.html;
    document.title = document.title.replace(/^(Session \d+ · )[^·]+( · )/, "$1" + data.statusLabel + "$2");
  });

  source.addEventListener("item", function (event) {
    var data = JSON.parse(event.data);
    if (timeline.querySelector('[data-key="' + data.key + '"]')) return;
    timeline.insertAdjacentHTML("beforeend", data.html);
  });

  source.addEventListener("end", function () {
    source.close();
  });
})();
