"""An independent WebSocket app for the tests (python3-websockets, legacy API).

Listens on 127.0.0.1, port chosen by the kernel and printed as the first
line of stdout. The request path picks the behaviour:

  /echo       echoes every message (text stays text, binary stays binary)
  /refuse     answers 403 with a body instead of switching protocols
  /notfound   answers 404 with a 100000-byte body
  /fragments  sends a fragmented text message with a ping between two
              fragments, a fragmented binary message, then echoes
  /closer     closes with 4002 "server bye" after the first message (also
              /close)
  /pause      reads nothing for 3 s, then consumes everything it gets and
              prints "got <bytes>" when the client closes
  /flood?n=N&size=S
              sends N binary messages of S bytes (byte i of message k is
              (k * 31 + i) & 255), then the text "done", then echoes
  /pinger     pings, and sends "pong-ok" once the pong came
  /big?size=S sends one binary message of S bytes, then echoes
  /drop       drops the TCP connection without a Close after one message

Every 101 carries "Set-Cookie: app=1". For every connection that ends, a
line "closed <path> <code> <reason hex>" is printed. The server exits after 120 s or when stdin closes.
"""
import asyncio
import http
import sys
import urllib.parse

import websockets


def log(*args):
    print(*args, flush=True)


def params(path):
    q = urllib.parse.urlparse(path).query
    return {k: int(v[0]) for k, v in urllib.parse.parse_qs(q).items()}


async def process_request(path, headers):
    route = urllib.parse.urlparse(path).path
    if route == "/refuse":
        return (http.HTTPStatus.FORBIDDEN,
                [("Content-Type", "text/plain"), ("X-Reason", "nope")],
                b"forbidden\n")
    if route == "/notfound":
        return (http.HTTPStatus.NOT_FOUND, [("Content-Type", "text/plain")],
                b"n" * 100000)
    return None


async def echo(ws):
    async for msg in ws:
        await ws.send(msg)


async def handler(ws, path):
    route = urllib.parse.urlparse(path).path
    try:
        if route == "/fragments":
            async def text_parts():
                yield "frag"
                await ws.ping(b"mid")
                yield "men"
                yield "t\u00e9d"
            await ws.send(text_parts())
            await ws.send([b"\x00\x01", b"", b"\x02"])
        elif route == "/pause":
            await asyncio.sleep(3)
            got = 0
            try:
                async for msg in ws:
                    got += len(msg)
            finally:
                log("got", got)
            return
        elif route in ("/closer", "/close"):
            await ws.recv()
            await ws.close(4002, "server bye")
        elif route == "/flood":
            p = params(path)
            for k in range(p["n"]):
                await ws.send(bytes((k * 31 + i) & 255 for i in range(p["size"])))
            await ws.send("done")
            log("flood sent")
        elif route == "/pinger":
            waiter = await ws.ping(b"hi")
            await asyncio.wait_for(waiter, 10)
            await ws.send("pong-ok")
        elif route == "/big":
            await ws.send(b"b" * params(path)["size"])
        elif route == "/drop":
            await ws.recv()
            ws.transport.abort()
            return
        await echo(ws)
    except websockets.ConnectionClosed:
        pass
    finally:
        log("closed", route, ws.close_code, (ws.close_reason or "").encode().hex())


async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=["chat.v1", "chat.v2"],
                                process_request=process_request, max_size=1 << 24,
                                # A small queue, so that a handler that does
                                # not read soon stops reading its socket.
                                max_queue=4,
                                extra_headers=[("Set-Cookie", "app=1")],
                                ping_interval=None, close_timeout=5) as server:
        log(server.sockets[0].getsockname()[1])
        loop = asyncio.get_running_loop()
        stdin_closed = loop.create_future()

        def on_stdin():
            if not sys.stdin.buffer.read1(1) and not stdin_closed.done():
                stdin_closed.set_result(None)

        loop.add_reader(sys.stdin.fileno(), on_stdin)
        try:
            await asyncio.wait_for(stdin_closed, 120)
        except asyncio.TimeoutError:
            pass


asyncio.run(main())
