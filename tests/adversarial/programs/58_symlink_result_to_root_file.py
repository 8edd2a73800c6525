# expect: runtime_error
# what: replaces its result.json with a symlink to a root-only JSON file holding a secret, then
# exits; a harness that follows the link would copy the secret into the results.
import os
import sys
f = sys._getframe()
while f is not None and "out_dir" not in f.f_locals:
    f = f.f_back
out_dir = f.f_locals["out_dir"] if f is not None else os.getcwd()
os.symlink("__ROOT_SECRET_JSON__", os.path.join(out_dir, "result.json"))
os._exit(0)
