# expect: memory_limit
# what: grows a list of 16 MiB strings until allocation fails.
chunks = []
while True:
    chunks.append("x" * (16 * 2**20))
