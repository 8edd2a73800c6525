# expect: runtime_error
# what: unbounded recursion (RecursionError).
def f(n):
    return f(n + 1)
f(0)
