"""systemd's notify protocol (Type=notify, WatchdogSec), without systemd: the test
binds the datagram socket systemd would (NOTIFY_SOCKET) and reads what the bridge's
libsystemd sends.

  ready       READY=1 once the bridge runs (after its HTTP endpoint is up)
  watchdog    WATCHDOG=1 at least twice per WATCHDOG_USEC while the loop turns
  stopping    STOPPING=1 on SIGTERM, then exit 0
  no socket   without NOTIFY_SOCKET nothing is sent and nothing fails
"""
import socket
import time


def read_notifications(sock, until, timeout):
    """Datagrams until one satisfies `until` (or the deadline): [(monotonic time, text)]."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = sock.recv(4096)
        except socket.timeout:
            break
        got.append((time.monotonic(), data.decode()))
        if until(got):
            break
    return got


def test_ready_watchdog_stopping(tmp_path, sim, make_bridge):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    try:
        bridge = make_bridge(sim, env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1000000"})
        bridge.start(wait_resync=False)
        got = read_notifications(sock, lambda g: sum(t == "WATCHDOG=1" for _, t in g) >= 4, 10)
        texts = [t for _, t in got]
        assert texts[0] == "READY=1\nSTATUS=running"
        assert bridge.http("/healthz")[0] == 200
        pings = [when for when, t in got if t == "WATCHDOG=1"]
        assert len(pings) >= 4 and set(texts[1:]) == {"WATCHDOG=1"}, texts
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert all(0.3 < g < 0.8 for g in gaps), gaps  # every half interval (tick: 100 ms)
        bridge.proc.terminate()
        got = read_notifications(sock, lambda g: any(t.startswith("STOPPING=1") for _, t in g), 10)
        assert "STOPPING=1\nSTATUS=stopping" in [t for _, t in got]
        assert bridge.proc.wait(20) == 0
    finally:
        sock.close()


def test_without_notify_socket(sim, make_bridge):
    bridge = make_bridge(sim, env={"WATCHDOG_USEC": "1000000"}).start()
    assert bridge.http("/healthz")[0] == 200
    assert bridge.stop() == 0
