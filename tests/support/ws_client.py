"""An independent WebSocket client for the tests (python3-websockets, legacy API).

Usage: ws_client.py <scenario> <port> [arg]. Connects to 127.0.0.1:<port>,
runs the scenario and prints one result line ("ok ...", or what it saw);
any failed expectation raises, so the exit status is non-zero.

  echo          /echo: subprotocol and Set-Cookie from the 101, no
                extension; text, binary (every length form, 1 MiB), empty
                messages, a fragmented text message with a ping between
                fragments, a ping; then Close 4001 "client bye ✓".
                Prints "ok <server's close code> <its reason, hex>".
  echo-loop     /echo for <arg> seconds, every echo checked: "ok <count>"
  slow          /slow: prints "ok <ms until open>"
  refuse        /refuse: prints "rejected <status> <X-Reason>"
  origin        /echo from a foreign Origin: prints "rejected <status>"
  server-close  /close: sends one message, prints "closed <code> <reason hex>"
  flood         /pause: sends <arg> (default 16) x 1 MiB; prints "progress
                <sends done>" after 1.5 s, then "sent all" once all went
                out, then "ok" after a normal close
  idle          /echo: idle for 0.6 s (the server's pings get answered),
                then one echo: "ok"
  many          <arg> connections to /echo at once, each echoing 5 messages
                of its own (text and binary, up to 4 KiB): "ok <arg>"
  hold          <arg> connections to /echo, one echo each, then "open <arg>";
                waits for the server to close them all and prints
                "closed <code> <count>" for each code seen (most common first)
"""
import asyncio
import os
import sys
import time

import websockets


def out(*args):
    print(*args, flush=True)


def uri(path):
    return "ws://127.0.0.1:%s%s" % (sys.argv[2], path)


def connect(path, **kw):
    kw.setdefault("origin", "http://h8s.test")
    kw.setdefault("open_timeout", 10)
    return websockets.connect(uri(path), max_size=1 << 24, close_timeout=10,
                              ping_interval=None, **kw)


async def echo():
    async with connect("/echo", subprotocols=["nope", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2", ws.subprotocol
        assert ws.extensions == [], ws.extensions
        assert ws.response_headers.get("Set-Cookie") == "app=1", ws.response_headers
        assert "Sec-WebSocket-Extensions" not in ws.response_headers
        msgs = ["hello", "\u03ba\u1f79\u03c3\u03bc\u03b5 \u2713", b"", "", os.urandom(125),
                os.urandom(126), os.urandom(65535), os.urandom(65536), os.urandom(1 << 20),
                "x" * 70000]
        for m in msgs:
            await ws.send(m)
            r = await asyncio.wait_for(ws.recv(), 10)
            assert r == m, (type(m), len(m), len(r))

        async def parts():
            yield "frag"
            await ws.ping(b"between")
            yield "men"
            yield "t\u00e9d"
        await ws.send(parts())
        assert await asyncio.wait_for(ws.recv(), 10) == "fragment\u00e9d"
        await asyncio.wait_for(await ws.ping(b"are you there?"), 10)
        await ws.close(4001, "client bye \u2713")
    out("ok", ws.close_code, ws.close_reason.encode().hex())


async def echo_loop():
    end = time.monotonic() + float(sys.argv[3])
    n = 0
    async with connect("/echo") as ws:
        while time.monotonic() < end:
            m = os.urandom(1 + n % 3000) if n % 2 else "msg %d" % n
            await ws.send(m)
            assert await asyncio.wait_for(ws.recv(), 10) == m
            n += 1
    out("ok", n)


async def slow():
    t0 = time.monotonic()
    async with connect("/slow") as ws:
        ms = int((time.monotonic() - t0) * 1000)
        await ws.send("late")
        assert await asyncio.wait_for(ws.recv(), 10) == "late"
    out("ok", ms)


async def refuse(path, origin):
    try:
        async with connect(path, origin=origin):
            out("accepted")
    except websockets.InvalidStatusCode as e:
        out("rejected", e.status_code, e.headers.get("X-Reason", "-"))


async def server_close():
    async with connect("/close") as ws:
        await ws.send("x")
        try:
            await asyncio.wait_for(ws.recv(), 10)
            out("unexpected message")
        except websockets.ConnectionClosed:
            pass
    out("closed", ws.close_code, ws.close_reason.encode().hex())


async def flood():
    async with connect("/pause") as ws:
        done = 0

        count = int(sys.argv[3]) if len(sys.argv) > 3 else 16

        async def sender():
            nonlocal done
            for k in range(count):
                await ws.send(bytes([k]) * (1 << 20))
                done += 1
        task = asyncio.ensure_future(sender())
        await asyncio.sleep(1.5)
        out("progress", done)
        await asyncio.wait_for(task, 60)
        out("sent all")
    out("ok")


async def idle():
    async with connect("/echo") as ws:
        await asyncio.sleep(0.6)
        await ws.send("after idle")
        assert await asyncio.wait_for(ws.recv(), 10) == "after idle"
    out("ok")


async def many():
    n = int(sys.argv[3])

    async def one(i):
        async with connect("/echo", open_timeout=60) as ws:
            for k in range(5):
                m = ("conn %d msg %d " % (i, k)) * (1 + (i * 7 + k) % 100)
                if k % 2:
                    m = m.encode()
                await ws.send(m)
                r = await asyncio.wait_for(ws.recv(), 30)
                assert r == m, (i, k)
    await asyncio.gather(*(one(i) for i in range(n)))
    out("ok", n)


async def hold():
    n = int(sys.argv[3])
    conns = []
    for i in range(n):
        ws = await connect("/echo")
        await ws.send("hello %d" % i)
        assert await asyncio.wait_for(ws.recv(), 10) == "hello %d" % i
        conns.append(ws)
    out("open", n)
    await asyncio.gather(*(asyncio.wait_for(ws.wait_closed(), 30) for ws in conns))
    codes = {}
    for ws in conns:
        codes[ws.close_code] = codes.get(ws.close_code, 0) + 1
    for code, count in sorted(codes.items(), key=lambda kv: -kv[1]):
        out("closed", code, count)


SCENARIOS = {
    "echo": echo,
    "echo-loop": echo_loop,
    "slow": slow,
    "refuse": lambda: refuse("/refuse", "http://h8s.test"),
    "origin": lambda: refuse("/echo", "http://evil.test"),
    "server-close": server_close,
    "flood": flood,
    "idle": idle,
    "many": many,
    "hold": hold,
}

asyncio.run(asyncio.wait_for(SCENARIOS[sys.argv[1]](), 120))
