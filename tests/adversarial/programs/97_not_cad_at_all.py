# expect: not_a_solid
# what: the result variable holds a string.
solid = "a very convincing solid"
