// meter2mqtt's web page: one meter's card.
// An ES module served from the binary (src/http/api.rs), no build step; app.js is the entry point.
//
// Safety: every string that came from a meter goes into the page with textContent or
// createTextNode (dom.js `el`), never as markup; ids go into URLs through encodeURIComponent.

import { chart } from './charts.js';
import { ago, el, fmt, localMidnight } from './dom.js';
import { exact } from './api.js';
import { COLOURS, DAY, counterKeys, num, powerKeys, quantity, unit } from './quantities.js';

export function buildCard(m) {
  const c = { name: el('h3', 'name', m.name || m.id), avail: el('span', 'avail'), ident: el('div', 'ident'),
    bigValue: el('span', 'value', '–'), bigUnit: el('span', 'unit'), bigLabel: el('span', 'label'),
    today: el('dl', 'today'), todayCells: new Map(), rows: new Map(), tbody: el('tbody'),
    mtime: el('span', 'mtime'), seen: el('span', 'seen'), status: el('p', 'chart-status'),
    base: new Map(), live: null, hourly: null, daily: null, liveData: null };
  c.root = el('article', `meter kind-${m.kind}`, el('header', 'meter-head', c.name, c.avail), c.ident,
    el('div', 'big', c.bigValue, c.bigUnit, c.bigLabel), c.today);
  c.root.dataset.meter = m.id;
  const pk = powerKeys(m);
  if (pk.length) {
    const box = el('div', 'chart live');
    c.root.append(el('h4', null, 'Power, last hour'), box);
    c.live = chart(box, m.id, 'live', pk.map((k) => ({
      label: k === 'power_export' ? 'export' : k === 'power_import' ? 'import' : 'power',
      key: k, colour: COLOURS[k], unit: unit(m, k),
    })), false, () => { const n = Date.now() / 1e3; return [n - 3600, n]; });
  }
  const ck = counterKeys(m);
  if (ck.length) {
    const bars = ck.map(([k, label]) => ({ key: k, label, colour: COLOURS[k], unit: unit(m, k) }));
    // Fixed spans (today's 24 hours, the last 30 days) so a bar's width and place mean the same
    // whatever history there is; half a step of room each side for the first and last bars.
    const spans = {
      hourly: () => { const d = localMidnight(Date.now()); return [d / 1e3 - 1800, (d + DAY) / 1e3 - 1800]; },
      daily: () => { const d = localMidnight(Date.now()); return [(d - 29.5 * DAY) / 1e3, (d + DAY / 2) / 1e3]; },
    };
    for (const [name, title] of [['hourly', 'Today, per hour'], ['daily', 'Last 30 days, per day']]) {
      const box = el('div', `chart ${name}`);
      c.root.append(el('h4', null, title), box);
      c[name] = chart(box, m.id, name, bars, true, spans[name]);
    }
  }
  for (const [k, label] of ck) {
    const v = el('span', 'v', '–');
    c.today.append(el('dt', null, `${label} today`), el('dd', null, v, ' ', el('span', 'u', unit(m, k))));
    c.todayCells.set(k, v);
  }
  c.root.append(c.status, el('details', 'readings', el('summary', null, 'All readings'), el('table', null, c.tbody)),
    el('footer', 'meter-foot', c.mtime, c.seen));
  return c;
}

export function renderMeter(entry) {
  const { m, card: c } = entry;
  c.root.classList.toggle('offline', !m.online);
  c.avail.textContent = m.online ? 'online' : 'offline';
  c.avail.className = m.online ? 'avail on' : 'avail off';
  c.name.textContent = m.name || m.id;
  const ident = [m.id, m.serial && m.serial !== m.id ? `serial ${m.serial}` : '',
    [m.manufacturer, m.model].filter(Boolean).join(' '), m.protocol || '', m.firmware ? `firmware ${m.firmware}` : '',
    m.input ? `input ${m.input}` : '', m.parent ? `on ${m.parent}` : ''].filter(Boolean);
  c.ident.textContent = ident.join(' · ');
  const pk = powerKeys(m);
  if (pk.length) {
    const imp = num(m, pk[0]);
    const exp = pk[1] ? num(m, pk[1]) ?? 0 : 0;
    const net = imp === null ? null : imp - exp;
    c.bigValue.textContent = fmt(net === null ? null : Math.abs(net), 3);
    c.bigUnit.textContent = unit(m, pk[0]);
    const exporting = net !== null && net < 0;
    c.root.classList.toggle('exporting', exporting);
    c.bigLabel.textContent = net === null ? '' : exporting ? 'exporting' : m.kind === 'electricity' ? 'importing' : 'power';
  } else {
    const ck = counterKeys(m)[0];
    c.bigValue.textContent = ck ? exact(m.state || {}, ck[0]) || '–' : '–';
    c.bigUnit.textContent = ck ? unit(m, ck[0]) : '';
    c.bigLabel.textContent = ck ? 'meter reading' : '';
  }
  for (const [k, cell] of c.todayCells) {
    const cur = num(m, k), base = c.base.get(k);
    cell.textContent = cur === null || base === undefined ? '–' : fmt(Math.max(0, cur + base), 3);
  }
  renderReadings(m, c);
  c.mtime.textContent = m.state && typeof m.state.time === 'string' ? `meter time ${m.state.time}` : '';
  c.seen.textContent = `last seen ${ago(m.last_seen_ms)}`;
}

/// Every value of the state, exactly as the API gives it, with its name and unit.
function renderReadings(m, c) {
  const st = m.state || {};
  for (const key of Object.keys(st)) {
    if (key === 'time') continue;
    let row = c.rows.get(key);
    if (!row) {
      const q = quantity(m, key);
      const v = el('span', 'v');
      v.dataset.key = key;
      const tr = el('tr', null, el('th', null, q && q.name ? q.name : key),
        el('td', null, v, ' ', el('span', 'u', q ? q.unit || '' : '')));
      c.tbody.append(tr);
      c.rows.set(key, (row = v));
    }
    const text = exact(st, key);
    if (row.textContent !== text) row.textContent = text;
  }
}

