// meter2mqtt's web page: the keys the page knows by meaning.
// An ES module served from the binary (src/http/api.rs), no build step; app.js is the entry point.
//
// Safety: every string that came from a meter goes into the page with textContent or
// createTextNode (dom.js `el`), never as markup; ids go into URLs through encodeURIComponent.

export const HOUR = 3600e3;
export const DAY = 24 * HOUR;
// Keys the page knows by meaning (docs/readings.md: one key, one unit, for every meter).
export const POWER_KEYS = { electricity: ['power_import', 'power_export'], heat: ['power'], cooling: ['power'] };
export const COUNTERS = [
  ['energy_import_total', 'Import'], ['energy_export_total', 'Export'], ['gas', 'Gas'],
  ['water', 'Water'], ['heat_energy', 'Heat'], ['cooling_energy', 'Cooling'],
];
export const COLOURS = {
  power_import: '#d9480f', power_export: '#2b8a3e', power: '#c92a2a',
  energy_import_total: '#d9480f', energy_export_total: '#2b8a3e', gas: '#1971c2',
  water: '#0c8599', heat_energy: '#c92a2a', cooling_energy: '#5f3dc4',
};

export function num(m, key) {
  const v = m.state ? m.state[key] : undefined;
  return typeof v === 'number' ? v : null;
}
export function quantity(m, key) {
  return (m.quantities || []).find((q) => q.key === key);
}
export function unit(m, key) {
  return (quantity(m, key) || {}).unit || '';
}
export function powerKeys(m) {
  return (POWER_KEYS[m.kind] || []).filter((k) => quantity(m, k));
}
export function counterKeys(m) {
  return COUNTERS.filter(([k]) => { const q = quantity(m, k); return q && q.counter; });
}
