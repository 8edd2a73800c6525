# expect: timeout
# what: floods stdout (several GiB within the limit) and never stops.
import sys
chunk = "x" * (1 << 20)
while True:
    sys.stdout.write(chunk)
