# expect: timeout
# what: blocks in a sleep syscall (no CPU used, so only the wall-clock limit can end it).
import time
time.sleep(10**6)
