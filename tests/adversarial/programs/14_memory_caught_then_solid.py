# expect: ok
# what: hits the memory cap, catches MemoryError, frees it and returns a valid solid: the
# harness must not report memory_limit for a program that recovered.
import cadquery as cq
try:
    junk = bytearray(50 * 2**30)
except MemoryError:
    junk = None
solid = cq.Workplane().box(1, 1, 1)
