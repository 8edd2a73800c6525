# expect: syntax_error
# what: not Python.
solid = cq.Workplane(.box(1, 1, 1
