"""A small asyncio MTCTI3 client, written from the specification.

MTCTI3 is protobuf ``Message`` over a TLS websocket at ``/tpkt/openapi``,
authenticated with HTTP Basic credentials of a service user.  Subprotocol
``openapi`` puts the 4-octet header 00 00 00 01 before each protobuf
payload; ``openapinoframing`` sends bare protobuf.

Every message received is kept in order in ``received``; the ``wait_*``
helpers look through what has arrived and not yet been taken before reading
more, so a test can assert on order and content without racing the socket.
Notifies are not acknowledged unless ``auto_ack`` is set or ``ack`` is
called: the spec says IP Office sends nothing more on a subscription until
the NotifyAck, and tests rely on seeing that.

Usage::

    client = await Mtcti3Client.connect(url, "mtcti3", "secret", cafile=ca, pb=ipo_mtcti3_pb2)
    await client.subscribe(requestid=1, subscribe_id=1, timeout=3600, lines={"flags": 7})
    rr = await client.wait_response(1)
    n = await client.wait_notify(1)
    await client.ack(n)
"""
import asyncio
import base64
import ssl
import time

import websockets

FRAME_HEADER = b"\x00\x00\x00\x01"


class HandshakeRefused(Exception):
    """The server answered the upgrade with an HTTP status instead of 101."""

    def __init__(self, status):
        super().__init__(f"handshake refused with HTTP {status}")
        self.status = status


def _status_of(exc):
    status = getattr(exc, "status_code", None)
    if status is None and getattr(exc, "response", None) is not None:
        status = getattr(exc.response, "status_code", None)
    return status


class Mtcti3Client:
    def __init__(self, ws, pb, framed, auto_ack):
        self.ws = ws
        self.pb = pb
        self.framed = framed
        self.auto_ack = auto_ack
        self.received = []   # every Message, in arrival order
        self._pending = []   # received and not yet taken by a wait_* call
        self.closed = None   # (code, reason) once the server closed

    # ---- connecting ----

    @classmethod
    async def connect(cls, url, user, password, pb, cafile=None, subprotocol="openapi",
                      auto_ack=False, timeout=5.0, extra_headers=None, max_size=16 << 20):
        """Open a session; raises HandshakeRefused with the HTTP status on refusal."""
        headers = {}
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        headers.update(extra_headers or {})
        ctx = None
        if url.startswith("wss:"):
            ctx = ssl.create_default_context(cafile=cafile)
        protocols = [subprotocol] if subprotocol else None
        try:
            ws = await asyncio.wait_for(
                websockets.connect(url, ssl=ctx, subprotocols=protocols, extra_headers=headers,
                                   max_size=max_size, compression=None, open_timeout=timeout),
                timeout)
        except (websockets.exceptions.InvalidStatusCode, websockets.exceptions.InvalidStatus) as e:
            raise HandshakeRefused(_status_of(e)) from e
        return cls(ws, pb, subprotocol != "openapinoframing", auto_ack)

    async def close(self):
        await self.ws.close()

    # ---- sending ----

    def encode(self, msg):
        data = msg.SerializeToString()
        return FRAME_HEADER + data if self.framed else data

    async def send(self, msg):
        await self.ws.send(self.encode(msg))

    async def send_raw(self, data):
        await self.ws.send(data)

    async def _send_payload(self, field, **fields):
        msg = message(self.pb, field, **fields)
        await self.send(msg)
        return msg

    async def subscribe(self, **fields):
        """Message{subscribe{...}}; nested payloads as dicts: lines={"flags": 7}."""
        return await self._send_payload("subscribe", **fields)

    async def subscribecmd(self, **fields):
        return await self._send_payload("subscribecmd", **fields)

    async def subscribeend(self, **fields):
        return await self._send_payload("subscribeend", **fields)

    async def generalcmd(self, **fields):
        return await self._send_payload("generalcmd", **fields)

    async def ack(self, notify):
        msg = self.pb.Message()
        msg.notifyack.subscribe_id = notify.subscribe_id
        msg.notifyack.notify_id = notify.notify_id
        await self.send(msg)

    # ---- receiving ----

    def _decode(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.framed:
            assert data[:4] == FRAME_HEADER, f"bad frame header {data[:4].hex()}"
            data = data[4:]
        msg = self.pb.Message()
        msg.ParseFromString(data)
        return msg

    async def _read_one(self, timeout):
        try:
            data = await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.exceptions.ConnectionClosed as e:
            rcvd = getattr(e, "rcvd", None)
            self.closed = (rcvd.code if rcvd else None, rcvd.reason if rcvd else "")
            raise
        msg = self._decode(data)
        self.received.append(msg)
        self._pending.append(msg)
        if self.auto_ack and msg.WhichOneof("payload") == "notify" and msg.notify.notify_id:
            await self.ack(msg.notify)
        return msg

    async def wait_for(self, predicate, timeout=5.0, what="message"):
        """The first not-yet-taken Message matching predicate (taken from the buffer)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self._pending):
                if predicate(m):
                    del self._pending[i]
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {what} within {timeout}s; pending: "
                                   f"{[str(m).replace(chr(10), ' ') for m in self._pending]}")
            try:
                await self._read_one(left)
            except asyncio.TimeoutError:
                pass

    def drain(self):
        """Take every message received and not yet taken (oldest first)."""
        taken, self._pending = self._pending, []
        return taken

    async def wait_response(self, requestid, timeout=5.0):
        m = await self.wait_for(lambda m: m.WhichOneof("payload") == "response"
                                and m.response.requestid == requestid, timeout,
                                f"RequestResponse {requestid}")
        return m.response

    async def wait_notify(self, subscribe_id=None, kind=None, timeout=5.0, ack=False):
        """The next Notify (of a subscription, of a payload kind); optionally acknowledged."""
        def pred(m):
            return (m.WhichOneof("payload") == "notify"
                    and (subscribe_id is None or m.notify.subscribe_id == subscribe_id)
                    and (kind is None or m.notify.WhichOneof("payload") == kind))
        m = await self.wait_for(pred, timeout, f"Notify sub={subscribe_id} kind={kind}")
        if ack:
            await self.ack(m.notify)
        return m.notify

    async def wait_kind(self, kind, timeout=5.0):
        m = await self.wait_for(lambda m: m.WhichOneof("payload") == kind, timeout, kind)
        return getattr(m, kind)

    async def expect_silence(self, seconds, predicate=lambda m: True):
        """Assert that no (matching) message arrives during the next `seconds`."""
        start = len(self.received)
        deadline = time.monotonic() + seconds
        while True:
            for m in self.received[start:]:
                if predicate(m):
                    raise AssertionError(f"unexpected message: {m}")
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                await self._read_one(left)
            except asyncio.TimeoutError:
                return

    async def wait_closed(self, timeout=5.0):
        """Read until the server closes; returns (code, reason)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                await self._read_one(deadline - time.monotonic())
            except websockets.exceptions.ConnectionClosed:
                self.closed = (self.ws.close_code, self.ws.close_reason)
                return self.closed
            except asyncio.TimeoutError:
                break
        raise TimeoutError("connection still open")

    # ---- call control helpers ----

    async def call_function(self, subscribe_id, requestid, action, callid=0, referencecallid=0,
                            arg1=None, **extra):
        cf = {"action": action}
        if arg1 is not None:
            cf["arg1"] = arg1
        cf.update(extra)
        cc = {"callfunction": cf}
        if callid:
            cc["callid"] = callid
        if referencecallid:
            cc["referencecallid"] = referencecallid
        await self.subscribecmd(requestid=requestid, subscribe_id=subscribe_id, callcontrol=cc)
        return await self.wait_response(requestid)

    async def make_call(self, subscribe_id, requestid, target, referencecallid, **makecall):
        mc = {"target": target}
        mc.update(makecall)
        await self.subscribecmd(requestid=requestid, subscribe_id=subscribe_id,
                                callcontrol={"referencecallid": referencecallid, "makecall": mc})
        return await self.wait_response(requestid)


def message(pb, field, **fields):
    """Message{<field>{...}} built from keyword values (dicts nest), e.g. the
    spec's golden vector: message(pb, "subscribe", requestid=1, subscribe_id=1,
    timeout=3600, lines={"flags": 7})."""
    msg = pb.Message()
    sub = getattr(msg, field)
    _fill(sub, fields)
    if not fields:
        sub.SetInParent()
    return msg


def _fill(pbmsg, fields):
    """Set protobuf fields from keyword values; dicts and lists of dicts nest."""
    for key, value in fields.items():
        if isinstance(value, dict):
            sub = getattr(pbmsg, key)
            sub.SetInParent()
            _fill(sub, value)
        elif isinstance(value, list):
            rep = getattr(pbmsg, key)
            for item in value:
                if isinstance(item, dict):
                    _fill(rep.add(), item)
                else:
                    rep.append(item)
        else:
            setattr(pbmsg, key, value)
