// The live status page: the server's rendering first, then this script keeps it
// current from /api/tenant/{tenant}/status/events?deltas=true (server-sent events: the
// status JSON, then what changed), ticks the clocks every second, and filters by
// project or change (kept in the URL's ?q=). No framework, no CDN.
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
      out.push(`<span class="eta">${queue.window !== null ? "merges" : "reports"} in about <span${i.remaining_shrinks ? ` data-shrinks="${esc(i.remaining_time)}"` : ""}>${esc(secs(i.remaining_time))}</span></span>`);
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


  const queueHead = (q) => `<h3>${esc(q.name)}${q.window ? ` <small>window ${esc(q.window)}</small>` : ""}</h3>
      ${options(q.options)}`;

  const pipelineHead = (p, n) => `<h2 id="pipeline-${n + 1}">${esc(p.name)} <small>${esc(p.manager)}</small></h2>
    ${p.description ? `<p class="description">${esc(p.description)}</p>` : ""}`;

  // -------------------------------------------------------------- state
  const openSpecs = new Set(); // the open speculative states of the items rendered again
  let generatedAt = Number(root.dataset.generated) || Date.now() / 1000;
  let offset = generatedAt - Date.now() / 1000; // server clock minus ours, seconds
  let version = null; // the id of the last event applied: a delta must follow it

  // The page is kept as keyed nodes: a section per pipeline, a queue per name in it,
  // an item per id. An update renders again only the items that changed and moves
  // the others where they belong, so scroll position, focus and open details stay (a
  // busy tenant has a thousand items). An item's key is its JSON without the times
  // that move with the clock; each item keeps the time of the status it was rendered
  // from, for its clocks.
  const sections = new Map(); // pipeline name -> {el, head, heads, empty, queues}
  const rendered = new Map(); // item id -> {key, el, data, where}

  function keyOf(i) {
    const {time_in_queue: _t, remaining_time: _r, jobs, ...rest} = i;
    return JSON.stringify([rest, jobs.map(
      ({elapsed_time: _e, remaining_time: _jr, progress: _p, ...job}) => job)]);
  }

  function nodes(html, tag) {
    const holder = document.createElement(tag || "div");
    holder.innerHTML = html;
    return Array.from(holder.children);
  }

  // Make parent's element children exactly `wanted`, in order, moving as few as can be.
  function reconcile(parent, wanted) {
    const keep = new Set(wanted);
    for (const child of Array.from(parent.children)) if (!keep.has(child)) child.remove();
    wanted.forEach((el, k) => {
      const at = parent.children[k];
      if (at !== el) parent.insertBefore(el, at || null);
    });
  }

  const FOCUSABLE = "a, summary, button, [tabindex]";
  function focusNow() {
    const el = document.activeElement;
    if (!el || !root.contains(el)) return null;
    const it = el.closest("li.item");
    return {el, id: it ? it.id : null,
      index: it ? Array.from(it.querySelectorAll(FOCUSABLE)).indexOf(el) : -1};
  }

  function refocus(was) {
    if (!was || document.activeElement === was.el) return;
    let el = was.el.isConnected ? was.el : null;
    if (!el && was.id && was.index >= 0) {
      const it = document.getElementById(was.id);
      el = it ? it.querySelectorAll(FOCUSABLE)[was.index] : null;
    }
    if (el) el.focus({preventScroll: true});
  }

  function sectionOf(name) {
    let s = sections.get(name);
    if (!s) {
      s = {el: document.createElement("section"), head: null, heads: [], empty: null,
        queues: new Map()};
      s.el.className = "pipeline";
      sections.set(name, s);
    }
    return s;
  }

  function section(s, p, n, queueEls) {
    const head = JSON.stringify([n, p.name, p.manager, p.description]);
    if (s.head !== head) {
      s.head = head;
      s.heads = nodes(pipelineHead(p, n));
      s.el.setAttribute("aria-labelledby", `pipeline-${n + 1}`);
    }
    if (!queueEls.length && !s.empty) s.empty = nodes('<p class="empty">Nothing queued.</p>')[0];
    reconcile(s.el, [...s.heads, ...(queueEls.length ? queueEls : [s.empty])]);
    return s.el;
  }

  function queueEl(s, q, items) {
    let e = s.queues.get(q.name);
    if (!e) {
      e = {el: document.createElement("div"), head: null, heads: [],
        list: document.createElement("ol")};
      e.el.className = "queue";
      e.list.className = "items";
      s.queues.set(q.name, e);
    }
    const head = JSON.stringify([q.name, q.window, q.options]);
    if (e.head !== head) {
      e.head = head;
      e.heads = nodes(queueHead(q));
    }
    reconcile(e.list, items);
    reconcile(e.el, [...e.heads, e.list]);
    return e.el;
  }

  function render(data) {
    const focus = focusNow();
    offset = data.generated_at - Date.now() / 1000;
    generatedAt = data.generated_at;
    // which items need rendering: new ones, and those whose key or queue changed
    const todo = [];
    const ids = new Set();
    data.pipelines.forEach((p) => p.queues.forEach((q) => {
      const where = `${p.name}\n${q.name}\n${q.window}`;
      let byId = null;
      q.items.forEach((i) => {
        ids.add(i.id);
        const known = rendered.get(i.id);
        if (known && known.where === where) {
          if (known.data === i) return; // a delta's unchanged item
          const key = keyOf(i);
          if (known.key === key) return;
        }
        const was = known ? known.el : document.getElementById(`item-${i.id}`);
        if (was && was.querySelector("details.spec[open]")) openSpecs.add(`spec-${i.id}`);
        byId = byId || new Map(q.items.map((x) => [x.id, x]));
        todo.push({i, where, html: item(i, q, byId)});
      });
    }));
    const born = todo.length ? nodes(todo.map((t) => t.html).join(""), "ol") : [];
    born.forEach((el, k) => {
      const t = todo[k];
      el.dataset.generated = String(generatedAt);
      const known = rendered.get(t.i.id);
      if (known) unwatch(known.el);
      rendered.set(t.i.id, {key: keyOf(t.i), el, data: t.i, where: t.where});
      watch(el);
    });
    openSpecs.clear();
    for (const [id, known] of Array.from(rendered)) {
      if (!ids.has(id)) {
        unwatch(known.el);
        rendered.delete(id);
      }
    }
    if (firstItems) {
      firstItems.forEach(unwatch);
      firstItems = null;
    }
    const names = new Set(data.pipelines.map((p) => p.name));
    for (const name of Array.from(sections.keys())) if (!names.has(name)) sections.delete(name);
    const els = data.pipelines.map((p, n) => {
      const s = sectionOf(p.name);
      const kept = new Set(p.queues.map((q) => q.name));
      for (const name of Array.from(s.queues.keys())) if (!kept.has(name)) s.queues.delete(name);
      return section(s, p, n, p.queues.map((q) => queueEl(s, q,
        q.items.map((i) => rendered.get(i.id).el))));
    });
    reconcile(root, els);
    applyFilter(born);
    tickItems(born);
    refocus(focus);
  }

  // The clocks move between updates: elapsed and time in queue grow, remaining
  // times shrink, a running job's bar follows its elapsed time over its estimate.
  const CLOCKS = "[data-grows], [data-shrinks], .bar[data-estimate][data-elapsed]";
  const clocksOf = new WeakMap(); // item element -> its clock elements
  function text(el, value) {
    if (el.textContent !== value) el.textContent = value;
  }

  function tickItems(items) {
    const now = Date.now() / 1000 + offset;
    for (const it of items) {
      if (it.hidden) continue;
      let clocks = clocksOf.get(it);
      if (!clocks) {
        clocks = Array.from(it.querySelectorAll(CLOCKS));
        clocksOf.set(it, clocks);
      }
      const dt = Math.max(0, now - (Number(it.dataset.generated) || generatedAt));
      for (const el of clocks) {
        const d = el.dataset;
        if (d.grows !== undefined) text(el, secs(Number(d.grows) + dt));
        else if (d.shrinks !== undefined) text(el, secs(Math.max(0, Number(d.shrinks) - dt)));
        else {
          const estimate = Number(d.estimate);
          if (!(estimate > 0)) continue;
          const value = String(Math.min(99, Math.floor(100 * (Number(d.elapsed) + dt) / estimate)));
          if (d.progress === value) continue;
          el.setAttribute("aria-valuenow", value);
          d.progress = value;
          el.firstElementChild.style.width = value + "%";
        }
      }
    }
  }

  // Only the items on screen (or near it) tick: a busy tenant's thousand items would
  // take the page's thread for a long moment every second. An item ticks as it
  // comes into view.
  const onScreen = new Set();
  const observer = window.IntersectionObserver ? new IntersectionObserver((entries) => {
    const shown = [];
    for (const e of entries) {
      if (e.isIntersecting) {
        onScreen.add(e.target);
        shown.push(e.target);
      } else onScreen.delete(e.target);
    }
    tickItems(shown);
  }, {rootMargin: "200px 0px"}) : null;
  function watch(el) {
    if (observer) observer.observe(el);
  }
  function unwatch(el) {
    if (observer) observer.unobserve(el);
    onScreen.delete(el);
  }
  let firstItems = Array.from(root.querySelectorAll("li.item")); // the server's rendering
  firstItems.forEach(watch);
  const tick = () => tickItems(observer ? onScreen : root.querySelectorAll("li.item"));

  // -------------------------------------------------------------- filter
  function applyFilter(items) {
    const q = (filter ? filter.value : "").trim().toLowerCase();
    for (const el of items || root.querySelectorAll("li.item")) {
      const hidden = q !== "" && !(el.dataset.project + " " + el.dataset.change).toLowerCase().includes(q);
      if (el.hidden !== hidden) el.hidden = hidden;
    }
  }

  if (filter) {
    filter.addEventListener("input", () => {
      const url = new URL(window.location.href);
      if (filter.value) url.searchParams.set("q", filter.value);
      else url.searchParams.delete("q");
      window.history.replaceState(null, "", url);
      applyFilter();
      tick();
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

  // A delta is the status with each item unchanged since the event it follows (its
  // base) replaced by the item's id; null when this page cannot apply it.
  function expand(delta) {
    if (version === null || String(delta.base) !== version) return null;
    for (const p of delta.pipelines) {
      for (const q of p.queues) {
        const items = [];
        for (const x of q.items) {
          const known = typeof x === "number" ? rendered.get(x) : null;
          if (typeof x === "number" && !known) return null;
          items.push(known ? known.data : x);
        }
        q.items = items;
      }
    }
    return delta;
  }

  // The stream sends the status, then only what changed ("delta" events). Signed in,
  // each stream opens with a ticket of its own (POST .../events/ticket; auth.js adds
  // the token to the fetch, which an EventSource cannot carry). A ticket opens one
  // stream, so then the page reconnects itself with a new ticket rather than letting
  // the browser reconnect with the spent one. Not signed in (or without a ticket), the
  // stream is opened bare, as a tenant without access-rules allows.
  async function eventsUrl() {
    const url = new URL(root.dataset.events, window.location.href);
    url.searchParams.set("deltas", "true");
    if (!window.zuulishAuth || !window.zuulishAuth.signedIn()) return url;
    try {
      const response = await fetch(root.dataset.events + "/ticket", {method: "POST", headers: {"Accept": "application/json"}});
      if (response.ok) url.searchParams.set("ticket", (await response.json()).ticket);
    } catch (e) {
      // opened bare
    }
    return url;
  }

  let resynced = 0; // when the page last asked for a full status after a delta it missed
  async function connect() {
    const url = await eventsUrl();
    const ticketed = url.searchParams.has("ticket");
    const events = new EventSource(url);
    let opened = false;
    events.onopen = () => { opened = true; };
    events.addEventListener("status", (e) => {
      stopPolling();
      version = e.lastEventId || null;
      render(JSON.parse(e.data));
      fresh("live");
    });
    events.addEventListener("delta", (e) => {
      const data = expand(JSON.parse(e.data));
      if (data === null) { // missed one: start again from a full status (not in a loop)
        events.close();
        version = null;
        const wait = Math.max(0, resynced + FALLBACK_POLL_MS - Date.now());
        resynced = Date.now() + wait;
        setTimeout(connect, wait);
        return;
      }
      stopPolling();
      version = e.lastEventId;
      render(data);
      fresh("live");
    });
    events.addEventListener("gone", () => {
      events.close();
      stopPolling();
      stale("this tenant is no longer configured");
    });
    events.addEventListener("reopen", () => {
      // the tenant's access rules changed: open the stream again (with a new ticket),
      // to be decided under the new rules
      events.close();
      setTimeout(connect, 1000);
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
