# expect: ok
# what: bypasses Python's socket module: socket(2) and connect(2) through ctypes.
import ctypes
import socket
import struct
import cadquery as cq
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.socket(2, 1, 0)  # AF_INET, SOCK_STREAM
ok = False
if fd >= 0:
    addr = struct.pack("=H", 2) + struct.pack("!H", __PORT__) + socket.inet_aton("127.0.0.1") + bytes(8)
    ok = libc.connect(fd, ctypes.c_char_p(addr), len(addr)) == 0
    if ok:
        libc.write(fd, b"__NAME__", len(b"__NAME__"))
    libc.close(fd)
if ok:
    raise RuntimeError("LEAK: raw connect succeeded")
solid = cq.Workplane().box(1, 1, 1)
