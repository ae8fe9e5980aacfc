#!/usr/bin/env python3
"""A real P1 capture with line noise around every telegram, for `meter2mqtt decode`
(docs/reliability.md, "noise" rows; issue 12 §1).

Takes the first 365 telegrams of the real Iskra AM550 capture (nielsbasjes dsmr_tools
`ttyUSB0-raw.full_stream.bin`) and puts 0-16 random bytes from the bytes that matter to a P1
framer (`/ ! ( ) CR LF NUL 0xFF`, digits, letters) before each telegram and after the last.

    scripts/noise-stream.py SEED > noisy.bin
    target/release/meter2mqtt decode noisy.bin | grep -c '"time"'    # 365 states expected
"""
import random
import re
import sys

random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
data = open("tests/fixtures/dsmr/nielsbasjes_dsmr_tools/streams/ttyUSB0-raw.full_stream.bin", "rb").read()
tels = [m.group(0) for m in re.finditer(rb"/[^!]*![0-9A-F]{4}\r\n", data)][:365]
alpha = b"/!()\r\n\x00\xff0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
out = bytearray()
for t in tels:
    out += bytes(random.choice(alpha) for _ in range(random.randint(0, 16)))
    out += t
out += bytes(random.choice(alpha) for _ in range(random.randint(0, 16)))
sys.stdout.buffer.write(out)
print(len(tels), "telegrams", file=sys.stderr)
