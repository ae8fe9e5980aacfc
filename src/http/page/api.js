// meter2mqtt's web page: the JSON API client: relative URLs, the token, exact decimals.
// An ES module served from the binary (src/http/api.rs), no build step; app.js is the entry point.
//
// Safety: every string that came from a meter goes into the page with textContent or
// createTextNode (dom.js `el`), never as markup; ids go into URLs through encodeURIComponent.

const token = new URLSearchParams(location.search).get('token');

/// A relative API URL, keeping `?token=` when the page was opened with one.
export function api(path, params) {
  const q = new URLSearchParams(params || {});
  if (token) q.set('token', token);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

// The API's numbers are exact decimals (`123.450`); JS numbers would print `123.45`. The
// reviver keeps each number's source text next to its object (JSON.parse source text access;
// where a browser lacks it, the number is shown as JS prints it).
const sources = new WeakMap();
export function parse(text) {
  return JSON.parse(text, function (key, value, ctx) {
    if (typeof value === 'number' && ctx && typeof ctx.source === 'string') {
      let s = sources.get(this);
      if (!s) sources.set(this, (s = {}));
      s[key] = ctx.source;
    }
    return value;
  });
}
export function exact(obj, key) {
  const s = sources.get(obj);
  if (s && key in s) return s[key];
  const v = obj[key];
  return v === null || v === undefined ? '' : String(v);
}

export async function getJson(path, params) {
  const r = await fetch(api(path, params), { headers: { Accept: 'application/json' } });
  const text = await r.text();
  if (!r.ok) {
    let reason = text;
    try { reason = JSON.parse(text).error || text; } catch (_) { /* plain text */ }
    throw new Error(`${r.status}: ${reason}`);
  }
  return parse(text);
}


/// One series of the history (docs/history.md).
export function history(id, key, resolution, from) {
  return getJson(`api/meters/${encodeURIComponent(id)}/history`, { key, resolution, from: String(from) });
}

