// meter2mqtt's web page: the charts' data: history, then the live stream.
// An ES module served from the binary (src/http/api.rs), no build step; app.js is the entry point.
//
// Safety: every string that came from a meter goes into the page with textContent or
// createTextNode (dom.js `el`), never as markup; ids go into URLs through encodeURIComponent.

import { history } from './api.js';
import { shown } from './charts.js';
import { localMidnight } from './dom.js';
import { DAY, HOUR, counterKeys, num, powerKeys } from './quantities.js';

/// The live chart: minute means of the last hour, then every state from the event stream.
export async function loadLive(entry) {
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
export function pushLive(entry) {
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
export async function loadCounters(entry) {
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

