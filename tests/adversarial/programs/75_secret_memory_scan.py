# expect: ok
# what: scans its own memory for the secret: the process's original environment block (its
# address from /proc/self/stat) and every live Python object.
import ctypes
import gc
import re
import cadquery as cq
# The key followed by a token-like value (in this program's own source a bracket follows).
pattern = re.compile(rb"__SECRET_NAME__=([A-Za-z0-9_.-]{8,80})")
with open("/proc/self/stat") as f:
    fields = f.read().rsplit(")", 1)[1].split()
env_start, env_end = int(fields[47]), int(fields[48])  # fields 50, 51 of stat(5)
if env_start and env_end > env_start:
    block = ctypes.string_at(env_start, env_end - env_start)
    m = pattern.search(block)
    if m:
        raise RuntimeError(f"LEAK: env block: {m.group(0)!r}")
for o in gc.get_objects():
    for v in (o.values() if isinstance(o, dict) else ()):
        if isinstance(v, (str, bytes)) and len(v) < 4096:
            b = v.encode() if isinstance(v, str) else v
            m = pattern.search(b)
            if m:
                raise RuntimeError(f"LEAK: object: {m.group(0)!r}")
solid = cq.Workplane().box(1, 1, 1)
