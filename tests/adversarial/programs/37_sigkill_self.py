# expect: crashed
# what: the candidate SIGKILLs itself without using memory; not an out-of-memory kill.
import os
import signal
os.kill(os.getpid(), signal.SIGKILL)
