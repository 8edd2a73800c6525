# expect: timeout
# what: a fork bomb that survives failed forks; every process spins.
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
