// meter2mqtt's web page: the uPlot charts.
// An ES module served from the binary (src/http/api.rs), no build step; app.js is the entry point.
//
// Safety: every string that came from a meter goes into the page with textContent or
// createTextNode (dom.js `el`), never as markup; ids go into URLs through encodeURIComponent.

import { charts } from './state.js';
import { fmt } from './dom.js';

const css = getComputedStyle(document.documentElement);
const axisColour = css.getPropertyValue('--muted').trim() || '#666';
const gridColour = css.getPropertyValue('--grid').trim() || '#8883';

export function chart(box, meterId, name, series, bars, range) {
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


/// Record the start of what chart `u` shows (`from`, Unix ms) for scripts/page-check.py.
export function shown(u, from) {
  for (const r of charts) if (r.u === u) r.from = from;
}
