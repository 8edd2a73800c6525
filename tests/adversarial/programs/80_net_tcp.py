# expect: ok
# what: opens TCP connections to a listener of the test on loopback and on the machine's own
# address, and sends its name.
import socket
import cadquery as cq
made = []
# bytes addresses: no codec import (the idna codec may not be importable in the sandbox)
for host in (b"127.0.0.1", b"__HOST_IP__"):
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.5)
        s.connect((host, __PORT__))
        s.sendall(b"__NAME__")
        s.close()
        made.append(host)
    except OSError:
        pass
if made:
    raise RuntimeError(f"LEAK: connected to {made}")
solid = cq.Workplane().box(1, 1, 1)
