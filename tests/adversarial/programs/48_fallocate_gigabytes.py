# expect: ok
# what: reserves disk with posix_fallocate, 200 MiB a file (under the file-size cap), up to
# 40 files (8 GB), in its own folder. Its folder is a size-limited tmpfs, so the reservations
# stop at its size; the disk is never touched. Reports more than 300 MiB reserved as a leak.
import os
import cadquery as cq
reserved = 0
for i in range(40):
    try:
        fd = os.open(f"cbadv-__MARKER__-{i}", os.O_CREAT | os.O_WRONLY, 0o600)
        os.posix_fallocate(fd, 0, 200 << 20)
        os.close(fd)
        reserved += 200 << 20
    except OSError:
        break
if reserved > 300 << 20:
    raise RuntimeError(f"LEAK: reserved {reserved >> 20} MiB")
for i in range(40):
    try:
        os.unlink(f"cbadv-__MARKER__-{i}")
    except OSError:
        pass
solid = cq.Workplane().box(1, 1, 1)
