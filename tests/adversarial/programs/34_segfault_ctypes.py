# expect: crashed
# what: reads address 0 through ctypes (SIGSEGV).
import ctypes
ctypes.string_at(0)
