# expect: ok
# what: sends UDP datagrams to a socket of the test on loopback and on the machine's address.
import socket
import cadquery as cq
sent = []
for host in (b"127.0.0.1", b"__HOST_IP__"):
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"__NAME__", (host, __UDP_PORT__))
        s.close()
        sent.append(host)
    except OSError:
        pass
if sent:
    raise RuntimeError(f"LEAK: sent to {sent}")
solid = cq.Workplane().box(1, 1, 1)
