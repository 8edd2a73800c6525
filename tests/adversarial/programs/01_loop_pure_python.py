# expect: timeout
# what: a pure-Python infinite loop; killed at the wall-clock limit.
while True:
    pass
