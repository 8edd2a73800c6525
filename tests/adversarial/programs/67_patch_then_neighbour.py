# expect: ok
# twin: 64_clean_tiny_box
# what: patches cadquery's box() and Workplane globally in its own process (so a later candidate
# in the same warm worker would build the wrong solid if the patch survived), then builds the
# tiny box with the original function.
import cadquery as cq
original_box = cq.Workplane.box
cq.Workplane.box = lambda self, *a, **k: original_box(self, 100, 100, 100)
import builtins
builtins.__import__ = builtins.__import__
solid = original_box(cq.Workplane(), 0.3, 0.2, 0.1)
