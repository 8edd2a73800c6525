# expect: crashed
# xfail: the sandbox reads every SIGKILL it did not send as the kernel OOM killer (zygote._interpret); it should say memory_limit only when the child's peak RSS (wait4 ru_maxrss) neared its memory cap, crashed otherwise
# what: the candidate SIGKILLs itself without using memory; not an out-of-memory kill.
import os
import signal
os.kill(os.getpid(), signal.SIGKILL)
