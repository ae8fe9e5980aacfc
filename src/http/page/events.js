// meter2mqtt's web page (the live updates: Server-Sent Events of /api/events,
// docs/http-api.md). An ES module served from the binary (src/http/api.rs), no build step;
// app.js is the entry point.
//
// Safety: event data is parsed as JSON, never put into the page as markup.

import { api, parse } from './api.js';

/// Open the event stream: `onState(meter)` for every `state` event, `onAvailability({id,
/// online})`, `onReopen()` when the stream comes back after a gap (to catch up).
export function connect({ onState, onAvailability, onReopen }) {
  const conn = document.getElementById('conn');
  const es = new EventSource(api('api/events'));
  let opened = false;
  es.addEventListener('open', () => {
    conn.textContent = 'live';
    conn.className = 'conn on';
    if (opened) onReopen();
    opened = true;
  });
  es.addEventListener('error', () => {
    conn.textContent = 'reconnecting…';
    conn.className = 'conn off';
  });
  es.addEventListener('state', (ev) => {
    let m = null;
    try { m = parse(ev.data); } catch (e) { console.warn('bad state event', e); }
    if (m) onState(m);
  });
  es.addEventListener('availability', (ev) => {
    let a = null;
    try { a = JSON.parse(ev.data); } catch (e) { console.warn('bad availability event', e); }
    if (a) onAvailability(a);
  });
}
