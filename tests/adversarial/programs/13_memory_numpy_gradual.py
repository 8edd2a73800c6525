# expect: memory_limit
# what: touches numpy arrays of 80 MB each until memory runs out.
import numpy as np
keep = []
while True:
    keep.append(np.ones(10**7))
