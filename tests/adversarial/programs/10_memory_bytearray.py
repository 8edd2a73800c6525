# expect: memory_limit
# what: one 50 GiB allocation.
junk = bytearray(50 * 2**30)
