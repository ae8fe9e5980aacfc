#!/usr/bin/env python3
"""The web page in a real browser: headless Chromium (the system's, Debian's `chromium`)
driven by Playwright for Python. Run by tests/page_browser.rs against a real bridge.

  page-check.py URL [--wait-meters S] [--wait-history S] [--inject TEXT ...] [--screenshot PATH] [--chromium PATH]

Checks (exit 1 with a FAIL line for each one that does not hold):
- every meter /api/meters lists has its card, with its name, its id, and every state value
  exactly as the API gives it (the API's number text, `123.450` stays `123.450`);
- a value changes within 3 s without a reload (the page follows the event stream);
- every chart whose history has values has drawn them (pixels of its series' colours on its
  canvas), asked of /api/meters/{id}/history as the page asks; charts without history yet
  are named;
- the console has no errors and the page raised no exception;
- on a phone-sized viewport nothing is wider than the screen;
- with --inject: every TEXT (markup a telegram carried) is shown as text, the raw telegram
  panel shows the telegram as the API gives it, and no element, script or handler was
  injected (no img/iframe/object, only the page's own two scripts, no on* attributes,
  nothing blocked by the page's Content-Security-Policy).
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

FAILS = []


def check(ok, what):
    print(("ok:   " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        FAILS.append(what)
    return ok


def api(url, path):
    """GET a path relative to the page URL, keeping its ?token= (the text as sent)."""
    base = urllib.parse.urlsplit(url)
    target = urllib.parse.urljoin(url, path)
    token = urllib.parse.parse_qs(base.query).get("token")
    if token:
        target += ("&" if "?" in target else "?") + urllib.parse.urlencode({"token": token[0]})
    with urllib.request.urlopen(target, timeout=10) as r:
        return r.read().decode("utf-8", "replace")


def api_meters(url):
    # Numbers kept as their source text: the page must show exactly these digits.
    text = api(url, "api/meters")
    return json.loads(text, parse_float=str, parse_int=str)["meters"]


CARDS_JS = """() => [...document.querySelectorAll('article.meter')].map((c) => ({
  id: c.dataset.meter,
  name: c.querySelector('.name').innerText,
  ident: c.querySelector('.ident').innerText,
  mtime: c.querySelector('.mtime').innerText,
  big: c.querySelector('.big').innerText,
  values: Object.fromEntries([...c.querySelectorAll('span.v[data-key]')]
    .map((v) => [v.dataset.key, v.innerText])),
}))"""

# For every chart: its data points and the canvas pixels close to each series' colour.
CHARTS_JS = """() => window.m2m.charts.map(({ meter, name, u, colours, keys, from }) => {
  const points = u.data.slice(1).reduce((n, s) => n + s.filter((v) => typeof v === 'number').length, 0);
  const c = u.ctx.canvas;
  const px = c.width && c.height ? u.ctx.getImageData(0, 0, c.width, c.height).data : [];
  const rgb = colours.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
  const hits = rgb.map(() => 0);
  for (let i = 0; i < px.length; i += 4) {
    if (px[i + 3] < 200) continue;
    rgb.forEach(([r, g, b], k) => {
      if (Math.abs(px[i] - r) + Math.abs(px[i + 1] - g) + Math.abs(px[i + 2] - b) < 60) hits[k]++;
    });
  }
  return { meter, name, points, hits, width: c.width, css: c.clientWidth, keys, from };
})"""

INJECT_JS = """() => ({
  foreign: document.querySelectorAll('img, iframe, object, embed, frame, svg, math, form, base').length,
  scripts: [...document.scripts].map((s) => s.getAttribute('src')),
  handlers: [...document.querySelectorAll('*')].filter((e) =>
    [...e.attributes].some((a) => a.name.toLowerCase().startsWith('on'))).length,
  pwned: window.__pwned === undefined ? null : String(window.__pwned),
  violations: window.__violations || [],
  text: document.body.innerText,
  telegrams: [...document.querySelectorAll('pre.telegram')].map((p) => p.textContent),
})"""


def wait_meters(url, timeout_s):
    """Until every input lists its meters and /api/meters has them all: the page is then
    checked against every simulated meter, not the first ones to speak."""
    deadline = time.time() + timeout_s
    why = "no answer"
    while time.time() < deadline:
        try:
            inputs = json.loads(api(url, "api/inputs"))["inputs"]
            have = {m["id"] for m in api_meters(url)}
            silent = [i["name"] for i in inputs if not i.get("meters")]
            missing = [m for i in inputs for m in i.get("meters") or [] if m not in have]
            if inputs and not silent and not missing:
                check(True, f"{len(inputs)} inputs, {len(have)} meters in the API")
                return
            why = f"inputs without meters {silent}, meters not in /api/meters {missing}"
        except OSError as e:
            why = str(e)
        time.sleep(0.5)
    check(False, f"meters did not all appear within {timeout_s} s: {why}")


def wait_history(url, timeout_s):
    """Until the history answers for every meter. It answers 404 for a meter it has not
    written a minute of yet, and the browser logs every 404 as a console error: a bridge
    started for the test has its first rows when its first minute closes."""
    deadline = time.time() + timeout_s
    missing = []
    while time.time() < deadline:
        missing = []
        for m in api_meters(url):
            key = next((q["key"] for q in m.get("quantities") or []), None)
            path = f"api/meters/{urllib.parse.quote(m['id'], safe='')}/history?" + \
                urllib.parse.urlencode({"key": key, "resolution": "minute"})
            try:
                api(url, path)
            except urllib.error.HTTPError:
                missing.append(m["id"])
        if not missing:
            check(True, "the history answers for every meter")
            return
        time.sleep(1)
    check(False, f"no history within {timeout_s} s for {missing}")


def compare_cards(page, url, deadline_s=20):
    """Each card against /api/meters, sampled until the card and the API show the same
    telegram (same meter time): values change every second, so one sample can straddle one."""
    pending = None
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        meters = {m["id"]: m for m in api_meters(url)}
        cards = {c["id"]: c for c in page.evaluate(CARDS_JS)}
        pending = {}
        for mid, m in meters.items():
            c = cards.get(mid)
            if c is None:
                pending[mid] = "no card"
                continue
            st = m.get("state") or {}
            if "time" in st and c["mtime"] != f"meter time {st['time']}":
                pending[mid] = f"card at {c['mtime']!r}, API at {st['time']!r}"
                continue
            wrong = [
                f"{k}: page {c['values'].get(k)!r} API {v!r}"
                for k, v in st.items()
                if k != "time" and c["values"].get(k) != ("" if v is None else str(v))
            ]
            if c["name"] != (m.get("name") or mid):
                wrong.append(f"name: page {c['name']!r} API {m.get('name')!r}")
            if mid not in c["ident"]:
                wrong.append(f"id not shown: {c['ident']!r}")
            if wrong:
                pending[mid] = "; ".join(wrong)
        if not pending:
            check(True, f"{len(meters)} meters shown with the values /api/meters gives: "
                  + ", ".join(sorted(meters)))
            return meters
        time.sleep(0.25)
    check(False, f"meters not shown as /api/meters gives them: {pending}")
    return {}


def value_changes(page):
    page.evaluate("() => { window.__sameDocument = true; }")
    before = {c["id"]: (c["mtime"], c["big"]) for c in page.evaluate(CARDS_JS)}
    t0 = time.time()
    while time.time() - t0 < 3.0:
        now = {c["id"]: (c["mtime"], c["big"]) for c in page.evaluate(CARDS_JS)}
        changed = [i for i in now if i in before and now[i] != before[i]]
        if changed:
            same = page.evaluate("() => window.__sameDocument === true")
            check(same, f"a value changed without a reload after {time.time() - t0:.1f} s "
                  f"({changed[0]}: {before[changed[0]]} -> {now[changed[0]]})")
            return
        time.sleep(0.1)
    check(False, "no value changed within 3 s")


def history_points(url, chart):
    """How many values the history has for what `chart` shows (asked as the page asks)."""
    resolution, field = ("minute", "mean") if chart["name"] == "live" else ("hour", "delta")
    n = 0
    for key in chart["keys"]:
        path = f"api/meters/{urllib.parse.quote(chart['meter'], safe='')}/history?" + \
            urllib.parse.urlencode({"key": key, "resolution": resolution, "from": str(chart["from"])})
        try:
            points = json.loads(api(url, path))["points"]
        except urllib.error.HTTPError:
            points = []
        n += sum(1 for p in points if isinstance(p.get(field), (int, float)))
    return n


def charts_drawn(page, url):
    """Every chart whose history has values has drawn them (pixels of its series' colours);
    one whose history has none yet is named, and must then show nothing but what the event
    stream brought (a live line)."""
    charts = page.evaluate(CHARTS_JS)
    check(len(charts) > 0, f"{len(charts)} charts on the page")
    empty = []
    for c in charts:
        have = history_points(url, c)
        drawn = c["points"] >= 1 and max(c["hits"], default=0) >= 3
        what = f"chart {c['name']} of {c['meter']}: history {have} values, chart {c['points']} " \
            f"points, series pixels {c['hits']}"
        if have:
            check(drawn, what)
        elif c["name"] == "live":
            check(c["points"] == 0 or drawn, what)
            empty.append(f"{c['meter']} {c['name']}")
        else:
            check(c["points"] == 0, what)
            empty.append(f"{c['meter']} {c['name']}")
    drawn = len(charts) - len(empty)
    check(drawn > 0, f"{drawn} of {len(charts)} charts drawn from history"
          + (f"; NO HISTORY YET for {empty}" if empty else ""))


def phone(page):
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(600)
    w = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    widest = max((c["css"] for c in page.evaluate(CHARTS_JS)), default=0)
    # The deepest elements that stick out, to name the culprit when this fails.
    out = page.evaluate("""() => [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5
        && ![...e.children].some((k) => k.getBoundingClientRect().right > window.innerWidth + 0.5))
      .map((e) => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(e.getBoundingClientRect().right)} px`)
      .concat((() => {
        const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT), r = document.createRange(), found = [];
        while (w.nextNode()) {
          r.selectNodeContents(w.currentNode);
          const right = r.getBoundingClientRect().right;
          if (right > window.innerWidth + 0.5) found.push(`text ${JSON.stringify(w.currentNode.textContent.slice(0, 40))} in ${w.currentNode.parentElement.tagName.toLowerCase()}.${w.currentNode.parentElement.className} ${Math.round(right)} px`);
        }
        return found;
      })()).slice(0, 6)""")
    check(w[0] <= w[1] and widest <= w[1],
          f"phone viewport 390 px: page {w[0]} px wide, widest chart {widest} px"
          + (f", sticking out: {out}" if out else ""))


def raw_telegram_panel(page, url):
    """The panel shows a telegram exactly as /api/inputs/{name}/telegram served it. The meter
    sends a new one every 500 ms and the page fetches every 5 s: sample the API's answers
    until the panel's text is one of them."""
    names = [i["name"] for i in json.loads(api(url, "api/inputs"))["inputs"] if i.get("kind") == "p1"]
    served = set()
    deadline = time.time() + 12
    while time.time() < deadline:
        for n in names:
            served.add(api(url, f"api/inputs/{urllib.parse.quote(n, safe='')}/telegram"))
        shown = page.evaluate("() => [...document.querySelectorAll('pre.telegram')].map((p) => p.textContent)")
        if any(t in served for t in shown):
            check(True, "the raw telegram panel shows a telegram exactly as "
                  "/api/inputs/{name}/telegram served it")
            return
        time.sleep(0.1)
    check(False, f"the raw telegram panel shows none of the {len(served)} telegrams the API served")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--screenshot", help="the whole page, as a PNG")
    ap.add_argument("--readme-shot", help="the top of the page (1280 x 1000), as a PNG")
    ap.add_argument("--wait-meters", type=float, default=0,
                    help="first wait up to this many seconds for every input's meters")
    ap.add_argument("--wait-history", type=float, default=0,
                    help="then up to this many seconds until the history has every meter")
    ap.add_argument("--skip-charts", action="store_true",
                    help="a bridge too young for hourly bars: do not check the charts")
    ap.add_argument("--inject", action="append", default=[],
                    help="markup a telegram carried: must be shown as this text")
    args = ap.parse_args()
    errors = []
    if args.wait_meters:
        wait_meters(args.url, args.wait_meters)
    if args.wait_history:
        wait_history(args.url, args.wait_history)
    with sync_playwright() as p:
        # --no-sandbox: the tests run as root in a container, where Chromium's sandbox
        # cannot start; the page is our own, served from loopback.
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: errors.append(f"exception: {e}"))
        page.add_init_script("""window.__violations = [];
          document.addEventListener('securitypolicyviolation',
            (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));""")
        page.goto(args.url)
        try:
            page.wait_for_function("() => window.m2m && window.m2m.ready", timeout=30000)
        except PlaywrightTimeout:
            check(False, "the page did not get ready in 30 s; console: "
                  + "; ".join(dict.fromkeys(errors)))
            sys.exit(1)
        timing = page.evaluate("""() => ({ ready: window.m2m.readyMs, requests: performance.getEntriesByType('resource').length,
          bytes: performance.getEntriesByType('resource').reduce((n, r) => n + (r.transferSize || 0), 0)
            + ((performance.getEntriesByType('navigation')[0] || {}).transferSize || 0) })""")
        print(f"page ready after {timing['ready']} ms: {timing['requests']} requests, "
              f"{timing['bytes']} bytes", flush=True)
        page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")
        meters = compare_cards(page, args.url)
        check(len(meters) > 0, "at least one meter")
        if args.inject:
            page.wait_for_function(
                "() => [...document.querySelectorAll('pre.telegram')].some((p) => p.textContent.startsWith('/'))",
                timeout=15000)
            r = page.evaluate(INJECT_JS)
            for t in args.inject:
                check(t in r["text"], f"shown as text: {t!r}")
            check(r["foreign"] == 0, f"no injected element ({r['foreign']} img/iframe/... found)")
            check(r["scripts"] == ["./uPlot.iife.min.js", "./app.js"],
                  f"only the page's own scripts: {r['scripts']}")
            check(r["handlers"] == 0, f"no on* attribute anywhere ({r['handlers']})")
            check(r["pwned"] is None, f"no injected code ran (window.__pwned = {r['pwned']})")
            v = r["violations"]
            check(not v, f"nothing blocked by the CSP: {len(v)} blocked {sorted(set(v))}")
            raw_telegram_panel(page, args.url)
        else:
            value_changes(page)
            if not args.skip_charts:
                charts_drawn(page, args.url)
        if args.screenshot:
            page.wait_for_timeout(300)
            page.screenshot(path=args.screenshot, full_page=True)
            print(f"screenshot: {args.screenshot}")
        if args.readme_shot:
            # What the README shows: the top of the page in a laptop-sized window.
            page.evaluate("""() => { document.querySelectorAll('details').forEach((d) => { d.open = false; });
              window.scrollTo(0, 0); }""")
            page.wait_for_timeout(300)
            page.screenshot(path=args.readme_shot)
            print(f"screenshot: {args.readme_shot}")
        phone(page)
        browser.close()
    unique = list(dict.fromkeys(errors))
    check(not errors, f"no console errors: {len(errors)} ({len(unique)} different)"
          + "".join(f"\n      {e[:300]}" for e in unique[:8]))
    if FAILS:
        print(f"{len(FAILS)} check(s) failed", flush=True)
        sys.exit(1)
    print("page-check: all checks passed")


if __name__ == "__main__":
    main()
