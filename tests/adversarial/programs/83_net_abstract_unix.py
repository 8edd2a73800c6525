# expect: ok
# what: connects to an abstract-namespace Unix socket of the test (no file: only a network
# namespace separates it).
import socket
import cadquery as cq
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(0.5)
    s.connect("\0__ABSTRACT_SOCK__")
    s.sendall(b"__NAME__")
    s.close()
except OSError:
    pass
else:
    raise RuntimeError("LEAK: connected to the abstract socket")
solid = cq.Workplane().box(1, 1, 1)
