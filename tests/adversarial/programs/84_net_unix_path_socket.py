# expect: ok
# what: connects to a world-writable Unix socket file of the test in /tmp (like an X11 or a
# Docker socket left open to all users).
import socket
import cadquery as cq
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(0.5)
    s.connect("__UNIX_SOCK__")
    s.sendall(b"__NAME__")
    s.close()
except OSError:
    pass
else:
    raise RuntimeError("LEAK: connected to the unix socket file")
solid = cq.Workplane().box(1, 1, 1)
