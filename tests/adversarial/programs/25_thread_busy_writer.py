# expect: ok
# what: a non-daemon thread that keeps burning CPU and printing after the solid is set.
import threading
import cadquery as cq
def spin():
    n = 0
    while True:
        n += 1
        if n % 100000 == 0:
            print("still here", n)
threading.Thread(target=spin, daemon=False).start()
solid = cq.Workplane().box(1, 1, 1)
