// meter2mqtt's web page: the meters, their charts and the inputs' health, from the JSON API
// (docs/http-api.md) and its Server-Sent Events. Plain script, no build step.
//
// Safety: every string that came from a meter (ids, names, text messages, the raw telegram)
// goes into the page with textContent or createTextNode, never as markup; ids go into URLs
// through encodeURIComponent. A telegram can therefore never inject an element.
'use strict';

(() => {
  const token = new URLSearchParams(location.search).get('token');
  const HOUR = 3600e3;
  const DAY = 24 * HOUR;
  // Keys the page knows by meaning (docs/readings.md: one key, one unit, for every meter).
  const POWER_KEYS = { electricity: ['power_import', 'power_export'], heat: ['power'], cooling: ['power'] };
  const COUNTERS = [
    ['energy_import_total', 'Import'], ['energy_export_total', 'Export'], ['gas', 'Gas'],
    ['water', 'Water'], ['heat_energy', 'Heat'], ['cooling_energy', 'Cooling'],
  ];
  const COLOURS = {
    power_import: '#d9480f', power_export: '#2b8a3e', power: '#c92a2a',
    energy_import_total: '#d9480f', energy_export_total: '#2b8a3e', gas: '#1971c2',
    water: '#0c8599', heat_energy: '#c92a2a', cooling_energy: '#5f3dc4',
  };

  const meters = new Map(); // id -> {m: Meter, card: {...}}
  const charts = []; // {meter, name, u, colours}: scripts/page-check.py inspects them
  const state = (window.m2m = { ready: false, updates: 0, charts, meters });

  /// A relative API URL, keeping `?token=` when the page was opened with one.
  function api(path, params) {
    const q = new URLSearchParams(params || {});
    if (token) q.set('token', token);
    const s = q.toString();
    return s ? `${path}?${s}` : path;
  }

  // The API's numbers are exact decimals (`123.450`); JS numbers would print `123.45`. The
  // reviver keeps each number's source text next to its object (JSON.parse source text access;
  // where a browser lacks it, the number is shown as JS prints it).
  const sources = new WeakMap();
  function parse(text) {
    return JSON.parse(text, function (key, value, ctx) {
      if (typeof value === 'number' && ctx && typeof ctx.source === 'string') {
        let s = sources.get(this);
        if (!s) sources.set(this, (s = {}));
        s[key] = ctx.source;
      }
      return value;
    });
  }
  function exact(obj, key) {
    const s = sources.get(obj);
    if (s && key in s) return s[key];
    const v = obj[key];
    return v === null || v === undefined ? '' : String(v);
  }

  async function getJson(path, params) {
    const r = await fetch(api(path, params), { headers: { Accept: 'application/json' } });
    const text = await r.text();
    if (!r.ok) {
      let reason = text;
      try { reason = JSON.parse(text).error || text; } catch (_) { /* plain text */ }
      throw new Error(`${r.status}: ${reason}`);
    }
    return parse(text);
  }

  /// An element with a class and children; strings become text nodes (never markup).
  function el(tag, cls, ...kids) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k ?? '')));
    return e;
  }
  function fmt(x, digits) {
    if (x === null || x === undefined || !isFinite(x)) return '–';
    return x.toLocaleString(undefined, { maximumFractionDigits: digits });
  }
  function ago(ms) {
    if (!ms) return 'never';
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 90) return `${s} s ago`;
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    return new Date(ms).toLocaleString();
  }
  function num(m, key) {
    const v = m.state ? m.state[key] : undefined;
    return typeof v === 'number' ? v : null;
  }
  function quantity(m, key) {
    return (m.quantities || []).find((q) => q.key === key);
  }
  function unit(m, key) {
    return (quantity(m, key) || {}).unit || '';
  }
  function powerKeys(m) {
    return (POWER_KEYS[m.kind] || []).filter((k) => quantity(m, k));
  }
  function counterKeys(m) {
    return COUNTERS.filter(([k]) => { const q = quantity(m, k); return q && q.counter; });
  }
  function localMidnight(ms) {
    return new Date(ms).setHours(0, 0, 0, 0);
  }

  // ---- charts (uPlot) -------------------------------------------------------------------
  const css = getComputedStyle(document.documentElement);
  const axisColour = css.getPropertyValue('--muted').trim() || '#666';
  const gridColour = css.getPropertyValue('--grid').trim() || '#8883';

  function chart(box, meterId, name, series, bars, range) {
    const axis = { stroke: axisColour, grid: { stroke: gridColour, width: 1 }, ticks: { show: false } };
    const opts = {
      width: Math.max(box.clientWidth, 200),
      height: 130,
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: range ? { time: true, range } : { time: true },
        // Zero always in view (consumption bars grow from it; export bars hang below it).
        y: { range: (u, lo, hi) => uPlot.rangeNum(Math.min(0, lo ?? 0), Math.max(0, hi ?? 1) || 1, 0.1, true) },
      },
      axes: [axis, Object.assign({ size: 55, space: 20 }, axis)],
      series: [{}].concat(series.map((s) => ({
        label: s.label,
        stroke: s.colour,
        fill: bars ? s.colour : s.colour + '22',
        width: bars ? 0 : 1.5,
        spanGaps: !bars,
        points: bars ? { show: false } : {}, // a line's points show where they are sparse (uPlot's default)
        paths: bars ? uPlot.paths.bars({ size: [0.7, 40] }) : undefined,
        value: (u, v) => (v === null || v === undefined ? '–' : `${fmt(Math.abs(v), 3)} ${s.unit}`),
      }))),
    };
    const u = new uPlot(opts, [[], ...series.map(() => [])], box);
    // What it shows, for scripts/page-check.py to ask the history the same (`from` when loaded).
    charts.push({ meter: meterId, name, u, colours: series.map((s) => s.colour), keys: series.map((s) => s.key) });
    new ResizeObserver(() => {
      const w = Math.max(box.clientWidth, 200);
      if (w !== u.width) u.setSize({ width: w, height: 130 });
    }).observe(box);
    return u;
  }

  // ---- one meter's card ------------------------------------------------------------------
  function buildCard(m) {
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

  function renderMeter(entry) {
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

  // ---- history -------------------------------------------------------------------------
  function history(id, key, resolution, from) {
    return getJson(`api/meters/${encodeURIComponent(id)}/history`, { key, resolution, from: String(from) });
  }

  /// The live chart: minute means of the last hour, then every state from the event stream.
  async function loadLive(entry) {
    const { m, card: c } = entry;
    if (!c.live) return;
    const pk = powerKeys(m);
    const from = Date.now() - HOUR;
    shown(c.live, from);
    const answers = await Promise.all(pk.map((k) => history(m.id, k, 'minute', from)));
    const rows = new Map();
    answers.forEach((a, i) => (a.points || []).forEach((p) => {
      if (typeof p.t === 'number' && typeof p.mean === 'number') {
        (rows.get(p.t) || rows.set(p.t, pk.map(() => null)).get(p.t))[i] = p.mean;
      }
    }));
    // History up to its last minute, then the live points the stream brought after it.
    const hist = [...rows.entries()].map(([t, v]) => [t / 1e3, ...v]).sort((a, b) => a[0] - b[0]);
    const end = hist.length ? hist[hist.length - 1][0] + 60 : 0;
    c.liveData = hist.concat((c.liveData || []).filter((r) => r[0] >= end));
    drawLive(c);
  }
  function pushLive(entry) {
    const { m, card: c } = entry;
    const v = powerKeys(m).map((k) => num(m, k));
    if (!c.live || v.every((x) => x === null)) return;
    const t = (m.last_seen_ms || Date.now()) / 1e3;
    (c.liveData || (c.liveData = [])).push([t, ...v]);
    drawLive(c);
  }
  function drawLive(c) {
    const cut = Date.now() / 1e3 - 3600;
    c.liveData = c.liveData.filter((r) => r[0] >= cut);
    c.live.setData(c.live.series.map((_, i) => c.liveData.map((r) => r[i])));
  }

  /// Today's totals, the hourly bars and the daily bars, all from hourly history: local days
  /// are summed from UTC hours (the history's day buckets are UTC days).
  async function loadCounters(entry) {
    const { m, card: c } = entry;
    const ck = counterKeys(m);
    if (!ck.length) return;
    const now = Date.now();
    const midnight = localMidnight(now);
    const from = localMidnight(midnight - 29 * DAY + HOUR);
    shown(c.hourly, midnight);
    shown(c.daily, from);
    const answers = await Promise.all(ck.map(([k]) => history(m.id, k, 'hour', from)));
    const hours = new Map();
    const days = new Map();
    answers.forEach((a, i) => {
      const sign = ck[i][0] === 'energy_export_total' ? -1 : 1;
      let sum = 0;
      let last = null;
      for (const p of a.points || []) {
        if (typeof p.t !== 'number') continue;
        if (typeof p.last === 'number' && p.t >= midnight) last = p.last;
        if (typeof p.delta !== 'number') continue;
        const day = localMidnight(p.t);
        (days.get(day) || days.set(day, ck.map(() => 0)).get(day))[i] += sign * p.delta;
        if (p.t >= midnight) {
          sum += p.delta;
          (hours.get(p.t) || hours.set(p.t, ck.map(() => null)).get(p.t))[i] = sign * p.delta;
        }
      }
      // today = consumption in today's hours + what the counter has advanced since the last one
      if (last !== null) c.base.set(ck[i][0], sum - last);
      else c.base.delete(ck[i][0]);
    });
    const series = (map) => {
      const keys = [...map.keys()].sort((a, b) => a - b);
      return [keys.map((t) => t / 1e3), ...ck.map((_, i) => keys.map((t) => map.get(t)[i]))];
    };
    c.hourly.setData(series(hours));
    c.daily.setData(series(days));
  }

  function shown(u, from) {
    for (const r of charts) if (r.u === u) r.from = from;
  }

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

  // ---- meters ---------------------------------------------------------------------------
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

  // ---- inputs ---------------------------------------------------------------------------
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

  async function loadInputs() {
    try {
      const a = await getJson('api/inputs');
      for (const i of a.inputs || []) renderInput(i);
    } catch (e) {
      console.warn('inputs', e);
    }
  }

  // ---- live updates ---------------------------------------------------------------------
  function connect() {
    const conn = document.getElementById('conn');
    const es = new EventSource(api('api/events'));
    let opened = false;
    es.addEventListener('open', () => {
      conn.textContent = 'live';
      conn.className = 'conn on';
      if (opened) loadMeters().catch((e) => console.warn('meters', e)); // catch up after a gap
      opened = true;
    });
    es.addEventListener('error', () => {
      conn.textContent = 'reconnecting…';
      conn.className = 'conn off';
    });
    es.addEventListener('state', (ev) => {
      let m = null;
      try { m = parse(ev.data); } catch (e) { console.warn('bad state event', e); }
      const entry = m && upsert(m, true);
      if (entry) { state.updates++; pushLive(entry); }
    });
    es.addEventListener('availability', (ev) => {
      let a = null;
      try { a = JSON.parse(ev.data); } catch (e) { console.warn('bad availability event', e); }
      const entry = a && meters.get(a.id);
      if (entry) { entry.m.online = !!a.online; renderMeter(entry); }
    });
  }

  async function start() {
    const apiLink = document.getElementById('api-link');
    if (apiLink) apiLink.href = api('api/meters');
    connect();
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
})();
