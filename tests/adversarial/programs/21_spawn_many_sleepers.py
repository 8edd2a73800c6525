# expect: ok
# what: starts up to 200 long sleeping processes (exec'd, each with the marker in its argv),
# then returns a valid solid; none may outlive the candidate.
import subprocess
import cadquery as cq
procs = []
for i in range(200):
    try:
        procs.append(subprocess.Popen(["/bin/sh", "-c", "sleep 600; : cbadv-__MARKER__"]))
    except OSError:
        break
solid = cq.Workplane().box(1, 1, 1)
