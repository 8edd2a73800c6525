# expect: crashed
# what: lifts the recursion limit and recurses through C code (map), overflowing the C stack
# (SIGSEGV).
import sys
sys.setrecursionlimit(10**8)
def f():
    return list(map(lambda _: f(), [0]))
f()
