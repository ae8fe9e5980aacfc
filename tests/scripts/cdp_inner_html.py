"""Open a page in headless Chromium and print an element's innerHTML once it contains a
string: the DevTools protocol over --remote-debugging-pipe (fd 3: commands in, fd 4: replies
out, NUL-separated JSON), Python's standard library only.

usage: cdp_inner_html.py CHROMIUM URL SELECTOR NEEDLE TIMEOUT_S USER_DATA_DIR
"""
import json, os, select, subprocess, sys, time

chromium, url, selector, needle, timeout, profile = sys.argv[1:7]
cmd_r, cmd_w = os.pipe()   # we write commands, chromium reads fd 3
out_r, out_w = os.pipe()   # chromium writes fd 4, we read
# The shell puts the pipes on fds 3 and 4 (whatever numbers they have here) and execs.
proc = subprocess.Popen(
    ["sh", "-c", 'exec "$0" "$@" 3<&%d 4>&%d' % (cmd_r, out_w), chromium,
     "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
     "--user-data-dir=" + profile, "about:blank"],
    pass_fds=(cmd_r, out_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(cmd_r); os.close(out_w)
buf = b""
next_id = 0
deadline = time.time() + float(timeout)

def send(method, params=None, session=None):
    global next_id
    next_id += 1
    msg = {"id": next_id, "method": method, "params": params or {}}
    if session:
        msg["sessionId"] = session
    os.write(cmd_w, json.dumps(msg).encode() + b"\0")
    return next_id

def reply(i):
    global buf
    while time.time() < deadline:
        while b"\0" in buf:
            raw, buf = buf.split(b"\0", 1)
            m = json.loads(raw)
            if m.get("id") == i:
                if "error" in m:
                    raise SystemExit("CDP error: %r" % m["error"])
                return m["result"]
        # Never block past the deadline (a page stuck in an alert() answers nothing).
        ready, _, _ = select.select([out_r], [], [], max(0.0, deadline - time.time()))
        if not ready:
            break
        chunk = os.read(out_r, 65536)
        if not chunk:
            raise SystemExit("chromium closed the pipe")
        buf += chunk
    raise SystemExit("timed out")

try:
    target = reply(send("Target.createTarget", {"url": url}))["targetId"]
    session = reply(send("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
    expr = "(function(){var e=document.querySelector(%s);return e?e.innerHTML:''})()" % json.dumps(selector)
    html = ""
    while time.time() < deadline:
        r = reply(send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session))
        html = r.get("result", {}).get("value", "")
        if needle in html:
            break
        time.sleep(0.2)
    print(html)
finally:
    proc.kill()
    proc.wait()
