# expect: ok
# xfail: the sandbox removes candidate folders with shutil.rmtree, which recurses once per level: a 3,000-deep tree raises RecursionError, the sample gets harness_error and the folder stays behind (Sandbox._to_result; the zygote's and Sandbox.close's rmtree of the base fail the same way). Remove iteratively (bottom-up loop, or `rm -rf` whose fts walk is not recursive), and put candidate folders on a size-limited tmpfs
# what: builds a directory tree 3,000 levels deep in its own folder (allowed), then returns a
# valid solid; its folder must still be removed after the run.
import os
import cadquery as cq
for _ in range(3000):
    os.mkdir("cbadv__MARKER__")
    os.chdir("cbadv__MARKER__")
solid = cq.Workplane().box(1, 1, 1)
