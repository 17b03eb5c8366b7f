// The history pages' scripts: a build's log loaded in ranges (the tail first,
// earlier pieces on demand) and a running build's live console. Every text from
// the server is added as text, never as markup.
(function () {
  "use strict";
  const PIECE = 65536;  // bytes asked for per "Load earlier"

  function earlierLog() {
    const range = document.getElementById("log-range");
    const button = document.getElementById("log-earlier");
    const pre = document.getElementById("log");
    const shown = document.getElementById("log-shown");
    if (!range || !button || !pre) return;
    let start = Number(range.dataset.start);
    const size = Number(range.dataset.size);
    const kb = (n) => n < 1024 ? n + " bytes" : (n / 1024).toFixed(1) + " KB";
    button.hidden = start <= 0;
    button.addEventListener("click", async () => {
      button.disabled = true;
      const from = Math.max(0, start - PIECE);
      try {
        const response = await fetch(range.dataset.url, {headers: {"Range": `bytes=${from}-${start - 1}`}});
        if (response.status !== 206 && response.status !== 200) throw new Error(response.status + " " + response.statusText);
        let bytes = new Uint8Array(await response.arrayBuffer());
        if (response.status === 200) bytes = bytes.slice(from, start);  // a server that ignored the range
        let cut = 0;
        if (from > 0) {  // begin at a line's start; the rest comes with the next piece
          const newline = bytes.indexOf(10);
          cut = newline >= 0 && newline < bytes.length - 1 ? newline + 1 : 0;
        }
        const text = new TextDecoder("utf-8").decode(bytes.subarray(cut));
        const keep = document.documentElement.scrollHeight - window.scrollY;
        pre.prepend(document.createTextNode(text));
        window.scrollTo(0, document.documentElement.scrollHeight - keep);  // the reader stays put
        start = from + cut;
        range.dataset.start = String(start);
        shown.textContent = start > 0 ? `The last ${kb(size - start)} of ${kb(size)}.` : "The whole log.";
        button.hidden = start <= 0;
      } catch (e) {
        shown.textContent = "Could not load more of the log (" + e.message + ").";
      } finally {
        button.disabled = false;
      }
    });
  }

  // The console's URL, signed in with a ticket (POST <stream>/ticket; auth.js adds the
  // token to the fetch): a websocket cannot carry a token. Not signed in, or without a
  // ticket, the stream is opened bare, as a tenant without access-rules allows.
  async function streamUrl(path) {
    const url = new URL(path, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (!window.zuulishAuth || !window.zuulishAuth.signedIn()) return url;
    try {
      const response = await fetch(path + "/ticket", {method: "POST", headers: {"Accept": "application/json"}});
      if (response.ok) url.searchParams.set("ticket", (await response.json()).ticket);
    } catch (e) {
      // opened bare
    }
    return url;
  }

  async function liveConsole() {
    const pre = document.getElementById("console");
    if (!pre) return;
    const note = document.getElementById("console-state");
    const badge = document.getElementById("build-badge");
    const log = document.getElementById("build-log");
    const root = document.documentElement;
    // Follow the end of the log while the reader is there; leave them be when scrolled up.
    const atEnd = () => window.innerHeight + window.scrollY >= root.scrollHeight - 40;
    const linkLog = () => {  // the log exists once a line has come: link it
      if (log.querySelector("a")) return;
      const a = document.createElement("a");
      a.href = log.dataset.url;
      a.textContent = "job-output.txt";
      log.replaceChildren(a);
    };
    async function showResult() {
      try {
        const response = await fetch(pre.dataset.build, {headers: {"Accept": "application/json"}});
        if (!response.ok) throw new Error(response.status + " " + response.statusText);
        const build = await response.json();
        const shown = String(build.result || build.state);
        badge.textContent = shown;
        badge.className = "badge " + shown.toLowerCase();
      } catch (e) {
        note.textContent += " (could not read the result: " + e.message + "; reload)";
      }
    }
    async function open() {
      const ws = new WebSocket(await streamUrl(pre.dataset.stream));
      ws.onopen = () => { note.textContent = "streaming"; };
      ws.onmessage = (event) => {
        const follow = atEnd();
        pre.append(event.data);  // text, never HTML
        linkLog();
        if (follow) window.scrollTo(0, root.scrollHeight);
      };
      ws.onclose = (event) => {
        if (event.code === 4003) {  // the tenant's access rules changed: open it again,
          // from the start (the new rules decide whether it may be read at all)
          note.textContent = "reopening: " + (event.reason || "access rules changed");
          pre.textContent = "";
          setTimeout(open, 1000);
          return;
        }
        if (event.code === 4001) {  // the sign-in it was opened with has expired
          note.textContent = "the stream ended: " + (event.reason || "access expired") + "; reload";
          return;
        }
        if (event.code !== 1000) {
          note.textContent = "the stream was cut (" + event.code + "); reload";
          return;
        }
        note.textContent = event.reason || "build finished";
        showResult();
      };
    }
    open();
  }

  function openTarget() {  // a link to a task opens its details
    const target = window.location.hash && document.getElementById(window.location.hash.slice(1));
    const details = target && target.querySelector("details");
    if (details) details.open = true;
  }

  function start() {
    earlierLog();
    liveConsole();
    openTarget();
    window.addEventListener("hashchange", openTarget);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
