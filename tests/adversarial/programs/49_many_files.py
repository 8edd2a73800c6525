# expect: runtime_error
# what: creates empty files in its own folder until it cannot (no size, only inodes), and leaves
# them: its folder's inode cap stops it within seconds, and it has no room left for its own
# result file. Its folder, whatever it holds, is removed after the run.
import os
import cadquery as cq
n = 0
try:
    while n < 10_000_000:
        open(f"cbadv__MARKER__{n}", "w").close()
        n += 1
except OSError:
    pass
solid = cq.Workplane().box(1, 1, 1)
