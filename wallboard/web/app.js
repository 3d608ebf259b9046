// mtcti3-wallboard page: one tile per queue, kept current over the /stream
// websocket (subprotocol "wallboard"; messages in docs/wallboard.md).  No
// framework, no build step, no external address: the service serves this file.
"use strict";

const state = {
  queues: new Map(),      // id -> record
  config: { title: "Wallboard", stale_seconds: 10, waiting: { warn: 1, alert: 3 },
            wait_seconds: { warn: 30, alert: 60 }, service_level: { warn: 80, alert: 60 } },
  skew: 0,                // service clock - browser clock, ms
  lastMessage: 0,         // performance.now() of the last message
  kafkaOk: false,
  connected: false,
  retry: 500,
};
const tiles = document.getElementById("tiles");
const template = document.getElementById("tile-template");
const LEVELS = ["ok", "warn", "alert"];
const STATES = ["available", "ringing", "busy", "dnd", "absent", "disabled", "logged_out"];

function serverNow() { return Date.now() + state.skew; }

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
}

function percent(share) { return share === null || share === undefined ? "–" : Math.round(share * 100) + "%"; }

// 0 ok, 1 warn, 2 alert: higher is worse (waiting) or lower is worse (service level)
function levelAbove(value, t) { return value >= t.alert ? 2 : value >= t.warn ? 1 : 0; }
function levelBelow(share, t) {
  if (share === null || share === undefined) return 0;
  const p = share * 100;
  return p < t.alert ? 2 : p < t.warn ? 1 : 0;
}

function field(tile, name) { return tile.querySelector('[data-field="' + name + '"]'); }
function setText(el, text) { if (el && el.textContent !== String(text)) el.textContent = String(text); }

function tileFor(id, rec) {
  let tile = tiles.querySelector('[data-id="' + CSS.escape(id) + '"]');
  if (!tile) {
    tile = template.content.firstElementChild.cloneNode(true);
    tile.dataset.id = id;
    tiles.appendChild(tile);
  }
  tile.dataset.queueGuid = rec.queue.guid;
  tile.dataset.extn = rec.queue.extn;
  tile.dataset.pbx = rec.pbx;
  return tile;
}

function renderTile(id, rec) {
  const tile = tileFor(id, rec);
  setText(tile.querySelector(".name"), rec.queue.name || rec.queue.extn);
  setText(tile.querySelector(".extn"), rec.queue.extn);
  setText(tile.querySelector(".pbx"), rec.pbx);
  setText(field(tile, "waiting"), rec.waiting);
  const a = rec.agents;
  setText(field(tile, "agents-available"), a.available);
  for (const k of ["logged_in", "members", "busy", "ringing", "dnd", "absent"])
    setText(field(tile, "agents-" + k.replace("_", "-")), a[k]);
  const mins = Math.round(rec.window.seconds / 60);
  setText(field(tile, "window-label"), rec.window.seconds % 60 ? "last " + rec.window.seconds + " s" : "last " + mins + " min");
  for (const p of ["window", "today"]) {
    const f = rec[p];
    setText(field(tile, p + "-offered"), f.offered);
    setText(field(tile, p + "-answered"), f.answered);
    setText(field(tile, p + "-abandoned"), f.abandoned);
    const sl = field(tile, p + "-service-level");
    setText(sl, percent(f.service_level));
    sl.className = LEVELS[levelBelow(f.service_level, state.config.service_level)];
  }
  const list = tile.querySelector(".agents");
  const items = rec.agent_list.map((ag) => {
    let li = list.querySelector('[data-agent-extn="' + CSS.escape(ag.extn) + '"]');
    if (!li) {
      li = document.createElement("li");
      li.className = "agent";
      li.dataset.agentExtn = ag.extn;
      li.appendChild(document.createElement("span")).className = "who";
      li.appendChild(document.createElement("span")).className = "since";
    }
    li.dataset.state = ag.state;
    li.dataset.since = ag.since_ms;
    li.title = ag.state.replace("_", " ");
    setText(li.firstChild, (ag.name || "?") + " " + ag.extn);
    return li;
  });
  list.replaceChildren(...items);
  tile.dataset.oldest = rec.oldest_waiting_since_ms === null ? "" : rec.oldest_waiting_since_ms;
  tickTile(tile, rec);
}

// the parts that change with time alone: the longest wait, the agents' time in state, the colour
function tickTile(tile, rec) {
  const now = serverNow();
  const oldest = rec.oldest_waiting_since_ms;
  const wait = oldest === null ? 0 : now - oldest;
  setText(field(tile, "longest-wait"), duration(wait));
  for (const li of tile.querySelectorAll(".agent"))
    setText(li.lastChild, duration(now - Number(li.dataset.since)));
  const c = state.config;
  const level = Math.max(levelAbove(rec.waiting, c.waiting),
                         oldest === null ? 0 : levelAbove(wait / 1000, c.wait_seconds),
                         levelBelow(rec.window.service_level, c.service_level));
  for (const l of LEVELS) tile.classList.toggle(l, LEVELS[level] === l);
  tile.dataset.level = LEVELS[level];
}

function sortTiles() {
  const order = [...state.queues.entries()].sort((x, y) =>
    (x[1].pbx + "/" + (x[1].queue.name || x[1].queue.extn)).localeCompare(y[1].pbx + "/" + (y[1].queue.name || y[1].queue.extn)));
  order.forEach(([id], i) => {
    const tile = tiles.querySelector('[data-id="' + CSS.escape(id) + '"]');
    if (tile && tiles.children[i] !== tile) tiles.insertBefore(tile, tiles.children[i] || null);
  });
  document.body.classList.toggle("has-tiles", state.queues.size > 0);
}

function removeTile(id) {
  const tile = tiles.querySelector('[data-id="' + CSS.escape(id) + '"]');
  if (tile) tile.remove();
}

function onMessage(msg) {
  state.lastMessage = performance.now();
  if (msg.now_ms) state.skew = msg.now_ms - Date.now();
  if (typeof msg.kafka_ok === "boolean") state.kafkaOk = msg.kafka_ok;
  if (msg.type === "snapshot") {
    Object.assign(state.config, msg.config || {});
    setText(document.getElementById("title"), state.config.title);
    document.title = state.config.title;
    for (const id of state.queues.keys()) removeTile(id);
    state.queues.clear();
    for (const q of msg.queues) { state.queues.set(q.id, q.record); renderTile(q.id, q.record); }
    sortTiles();
  } else if (msg.type === "queue") {
    state.kafkaOk = true; // a record read: Kafka answers
    if (msg.record) { state.queues.set(msg.id, msg.record); renderTile(msg.id, msg.record); }
    else { state.queues.delete(msg.id); removeTile(msg.id); }
    sortTiles();
  }
}

function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/stream", "wallboard");
  ws.onopen = () => { state.connected = true; state.retry = 500; };
  ws.onmessage = (ev) => { try { onMessage(JSON.parse(ev.data)); } catch (e) { console.error(e); } };
  ws.onclose = () => {
    state.connected = false;
    setTimeout(connect, state.retry);
    state.retry = Math.min(state.retry * 2, 10000);
  };
}

// every quarter second: the clocks, and whether the data is stale
function tick() {
  const now = serverNow();
  setText(document.getElementById("clock"), new Date(now).toLocaleTimeString());
  for (const [id, rec] of state.queues) {
    const tile = tiles.querySelector('[data-id="' + CSS.escape(id) + '"]');
    if (tile) tickTile(tile, rec);
  }
  const silent = state.lastMessage ? (performance.now() - state.lastMessage) / 1000 : Infinity;
  let why = "";
  if (!state.connected) why = "disconnected from the wallboard service";
  else if (silent > state.config.stale_seconds) why = "no data for " + Math.floor(silent) + " s";
  else if (!state.kafkaOk) why = "Kafka unreachable";
  const status = document.getElementById("status");
  const stale = why !== "" && state.lastMessage !== 0;
  document.body.classList.toggle("stale", stale || (why !== "" && state.queues.size > 0));
  status.dataset.status = why ? (state.lastMessage ? "stale" : "connecting") : "live";
  setText(status, why ? (state.lastMessage ? "STALE: " + why : "connecting") : "live");
}

connect();
setInterval(tick, 250);
tick();
