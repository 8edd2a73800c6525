# expect: runtime_error
# what: writes a result.json with a status outside the taxonomy.
import os
import sys
f = sys._getframe()
while f is not None and "out_dir" not in f.f_locals:
    f = f.f_back
out_dir = f.f_locals["out_dir"]
with open(os.path.join(out_dir, "result.json"), "w") as fh:
    fh.write('{"status": "excellent", "error": null}')
os._exit(0)
