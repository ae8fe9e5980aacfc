// meter2mqtt's web page: what the modules share; scripts/page-check.py reads it as window.m2m.
// An ES module served from the binary (src/http/api.rs), no build step; app.js is the entry point.
//
// Safety: every string that came from a meter goes into the page with textContent or
// createTextNode (dom.js `el`), never as markup; ids go into URLs through encodeURIComponent.

export const meters = new Map(); // id -> {m: Meter, card: {...}}
export const charts = []; // {meter, name, u, colours, keys, from}: scripts/page-check.py inspects them
