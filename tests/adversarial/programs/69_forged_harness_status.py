# expect: runtime_error
# what: writes a result.json claiming `harness_error` (a fault of the harness, re-run on resume
# and kept out of the model's failures) and exits: only the statuses child.py writes are
# accepted from a candidate, so this is the candidate's own runtime_error.
import json
import os
with open("result.json", "w") as fh:
    json.dump({"status": "harness_error", "error": "forged"}, fh)
os._exit(0)
