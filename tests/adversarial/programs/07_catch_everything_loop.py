# expect: timeout
# what: swallows every Python-level exception (a harness that stops candidates by raising
# into them would never get out of this loop).
while True:
    try:
        while True:
            pass
    except BaseException:
        pass
