# expect: memory_limit
# what: a 50 GiB buffer allocated outside Python's allocator (ctypes).
import ctypes
buf = ctypes.create_string_buffer(50 << 30)
