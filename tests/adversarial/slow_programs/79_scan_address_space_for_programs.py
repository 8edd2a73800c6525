# expect: ok
# what: scans its whole address space (/proc/self/maps, /proc/self/mem) for the text of any
# other program: a GenCAD-Code reference or candidate (their common first statement) and the
# name marker of any other program of this corpus. The warm worker has run references and
# other candidates before it; a candidate forked from a template that never held a program
# finds none. Reports what it found through the error message.
import ctypes
import os
import re
import cadquery as cq
# What is searched for, with a check around each hit that the searching code's own constants
# do not pass: a reference or candidate's first statement must follow "wp_sk", a marker must
# be eight hex digits and a quote.
STATEMENT = b"etch0 = cq.Workplane(cq.Plane(cq.Vector("
MARKER = b"cbadv"
HEX = re.compile(rb"[0-9a-f]{8}'")
own = b"__MARKER__"


def hits(chunk):
    out = []
    i = chunk.find(STATEMENT)
    while i >= 0:
        if chunk[max(0, i - 5):i] == b"wp_sk":
            out.append(b"program " + chunk[i + len(STATEMENT):i + len(STATEMENT) + 12])
        i = chunk.find(STATEMENT, i + 1)
    i = chunk.find(MARKER)
    while i >= 0:
        tail = chunk[i + 5:i + 14]
        if HEX.fullmatch(tail) and tail[:8] != own:
            out.append(b"marker " + tail[:8])
        i = chunk.find(MARKER, i + 1)
    return out

class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


libc = ctypes.CDLL(None, use_errno=True)
libc.process_vm_readv.restype = ctypes.c_ssize_t
buf = ctypes.create_string_buffer(1 << 24)
try:  # /proc/self/mem when this process may open it (not after a uid drop: not dumpable)
    mem = open("/proc/self/mem", "rb", buffering=0)
except OSError:
    mem = None


def read(addr, size):
    if mem is not None:
        mem.seek(addr)
        return mem.read(size)
    local, remote = IoVec(ctypes.addressof(buf), size), IoVec(addr, size)
    n = libc.process_vm_readv(os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    if n <= 0:
        raise OSError(ctypes.get_errno(), "process_vm_readv")
    return buf.raw[:n]


found, scanned = [], 0
with open("/proc/self/maps") as maps:
    regions = [line.split() for line in maps]
for fields in regions:
    start, end = (int(x, 16) for x in fields[0].split("-"))
    # Every readable, writable mapping: the heap, anonymous memory, stacks, data segments (a
    # read-only mapping of a file holds that file, not anything received at run time).
    if "r" not in fields[1] or "w" not in fields[1] or fields[-1] in ("[vvar]", "[vvar_vclock]"):
        continue
    for base in range(start, end, (1 << 24) - 256):  # overlapping chunks: no match cut in two
        try:
            chunk = read(base, min(end - base, 1 << 24))
        except (OSError, ValueError, OverflowError):
            continue
        scanned += len(chunk)
        found += hits(chunk)
if found:
    raise RuntimeError(f"LEAK: {len(set(found))} other programs in memory, e.g. {sorted(set(found))[:3]}")
if scanned < 10 ** 7:
    raise RuntimeError(f"scanned only {scanned} bytes: the scan did not work")
solid = cq.Workplane().box(1, 1, 1)
