# expect: ok
# what: a non-daemon thread that sleeps forever after the program has set its solid.
import threading
import time
import cadquery as cq
threading.Thread(target=time.sleep, args=(600,), daemon=False).start()
solid = cq.Workplane().box(1, 1, 1)
