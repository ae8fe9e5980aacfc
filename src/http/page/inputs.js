// meter2mqtt's web page: the inputs panel: health, the last raw P1 telegram, what was decoded from it.
// An ES module served from the binary (src/http/api.rs), no build step; app.js is the entry point.
//
// Safety: every string that came from a meter goes into the page with textContent or
// createTextNode (dom.js `el`), never as markup; ids go into URLs through encodeURIComponent.

import { api, exact, getJson } from './api.js';
import { ago, el } from './dom.js';
import { unit } from './quantities.js';
import { meters } from './state.js';

const inputs = new Map(); // name -> {root, fields, pre, decoded, telegramMs}
function buildInput(i) {
  const box = { link: el('span', 'avail'), dl: el('dl', 'health'), pre: null, decoded: null, telegramMs: null };
  box.root = el('article', 'input', el('header', 'meter-head', el('h3', 'name', i.name), box.link), box.dl);
  box.root.dataset.input = i.name;
  if (i.kind === 'p1') {
    box.pre = el('pre', 'telegram', 'no telegram yet');
    box.decoded = el('div', 'decoded');
    box.root.append(el('div', 'diag', el('div', null, el('h4', null, 'Last telegram'), box.pre),
      el('div', null, el('h4', null, 'Decoded from it'), box.decoded)));
  }
  return box;
}

function renderInput(i) {
  let box = inputs.get(i.name);
  if (!box) {
    box = buildInput(i);
    inputs.set(i.name, box);
    document.getElementById('input-list').append(box.root);
  }
  box.link.textContent = i.connected ? 'link up' : 'link down';
  box.link.className = i.connected ? 'avail on' : 'avail off';
  const rejected = Object.entries(i.rejected || {}).map(([r, n]) => `${r} ${n}`).join(', ');
  const fields = [
    ['kind', i.kind], ['link', i.link], ['line settings', i.line_settings || '–'],
    [i.kind === 'p1' ? 'telegrams accepted' : 'polls answered', i.accepted],
    ['rejected', rejected || 'none'], ['failed polls', i.failed_polls],
    ['reconnects', i.reconnects], ['last data', ago(i.last_data_ms)],
    ['last error', i.last_error ? `${i.last_error} (${ago(i.last_error_ms)})` : 'none'],
    ['meters', (i.meters || []).join(', ') || '–'],
  ];
  box.dl.replaceChildren(...fields.flatMap(([k, v]) => [el('dt', null, k), el('dd', null, v ?? '–')]));
  if (box.pre && i.last_telegram_ms && i.last_telegram_ms !== box.telegramMs) {
    box.telegramMs = i.last_telegram_ms;
    showTelegram(i, box);
  }
}

/// The raw telegram next to the states decoded from it (the meters read through the input).
async function showTelegram(i, box) {
  try {
    const r = await fetch(api(`api/inputs/${encodeURIComponent(i.name)}/telegram`));
    if (!r.ok) return;
    const text = await r.text();
    box.pre.textContent = text;
    const parts = [];
    for (const id of i.meters || []) {
      const e = meters.get(id);
      if (!e) continue;
      const st = e.m.state || {};
      const t = el('table', null, el('caption', null, typeof st.time === 'string' ? `${id} at ${st.time}` : id));
      for (const k of Object.keys(st)) {
        if (k !== 'time') t.append(el('tr', null, el('th', null, k), el('td', null, `${exact(st, k)} ${unit(e.m, k)}`.trim())));
      }
      parts.push(t);
    }
    box.decoded.replaceChildren(...parts);
  } catch (e) {
    console.warn('telegram', i.name, e);
  }
}

export async function loadInputs() {
  try {
    const a = await getJson('api/inputs');
    for (const i of a.inputs || []) renderInput(i);
  } catch (e) {
    console.warn('inputs', e);
  }
}
