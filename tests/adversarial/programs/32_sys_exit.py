# expect: runtime_error
# what: sys.exit(0) (SystemExit) in the middle of the program.
import sys
import cadquery as cq
solid = cq.Workplane().box(1, 1, 1)
sys.exit(0)
