"""What the test watches while hostile programs run: listeners that record any contact, and
scans for processes and files the programs leave behind (found by their markers)."""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path


def host_ip() -> str:
    """This machine's address on its default route (no packet is sent)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))
        return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


@dataclass
class Listeners:
    """TCP and UDP on every interface, an abstract and a path Unix socket; each records contacts."""

    unix_path: str
    abstract_name: str
    contacts: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("0.0.0.0", 0))
        self.tcp.listen(64)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("0.0.0.0", 0))
        self.abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.abstract.bind("\0" + self.abstract_name)
        self.abstract.listen(16)
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(self.unix_path)
        os.chmod(self.unix_path, 0o777)
        self.unix.listen(16)
        self.tcp_port = self.tcp.getsockname()[1]
        self.udp_port = self.udp.getsockname()[1]
        for sock, kind in ((self.tcp, "tcp"), (self.abstract, "abstract-unix"),
                           (self.unix, "unix")):
            threading.Thread(target=self._accept, args=(sock, kind), daemon=True).start()
        threading.Thread(target=self._recv_udp, daemon=True).start()

    def _accept(self, sock, kind):
        sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            conn.settimeout(1.0)
            try:
                data = conn.recv(200)
            except OSError:
                data = b""
            conn.close()
            self.contacts.append(f"{kind}: {data.decode(errors='replace')}")

    def _recv_udp(self):
        self.udp.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data, _ = self.udp.recvfrom(200)
            except OSError:
                continue
            self.contacts.append(f"udp: {data.decode(errors='replace')}")

    def close(self):
        self._stop.set()
        for s in (self.tcp, self.udp, self.abstract, self.unix):
            s.close()
        Path(self.unix_path).unlink(missing_ok=True)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def marked_processes(markers: dict[str, str]) -> dict[int, str]:
    """pid -> program name for live (non-zombie) processes carrying one of the markers in their
    name (comm) or command line."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read(f"/proc/{entry}/stat")
        if not stat or stat[stat.rfind(b")") + 2:][:1] in (b"Z", b"X"):
            continue
        text = (_read(f"/proc/{entry}/comm") + b" " + _read(f"/proc/{entry}/cmdline")).decode(
            errors="replace")
        for marker, name in markers.items():
            if marker in text:
                found[int(entry)] = name
    return found


def marked_files(dirs: list[str], markers: dict[str, str], depth: int = 2) -> dict[str, str]:
    """path -> program name for files whose name carries a marker, under `dirs` (shallow)."""
    found = {}
    for root in dirs:
        base_depth = root.rstrip("/").count("/")
        for dirpath, dirnames, filenames in os.walk(root):
            if dirpath.count("/") - base_depth >= depth:
                dirnames[:] = []
            for fn in filenames + dirnames:
                for marker, name in markers.items():
                    if marker in fn:
                        found[os.path.join(dirpath, fn)] = name
    return found
