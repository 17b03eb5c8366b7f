// The live status page: the server's rendering first, then this script keeps it
// current from /api/tenant/{tenant}/status/events (server-sent events carrying the
// status JSON), ticks the clocks every second, and filters by project or change
// (kept in the URL's ?q=). No framework, no CDN.
(function () {
  "use strict";
  const root = document.getElementById("pipelines");
  const updated = document.getElementById("updated");
  const filter = document.getElementById("filter");
  if (!root || !updated) return;
  const FALLBACK_POLL_MS = 2000;

  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) =>
    ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

  function secs(x) {
    if (x === null || x === undefined) return "?";
    const t = Math.round(x);
    const pad = (n) => String(n).padStart(2, "0");
    if (t >= 3600) return `${Math.floor(t / 3600)}h ${pad(Math.floor((t % 3600) / 60))}m`;
    if (t >= 60) return `${Math.floor(t / 60)}m ${pad(t % 60)}s`;
    return `${t}s`;
  }

  function job(j) {
    const state = String(j.result || j.state).toLowerCase();
    const running = ["running", "paused"].includes(j.state) && !j.result;
    const progress = j.progress === null || j.progress === undefined ? null : j.progress;
    let times = "";
    if (j.elapsed_time !== null && j.elapsed_time !== undefined) {
      times += `<span class="elapsed"${running ? ` data-grows="${esc(j.elapsed_time)}"` : ""}>${esc(secs(j.elapsed_time))}</span>`;
    }
    if (!j.result && j.remaining_time !== null && j.remaining_time !== undefined) {
      times += ` <span class="remaining"${running ? ` data-shrinks="${esc(j.remaining_time)}"` : ""}>${esc(secs(j.remaining_time))}</span> left`;
    } else if (!j.result && (j.estimated_time === null || j.estimated_time === undefined)) {
      times += ' <span class="remaining">no estimate</span>';
    }
    const estimate = running && j.estimated_time ? ` data-estimate="${esc(j.estimated_time)}"` : "";
    return `<li class="job">
  <span class="bar ${esc(state)}" role="progressbar" aria-label="${esc(j.name)} progress" aria-valuemin="0" aria-valuemax="100"${progress === null ? "" : ` aria-valuenow="${esc(progress)}"`} data-progress="${progress === null ? "" : esc(progress)}"${estimate}${running ? ` data-elapsed="${esc(j.elapsed_time)}"` : ""}><span class="fill" style="width: ${esc(progress || 0)}%"></span></span>
  ${j.url ? `<a href="${esc(j.url)}">${esc(j.name)}</a>` : `<span class="name">${esc(j.name)}</span>`}
  ${j.voting ? "" : "<small>(non-voting)</small>"}
  <span class="times">${times}</span>
  <span class="badge ${esc(state)}">${esc(j.result || j.state)}</span>
</li>`;
  }

  function display(byId, id) {
    const found = byId.get(id);
    return found ? found.change.display : String(id);
  }

  function facts(i, queue, byId) {
    const out = [`<span>in queue <span class="queued" data-grows="${esc(i.time_in_queue)}">${esc(secs(i.time_in_queue))}</span></span>`];
    if (i.remaining_time !== null && i.remaining_time !== undefined) {
      out.push(`<span class="eta">${queue.window !== null ? "merges" : "reports"} in about <span data-shrinks="${esc(i.remaining_time)}">${esc(secs(i.remaining_time))}</span></span>`);
    }
    if (i.item_ahead !== null && byId.has(i.item_ahead)) {
      out.push(`<span class="ahead">on top of ${esc(display(byId, i.item_ahead))}</span>`);
    }
    if (i.probe) out.push('<span class="role">runs the jobs of its batch</span>');
    else if (i.batch !== null && byId.has(i.batch)) out.push(`<span class="role">tested in the batch of ${esc(display(byId, i.batch))}</span>`);
    else if (i.probe !== null) out.push('<span class="role">waits to join a batch</span>');
    if (i.verified) out.push('<span class="role">verified</span>');
    else if (i.verified !== null) {
      const group = i.group !== null && i.group !== i.id && byId.has(i.group)
        ? ` in the group of ${esc(display(byId, i.group))}` : "";
      out.push(`<span class="role">being verified${group}</span>`);
    }
    if (i.independent_of && i.independent_of.length) {
      out.push(`<span class="role">independent of ${i.independent_of.map((x) => esc(display(byId, x))).join(", ")}</span>`);
    }
    return out.join("\n    ");
  }

  function spec(i) {
    if (!i.holds || !i.holds.length) return "";
    const ahead = new Set();
    i.holds.forEach((r) => r.changes.forEach((c) => { if (!c.own) ahead.add(c.id); }));
    const n = ahead.size;
    const repos = i.holds.map((r) => `<li><code>${esc(r.project)}</code> ${esc(r.branch || "")} at <code>${esc((r.commit || "").slice(0, 12))}</code>:
        ${r.changes.length ? r.changes.map((c) => `<span class="held${c.own ? " own" : ""}">${esc(c.display)}${c.own ? " (this change)" : ""}</span>`).join(", ") : "the branch tip"}</li>`).join("");
    const open = openSpecs.has(`spec-${i.id}`) ? " open" : "";
    return `<details class="spec" id="spec-${esc(i.id)}"${open}>
    <summary>Speculative state: ${n} change${n !== 1 ? "s" : ""} ahead, ${i.holds.length} repositor${i.holds.length === 1 ? "y" : "ies"}</summary>
    <ul>${repos}</ul></details>`;
  }

  function item(i, queue, byId) {
    const classes = ["item", `col-${i.column}`];
    if (i.failing) classes.push("failing");
    if (!i.live) classes.push("nonlive");
    if (i.item_ahead !== null) classes.push("has-ahead");
    if (i.items_behind && i.items_behind.length) classes.push("has-behind");
    if (i.line_through) classes.push("line-through");
    const c = i.change;
    const name = c.url ? `<a class="change" href="${esc(c.url)}">${esc(c.display)}</a>`
      : `<span class="${c.number === null ? "ref" : "change"}">${esc(c.display)}</span>`;
    const badges = [];
    if (i.merge_state && !["pending", "merged"].includes(i.merge_state)) {
      badges.push(`<span class="badge ${esc(i.merge_state)}">${esc(i.merge_state)}</span>`);
    }
    if (i.failing) badges.push('<span class="badge failing">failing</span>');
    else if (!i.active) badges.push('<span class="badge inactive">not started</span>');
    return `<li class="${classes.join(" ")}" id="item-${esc(i.id)}" data-project="${esc(c.project)}" data-change="${esc(c.label)} ${esc(c.display)}">
  <span class="lane" aria-hidden="true"><span class="up"></span><span class="down"></span><span class="dot"></span></span>
  <div class="head">${name} <span class="project">${esc(c.project)}</span> ${badges.join(" ")}</div>
  <div class="subject">${esc(c.subject)}</div>
  <p class="facts">${facts(i, queue, byId)}</p>
  ${spec(i)}
  ${i.jobs.length ? `<ul class="jobs">${i.jobs.map(job).join("")}</ul>` : ""}
  ${i.message ? `<pre class="message">${esc(i.message)}</pre>` : ""}
</li>`;
  }

  function options(o) {
    if (!o) return "";
    const parts = [];
    if (o.independent_subqueues) parts.push("<span>independent sub-queues</span>");
    if (o.batch_size > 1) parts.push(`<span>batches of up to ${esc(o.batch_size)}</span>`);
    if (o.verify_first) parts.push("<span>verify first</span>");
    if (o.speculate_failures) parts.push("<span>speculates on failures</span>");
    return parts.length ? `<p class="options">${parts.join("")}</p>` : "";
  }

  function queueHtml(q) {
    const byId = new Map(q.items.map((i) => [i.id, i]));
    return `<div class="queue"><h3>${esc(q.name)}${q.window ? ` <small>window ${esc(q.window)}</small>` : ""}</h3>
      ${options(q.options)}<ol class="items">${q.items.map((i) => item(i, q, byId)).join("")}</ol></div>`;
  }

  const pipeline = (p, n) => `<section class="pipeline" aria-labelledby="pipeline-${n + 1}">
    <h2 id="pipeline-${n + 1}">${esc(p.name)} <small>${esc(p.manager)}</small></h2>
    ${p.description ? `<p class="description">${esc(p.description)}</p>` : ""}
    ${p.queues.length ? p.queues.map(queueHtml).join("") : '<p class="empty">Nothing queued.</p>'}</section>`;

  // -------------------------------------------------------------- state
  let openSpecs = new Set();
  let generatedAt = Number(root.dataset.generated) || Date.now() / 1000;
  let offset = generatedAt - Date.now() / 1000; // server clock minus ours, seconds

  // Only the items that changed are rendered again (a busy tenant has a thousand):
  // an item's key is its JSON without the times that move with the clock; each item
  // keeps the time of the status it was rendered from, for its clocks.
  let shape = null;
  const rendered = new Map(); // item id -> {key, el}
  function keyOf(i, q) {
    const {time_in_queue: _t, remaining_time: _r, jobs, ...rest} = i;
    return JSON.stringify([q.window, rest, jobs.map(
      ({elapsed_time: _e, remaining_time: _jr, progress: _p, ...job}) => job)]);
  }

  function itemElement(i, q, byId) {
    const holder = document.createElement("ol");
    holder.innerHTML = item(i, q, byId);
    const el = holder.firstElementChild;
    el.dataset.generated = String(generatedAt);
    return el;
  }

  function render(data) {
    openSpecs = new Set(Array.from(root.querySelectorAll("details.spec[open]"), (d) => d.id));
    offset = data.generated_at - Date.now() / 1000;
    generatedAt = data.generated_at;
    const newShape = JSON.stringify(data.pipelines.map((p) => [p.name, p.manager, p.description,
      p.queues.map((q) => [q.name, q.window, q.options])]));
    if (newShape !== shape) {
      shape = newShape;
      root.innerHTML = data.pipelines.map(pipeline).join("");
      rendered.clear();
      const lists = root.querySelectorAll("ol.items");
      let n = 0;
      data.pipelines.forEach((p) => p.queues.forEach((q) => {
        Array.from(lists[n++].children).forEach((el, k) => {
          el.dataset.generated = String(generatedAt);
          rendered.set(q.items[k].id, {key: keyOf(q.items[k], q), el});
        });
      }));
    } else {
      const lists = root.querySelectorAll("ol.items");
      const seen = new Set();
      let n = 0;
      data.pipelines.forEach((p) => p.queues.forEach((q) => {
        const byId = new Map(q.items.map((i) => [i.id, i]));
        const els = q.items.map((i) => {
          seen.add(i.id);
          const key = keyOf(i, q);
          const known = rendered.get(i.id);
          if (known && known.key === key) return known.el;
          const el = itemElement(i, q, byId);
          rendered.set(i.id, {key, el});
          return el;
        });
        const list = lists[n++];
        if (els.length !== list.children.length || els.some((el, k) => list.children[k] !== el)) {
          list.replaceChildren(...els);
        }
      }));
      for (const id of Array.from(rendered.keys())) if (!seen.has(id)) rendered.delete(id);
    }
    applyFilter();
    tick();
  }

  // The clocks move between updates: elapsed and time in queue grow, remaining
  // times shrink, a running job's bar follows its elapsed time over its estimate.
  function tick() {
    const now = Date.now() / 1000 + offset;
    root.querySelectorAll("li.item").forEach((it) => {
      const dt = Math.max(0, now - (Number(it.dataset.generated) || generatedAt));
      it.querySelectorAll("[data-grows]").forEach((el) => {
        el.textContent = secs(Number(el.dataset.grows) + dt);
      });
      it.querySelectorAll("[data-shrinks]").forEach((el) => {
        el.textContent = secs(Math.max(0, Number(el.dataset.shrinks) - dt));
      });
      it.querySelectorAll(".bar[data-estimate][data-elapsed]").forEach((el) => {
        const estimate = Number(el.dataset.estimate);
        if (!(estimate > 0)) return;
        const value = Math.min(99, Math.floor(100 * (Number(el.dataset.elapsed) + dt) / estimate));
        el.setAttribute("aria-valuenow", String(value));
        el.dataset.progress = String(value);
        el.firstElementChild.style.width = value + "%";
      });
    });
  }

  // -------------------------------------------------------------- filter
  function applyFilter() {
    const q = (filter ? filter.value : "").trim().toLowerCase();
    root.querySelectorAll("li.item").forEach((el) => {
      const hay = (el.dataset.project + " " + el.dataset.change).toLowerCase();
      el.hidden = q !== "" && !hay.includes(q);
    });
  }

  if (filter) {
    filter.addEventListener("input", () => {
      const url = new URL(window.location.href);
      if (filter.value) url.searchParams.set("q", filter.value);
      else url.searchParams.delete("q");
      window.history.replaceState(null, "", url);
      applyFilter();
    });
    filter.form.addEventListener("submit", (e) => e.preventDefault());
  }

  // -------------------------------------------------------------- live
  function fresh(how) {
    updated.textContent = "Updated " + new Date().toLocaleTimeString() + "; " + how + ".";
    updated.classList.remove("stale");
  }

  function stale(why) {
    updated.textContent = "Could not refresh (" + why + "); retrying.";
    updated.classList.add("stale");
  }

  let pollTimer = null;
  async function poll() {
    try {
      const response = await fetch(root.dataset.api, {headers: {"Accept": "application/json"}});
      if (!response.ok) throw new Error(response.status + " " + response.statusText);
      render(await response.json());
      fresh("live updates reconnecting");
    } catch (e) {
      stale(e.message);
    }
  }

  function startPolling() {
    if (pollTimer === null) {
      poll();
      pollTimer = setInterval(poll, FALLBACK_POLL_MS);
    }
  }

  function stopPolling() {
    if (pollTimer !== null) {
      clearInterval(pollTimer);
      pollTimer = null;
    }
  }

  // Signed in, each stream opens with a ticket of its own (POST .../events/ticket;
  // auth.js adds the token to the fetch, which an EventSource cannot carry). A ticket
  // opens one stream, so then the page reconnects itself with a new ticket rather than
  // letting the browser reconnect with the spent one. Not signed in (or without a
  // ticket), the stream is opened bare, as a tenant without access-rules allows.
  async function eventsUrl() {
    const url = new URL(root.dataset.events, window.location.href);
    if (!window.zuulishAuth || !window.zuulishAuth.signedIn()) return url;
    try {
      const response = await fetch(root.dataset.events + "/ticket", {method: "POST", headers: {"Accept": "application/json"}});
      if (response.ok) url.searchParams.set("ticket", (await response.json()).ticket);
    } catch (e) {
      // opened bare
    }
    return url;
  }

  async function connect() {
    const url = await eventsUrl();
    const ticketed = url.searchParams.has("ticket");
    const events = new EventSource(url);
    let opened = false;
    events.onopen = () => { opened = true; };
    events.addEventListener("status", (e) => {
      stopPolling();
      render(JSON.parse(e.data));
      fresh("live");
    });
    events.addEventListener("gone", () => {
      events.close();
      stopPolling();
      stale("this tenant is no longer configured");
    });
    events.addEventListener("expired", () => {
      // the token has expired and the server ended the stream: poll (which says so)
      // and ask again later (a new ticket needs a valid token)
      events.close();
      startPolling();
      setTimeout(connect, FALLBACK_POLL_MS);
    });
    events.onerror = () => {
      // Meanwhile the page polls the API. The browser reconnects a bare stream by
      // itself after a dropped connection, but gives up after an error answer: then try
      // again later. A ticket's stream is reconnected here, with a new ticket.
      startPolling();
      if (ticketed) {
        events.close();
        setTimeout(connect, opened ? 1000 : FALLBACK_POLL_MS);
      } else if (events.readyState === EventSource.CLOSED) {
        setTimeout(connect, FALLBACK_POLL_MS);
      }
    };
  }

  if (window.EventSource) connect();
  else startPolling();
  applyFilter();
  setInterval(tick, 1000);
})();
