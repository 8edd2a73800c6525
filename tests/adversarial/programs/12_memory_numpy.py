# expect: memory_limit
# what: a 298 GiB numpy array.
import numpy as np
a = np.ones((200_000, 200_000))
