# expect: no_result
# what: builds a solid but names it nothing the result rule looks for.
import cadquery as cq
my_part = cq.Workplane().box(1, 1, 1)
