# expect: timeout
# what: a result list holding the same solid ten million times.
import cadquery as cq
solid = [cq.Workplane().box(1, 1, 1).val()] * 10**7
