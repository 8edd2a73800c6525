# expect: runtime_error
# what: raises KeyboardInterrupt (must not stop the harness).
raise KeyboardInterrupt
