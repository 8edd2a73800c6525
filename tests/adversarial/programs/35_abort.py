# expect: crashed
# what: os.abort() (SIGABRT).
import os
os.abort()
