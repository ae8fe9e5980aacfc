// meter2mqtt's web page: the meters, their charts and the inputs' health, from the JSON API
// (docs/http-api.md) and its Server-Sent Events. Plain ES modules, no build step, each a
// file served from the binary (src/http/api.rs): this entry point, api.js (the API client),
// events.js (the event stream), dom.js, quantities.js, charts.js (uPlot), history.js (the
// charts' data), card.js (a meter's card), inputs.js (the inputs panel), state.js.
//
// Safety: every string that came from a meter (ids, names, text messages, the raw telegram)
// goes into the page with textContent or createTextNode, never as markup; ids go into URLs
// through encodeURIComponent. A telegram can therefore never inject an element.

import { api, getJson } from './api.js';
import { buildCard, renderMeter } from './card.js';
import { ago } from './dom.js';
import { connect } from './events.js';
import { loadCounters, loadLive, pushLive } from './history.js';
import { loadInputs } from './inputs.js';
import { charts, meters } from './state.js';

const state = (window.m2m = { ready: false, updates: 0, charts, meters });

async function loadHistory(entry) {
  try {
    await Promise.all([loadLive(entry), loadCounters(entry)]);
    entry.card.status.textContent = '';
  } catch (e) {
    entry.card.status.textContent = `history unavailable (${e.message})`;
    console.warn('history', entry.m.id, e);
  }
  renderMeter(entry);
}

/// Cards in id order, each sub-meter right after its parent.
function placeCards() {
  const list = document.getElementById('meters');
  const ids = [...meters.keys()].sort();
  const order = [];
  for (const id of ids) {
    const p = meters.get(id).m.parent;
    if (p && meters.has(p)) continue;
    order.push(id);
    for (const sub of ids) if (meters.get(sub).m.parent === id) order.push(sub);
  }
  order.forEach((id, i) => {
    const r = meters.get(id).card.root;
    if (list.children[i] !== r) list.insertBefore(r, list.children[i] || null);
  });
}

function upsert(m, fresh) {
  if (!m || typeof m.id !== 'string') return;
  let entry = meters.get(m.id);
  if (!entry) {
    entry = { m, card: buildCard(m) };
    meters.set(m.id, entry);
    document.getElementById('meters').append(entry.card.root);
    placeCards();
    if (fresh) loadHistory(entry);
  }
  entry.m = m;
  renderMeter(entry);
  return entry;
}

async function loadMeters() {
  const a = await getJson('api/meters');
  for (const m of a.meters || []) upsert(m, false);
  placeCards();
  await Promise.all([...meters.values()].map(loadHistory));
}

async function start() {
  const apiLink = document.getElementById('api-link');
  if (apiLink) apiLink.href = api('api/meters');
  connect({
    onState: (m) => {
      const entry = upsert(m, true);
      if (entry) { state.updates++; pushLive(entry); }
    },
    onAvailability: (a) => {
      const entry = meters.get(a.id);
      if (entry) { entry.m.online = !!a.online; renderMeter(entry); }
    },
    onReopen: () => loadMeters().catch((e) => console.warn('meters', e)), // catch up after a gap
  });
  try {
    await loadMeters();
  } catch (e) {
    const n = document.getElementById('notice');
    n.textContent = `Could not load the meters: ${e.message}`;
    n.hidden = false;
  }
  await loadInputs();
  state.readyMs = Math.round(performance.now());
  state.ready = true;
  setInterval(loadInputs, 5000);
  setInterval(() => { for (const e of meters.values()) e.card.seen.textContent = `last seen ${ago(e.m.last_seen_ms)}`; }, 1000);
  // A new hour (or day) gets its bar: the counters' history again every 5 minutes.
  setInterval(() => { for (const e of meters.values()) loadCounters(e).catch((x) => console.warn(x)); }, 300e3);
}

start();
