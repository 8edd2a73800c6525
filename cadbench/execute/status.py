"""The status taxonomy: one status per candidate. VSR counts only OK."""

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
HARNESS_ERROR = "harness_error"
MISSING = "missing"  # no prediction was submitted for a reference id

ALL_STATUSES: tuple[str, ...] = (
    OK, SYNTAX_ERROR, RUNTIME_ERROR, TIMEOUT, MEMORY_LIMIT, CRASHED, NO_RESULT,
    NOT_A_SOLID, EMPTY, INVALID_GEOMETRY, HARNESS_ERROR, MISSING,
)
