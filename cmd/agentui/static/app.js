// Lockstep's dashboard: polls agentui's /api (the host's observe views),
// keeps a bounded history of per-tick summaries and charts it with uPlot.
// Every value goes into the page as text, never as HTML.
"use strict";

const POLL_MS = 1000;
const HISTORY = 1000; // points kept per chart, as the host's ring
const PAGE = 50;

const $ = (id) => document.getElementById(id);
const text = (id, v) => { $(id).textContent = v; };
const fmt = (n) => (n === undefined || n === null ? "–" : Number(n).toLocaleString("en-US"));

const state = {
  view: "overview",
  summary: null,    // the last summary seen
  history: [],      // the ticks seen, oldest first
  ended: false,
  replay: null,     // agentui --replay: {file, ticks, tick, from}
  pages: { agents: 0, channels: 0 },
  charts: {},
  renders: 0,       // views rendered so far
};
window.lockstep = state; // for the browser test (cmd/agentui/internal/uitest)

function el(tag, cls, txt) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (txt !== undefined) e.textContent = txt;
  return e;
}

// row builds a table row from [value, class] cells.
function row(cells, cls) {
  const tr = el("tr", cls);
  for (const [v, c] of cells) tr.appendChild(el("td", c, v === undefined ? "" : String(v)));
  return tr;
}

function fill(id, rows, cols) {
  const body = $(id);
  body.replaceChildren(...rows);
  if (rows.length === 0) {
    const td = el("td", "empty", "none");
    td.colSpan = cols;
    body.appendChild(el("tr")).appendChild(td);
  }
}

function badge(s) { return el("span", "state " + s, s); }

async function getJSON(path) {
  const r = await fetch(path); // the browser revalidates with the ETag: 304s cost nothing
  if (!r.ok) throw new Error((await r.text()).trim() || r.status + " " + r.statusText);
  return r.json();
}

// ---- charts ----

const CHARTS = {
  work: { series: [{ label: "work ms", stroke: "#2f6fdf", fill: "rgba(47,111,223,.08)" }], pick: (t) => [t.work_seconds * 1000] },
  delivered: { series: [{ label: "delivered", stroke: "#7a5af8", fill: "rgba(122,90,248,.08)" }], pick: (t) => [t.delivered] },
  faults: {
    series: [{ label: "failures", stroke: "#b3261e" }, { label: "restarts", stroke: "#1f7a4d" }, { label: "dead letters", stroke: "#b54708" }],
    pick: (t) => [t.failures, t.restarts, t.dead_letters],
  },
  fuel: { series: [{ label: "fuel", stroke: "#0e9384", fill: "rgba(14,147,132,.08)" }], pick: (t) => [t.fuel] },
  inferences: { series: [{ label: "inferences", stroke: "#c11574" }], pick: (t) => [t.inferences] },
};

function chartData(key) {
  const c = CHARTS[key];
  const cols = [state.history.map((t) => t.tick)];
  c.series.forEach((_, i) => cols.push(state.history.map((t) => c.pick(t)[i])));
  return cols;
}

function drawCharts() {
  for (const key of Object.keys(CHARTS)) {
    const fig = $("chart-" + key);
    const plot = fig.querySelector(".plot");
    const data = chartData(key);
    let u = state.charts[key];
    if (!u) {
      const width = plot.clientWidth || 480;
      u = new uPlot({
        width, height: 190,
        scales: { x: { time: false } },
        legend: { show: false },
        cursor: { drag: { x: true, y: false } },
        axes: [{ label: "tick", size: 36, labelSize: 14 }, { size: 56, values: (_, vals) => vals.map(compact) }],
        series: [{ label: "tick" }, ...CHARTS[key].series.map((s) => ({ width: 1.5, points: { show: false }, ...s }))],
      }, data, plot);
      state.charts[key] = u;
      new ResizeObserver(() => u.setSize({ width: plot.clientWidth, height: 190 })).observe(plot);
    } else {
      u.setData(data);
    }
    // The caption says what the chart shows, in numbers.
    const last = state.history[state.history.length - 1];
    const stat = $("stat-" + key);
    if (!last) { stat.textContent = ""; continue; }
    const vals = CHARTS[key].pick(last);
    const totals = CHARTS[key].series.map((_, i) => data[i + 1].reduce((a, b) => a + b, 0));
    stat.textContent = key === "work"
      ? "last " + vals[0].toFixed(3) + " · max " + Math.max(...data[1]).toFixed(3)
      : "tick " + last.tick + ": " + vals.map(fmt).join(" · ") + " · over " + data[0].length + " ticks: " + totals.map(fmt).join(" · ");
    fig.dataset.points = String(data[0].length);
    fig.dataset.lastTick = String(last.tick);
    fig.dataset.last = vals.join(",");
    fig.dataset.total = totals.join(",");
  }
}

// ---- the summary ----

function mergeHistory(s) {
  const fresh = s.history || [];
  const lastTick = state.history.length ? state.history[state.history.length - 1].tick : -1;
  for (const t of fresh) if (t.tick > lastTick) state.history.push(t);
  if (state.history.length > HISTORY) state.history.splice(0, state.history.length - HISTORY);
}

function renderSummary(s) {
  const c = s.counts;
  text("run", s.run || "");
  text("tick", c.ticks ? fmt(s.tick) : "–");
  text("rate", s.ticks_per_second ? s.ticks_per_second.toFixed(1) : "–");
  text("nagents", fmt(s.agents_total));
  text("failures", fmt(c.failures));
  text("restarts", fmt(c.restarts));
  text("dead", fmt(c.dead_letters));
  text("delivered", fmt(c.delivered));
  text("fuel", fmt(c.fuel));
  text("inferences", fmt(c.inferences));
  text("repro", s.reproducible ? "yes" : "no");
  text("digest", s.digest || "–");

  const p = $("progress");
  if (s.length && !state.replay) {
    p.hidden = false;
    const done = Math.min(c.ticks, s.length);
    $("progress-fill").style.width = (100 * done / s.length).toFixed(1) + "%";
    let t = fmt(done) + " of " + fmt(s.length) + " ticks";
    if (!s.ended && s.eta_seconds) t += " · ETA " + duration(s.eta_seconds);
    text("progress-text", t);
  } else {
    p.hidden = true;
  }
  renderGroupOptions(s.groups || []);
  renderModels(s.models || []);
  renderEvents();
}

// compact writes an axis value in at most about five characters: 1.5k, 12M.
function compact(v) {
  const a = Math.abs(v);
  for (const [n, unit] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (a >= n) return +(v / n).toPrecision(3) + unit;
  }
  return String(+v.toPrecision(3));
}

function duration(sec) {
  if (sec < 60) return sec.toFixed(0) + " s";
  if (sec < 3600) return Math.floor(sec / 60) + " min " + Math.round(sec % 60) + " s";
  return Math.floor(sec / 3600) + " h " + Math.round((sec % 3600) / 60) + " min";
}

function setStatus(cls, msg) {
  const st = $("status");
  st.className = "pill " + cls;
  st.textContent = msg;
  st.title = msg;
}

// ---- views ----

function renderGroupOptions(groups) {
  const sel = $("agent-group");
  const want = ["", ...groups.map((g) => g.name)];
  const have = [...sel.options].map((o) => o.value);
  if (want.join("\n") === have.join("\n")) return;
  const cur = sel.value;
  sel.replaceChildren(...want.map((g) => {
    const o = el("option", "", g === "" ? "any group" : g);
    o.value = g;
    return o;
  }));
  sel.value = want.includes(cur) ? cur : "";
}

function renderModels(models) {
  fill("models", models.map((m) => row([
    [m.id + "@" + m.version], [m.device + (m.fallback ? " (fallback)" : "")], [m.loaded ? "yes" : "no"], [fmt(m.loads), "n"],
    [fmt(m.requests), "n"], [fmt(m.batched), "n"], [fmt(m.errors), "n"], [fmt(m.runs), "n"],
    [m.runs ? (m.run_time_ns / 1e6 / m.runs).toFixed(3) + " ms" : "–", "n"], [m.fallback || "", "wrap"],
  ])), 10);
}

function renderEvents() {
  const s = state.summary;
  if (!s) return;
  const kinds = new Set([...document.querySelectorAll("#event-filters input[type=checkbox]:checked")].map((i) => i.value));
  const q = $("event-q").value;
  const evs = (s.events || []).filter((e) => kinds.has(e.kind) && e.agent.includes(q)).reverse();
  fill("events", evs.map((e) => row([[e.tick, "n"], [e.kind], [e.agent], [e.detail || "", "wrap"]], e.kind)), 4);
}

async function renderTree() {
  const s = state.summary;
  if (!s) return;
  const groups = s.groups || [];
  const kids = {};
  for (const g of groups) (kids[g.parent || ""] = kids[g.parent || ""] || []).push(g);
  // The first 100 agents of each of the first 50 groups, fetched together
  // (past that, "list agents" pages through them).
  const members = await Promise.all(groups.slice(0, 50).map((g) => getJSON("api/agents?limit=100&group=" + encodeURIComponent(g.name))));
  const byName = {};
  groups.forEach((g, i) => { byName[g.name] = members[i]; });
  const build = (g) => {
    const li = el("li");
    li.dataset.group = g.name;
    const node = li.appendChild(el("div", "node"));
    node.appendChild(el("span", "name", g.name));
    node.appendChild(el("span", "policy", g.strategy
      ? g.strategy + ", on failure " + g.on_failure + ", at most " + g.max_restarts + " restarts in " + g.window + " ticks"
      : "implicit root"));
    for (const st of ["running", "restarting", "stopped"]) {
      const b = badge(st);
      b.textContent = g[st] + " " + st;
      b.dataset.count = String(g[st]);
      b.classList.add("count-" + st);
      node.appendChild(b);
    }
    const r = node.appendChild(el("span", "restarts", g.restarts + " restarts (" + g.in_window + " in window)"));
    r.dataset.restarts = String(g.restarts);
    const link = node.appendChild(el("a", "", "list agents"));
    link.onclick = () => { $("agent-group").value = g.name; state.pages.agents = 0; location.hash = "#agents"; };
    const page = byName[g.name] || { agents: [], matched: g.running + g.restarting + g.stopped };
    const m = li.appendChild(el("div", "members"));
    for (const a of page.agents) {
      const b = badge(a.state);
      b.textContent = a.id + (a.restarts ? " ↻" + a.restarts : "");
      b.title = a.kind + " · " + a.state + " · " + a.restarts + " restarts";
      m.appendChild(b);
    }
    if (page.matched > page.agents.length) m.appendChild(el("span", "empty", "and " + fmt(page.matched - page.agents.length) + " more"));
    const sub = kids[g.name] || [];
    if (sub.length) {
      const ul = li.appendChild(el("ul"));
      sub.forEach((c) => ul.appendChild(build(c)));
    }
    return li;
  };
  $("tree").replaceChildren(...(kids[""] || []).map(build));
}

function pager(kind, page) {
  const p = document.querySelector('.pager[data-for="' + kind + '"]');
  const from = page.matched ? page.offset + 1 : 0;
  const to = page.offset + (page.agents || page.channels).length;
  text(kind + "-page", fmt(from) + "–" + fmt(to) + " of " + fmt(page.matched) + (page.matched !== page.total ? " (" + fmt(page.total) + " in all)" : ""));
  p.querySelector(".prev").disabled = page.offset === 0;
  p.querySelector(".next").disabled = to >= page.matched;
}

async function renderAgents() {
  const q = new URLSearchParams({ offset: state.pages.agents * PAGE, limit: PAGE });
  for (const [k, id] of [["q", "agent-q"], ["state", "agent-state"], ["group", "agent-group"], ["sort", "agent-sort"]]) {
    if ($(id).value) q.set(k, $(id).value);
  }
  const page = await getJSON("api/agents?" + q);
  fill("agents", page.agents.map((a) => {
    const tr = row([
      [a.id, "mono"], [a.kind], [a.group], [""], [fmt(a.restarts), "n"], [fmt(a.messages_in), "n"], [fmt(a.messages_out), "n"],
      [fmt(a.fuel), "n"], [fmt(a.fuel_total), "n"],
      [Object.entries(a.regions || {}).map(([k, v]) => k + " " + v + " B").join(", "), "wrap"],
      [(a.channels || []).join(", "), "wrap"],
      [(a.logs || []).map((l) => "[" + l.tick + " " + l.level + "] " + l.text).join("\n"), "wrap log mono"],
    ]);
    tr.children[3].appendChild(badge(a.state || "running"));
    tr.dataset.agent = a.id;
    return tr;
  }), 12);
  pager("agents", page);
}

async function renderChannels() {
  const q = new URLSearchParams({ offset: state.pages.channels * PAGE, limit: PAGE });
  if ($("channel-q").value) q.set("q", $("channel-q").value);
  const page = await getJSON("api/channels?" + q);
  fill("channels", page.channels.map((c, i) => {
    const tr = row([[c.name, "mono"], [fmt(page.sizes[i]), "n"], [c.members.join(", "), "wrap mono"]]);
    tr.dataset.channel = c.name;
    return tr;
  }), 3);
  pager("channels", page);
}

const VIEWS = { overview: drawCharts, tree: renderTree, agents: renderAgents, channels: renderChannels, models: () => {}, events: renderEvents };

function showView() {
  const v = (location.hash || "#overview").slice(1);
  state.view = VIEWS[v] ? v : "overview";
  for (const name of Object.keys(VIEWS)) $("view-" + name).hidden = name !== state.view;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.view === state.view);
  refreshView();
}

async function refreshView() {
  if (!state.summary) return;
  try {
    await VIEWS[state.view]();
    state.renders++;
    document.body.dataset.rendered = state.view + ":" + state.summary.seq + ":" + state.renders;
  } catch (e) {
    setStatus("bad", String(e.message || e));
  }
}

// ---- polling ----

async function poll() {
  try {
    const after = state.history.length ? "?after=" + state.history[state.history.length - 1].tick : "";
    const s = await getJSON("api/summary" + after);
    if (state.summary && (s.run !== state.summary.run || s.seq < state.summary.seq)) state.history = []; // another run
    mergeHistory(s);
    state.summary = s;
    state.ended = s.ended;
    renderSummary(s);
    await refreshView();
    if (state.replay) {
      setStatus("ended", "replay · tick " + s.tick);
    } else if (s.ended) {
      setStatus("ended", s.end_reason ? "run ended: " + s.end_reason : "run ended · " + fmt(s.counts.ticks) + " ticks");
    } else {
      setStatus("", "live · updated " + new Date().toLocaleTimeString());
    }
  } catch (e) {
    const msg = String(e.message || e);
    if (state.ended) setStatus("ended", "run ended · the host has exited; this is its final view");
    else if (state.summary) setStatus("bad", msg + " · showing tick " + state.summary.tick);
    else setStatus("bad", msg);
  }
  setTimeout(poll, POLL_MS);
}

// ---- replay ----

async function initReplay() {
  let r;
  try {
    r = await getJSON("api/replay");
  } catch (e) {
    return; // a live host: no replay endpoints
  }
  state.replay = r;
  $("replay-bar").hidden = false;
  const slider = $("replay-slider");
  slider.max = String(r.ticks - 1);
  const show = () => {
    slider.value = String(state.replay.tick);
    text("replay-text", "tick " + state.replay.tick + " of " + (state.replay.ticks - 1) + (state.replay.from ? " (from the checkpoint at " + state.replay.from + ")" : ""));
  };
  show();
  const seek = async (t) => {
    t = Math.max(0, Math.min(state.replay.ticks - 1, t));
    setStatus("", "replaying to tick " + t + "…");
    slider.disabled = true;
    try {
      const resp = await fetch("api/replay/seek?tick=" + t, { method: "POST" });
      if (!resp.ok) throw new Error((await resp.text()).trim());
      state.replay = await resp.json();
      state.history = [];
      state.summary = null;
    } catch (e) {
      setStatus("bad", String(e.message || e));
    }
    slider.disabled = false;
    show();
  };
  slider.onchange = () => seek(Number(slider.value));
  $("replay-prev").onclick = () => seek(state.replay.tick - 1);
  $("replay-next").onclick = () => seek(state.replay.tick + 1);
}

// ---- wiring ----

for (const kind of ["agents", "channels"]) {
  const p = document.querySelector('.pager[data-for="' + kind + '"]');
  p.querySelector(".prev").onclick = () => { state.pages[kind] = Math.max(0, state.pages[kind] - 1); refreshView(); };
  p.querySelector(".next").onclick = () => { state.pages[kind]++; refreshView(); };
}
for (const id of ["agent-q", "agent-state", "agent-group", "agent-sort"]) $(id).addEventListener("input", () => { state.pages.agents = 0; refreshView(); });
$("channel-q").addEventListener("input", () => { state.pages.channels = 0; refreshView(); });
$("event-filters").addEventListener("input", renderEvents);
for (const f of document.querySelectorAll("form")) f.addEventListener("submit", (e) => e.preventDefault());
window.addEventListener("hashchange", showView);
showView();
initReplay().then(poll);
