"""The status taxonomy: one status per candidate. VSR counts only OK.

Who may set which status is part of the trust boundary: a candidate shares its process with
child.py, so anything child.py can write into result.json a candidate can write too. The zygote
accepts from result.json only CHILD_STATUSES; every other status is decided by trusted code
(the zygote from how the process ended, the harness from what it could check or afford)."""

OK = "ok"
SYNTAX_ERROR = "syntax_error"
RUNTIME_ERROR = "runtime_error"
TIMEOUT = "timeout"
MEMORY_LIMIT = "memory_limit"
CRASHED = "crashed"
NO_RESULT = "no_result"
NOT_A_SOLID = "not_a_solid"
EMPTY = "empty"
INVALID_GEOMETRY = "invalid_geometry"
# The prediction's mesh is over a bound of the trusted side (vertex or face count before
# loading, or the wall-clock/memory bound of checking and scoring it): a model failure.
TOO_COSTLY = "too_costly"
HARNESS_ERROR = "harness_error"
MISSING = "missing"  # no prediction was submitted for a reference id

ALL_STATUSES: tuple[str, ...] = (
    OK, SYNTAX_ERROR, RUNTIME_ERROR, TIMEOUT, MEMORY_LIMIT, CRASHED, NO_RESULT,
    NOT_A_SOLID, EMPTY, INVALID_GEOMETRY, TOO_COSTLY, HARNESS_ERROR, MISSING,
)

# What child.py writes into result.json (and so all a candidate can claim). TIMEOUT and CRASHED
# come from the zygote (wait status, clocks), TOO_COSTLY from the harness, HARNESS_ERROR and
# MISSING from the harness only.
CHILD_STATUSES: tuple[str, ...] = (
    OK, SYNTAX_ERROR, RUNTIME_ERROR, MEMORY_LIMIT, NO_RESULT, NOT_A_SOLID, EMPTY,
    INVALID_GEOMETRY,
)

assert set(CHILD_STATUSES) <= set(ALL_STATUSES)
