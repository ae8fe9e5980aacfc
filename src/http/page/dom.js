// meter2mqtt's web page: building elements from text, formatting.
// An ES module served from the binary (src/http/api.rs), no build step; app.js is the entry point.
//
// Safety: every string that came from a meter goes into the page with textContent or
// createTextNode (dom.js `el`), never as markup; ids go into URLs through encodeURIComponent.

/// An element with a class and children; strings become text nodes (never markup).
export function el(tag, cls, ...kids) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k ?? '')));
  return e;
}
export function fmt(x, digits) {
  if (x === null || x === undefined || !isFinite(x)) return '–';
  return x.toLocaleString(undefined, { maximumFractionDigits: digits });
}
export function ago(ms) {
  if (!ms) return 'never';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return new Date(ms).toLocaleString();
}
export function localMidnight(ms) {
  return new Date(ms).setHours(0, 0, 0, 0);
}
