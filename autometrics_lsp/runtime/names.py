"""Metric and label names of the autometrics spec v1.0.0: the ONE place both halves take them from.

The runtime writes these names; the language server builds its queries from them. Nothing here imports
anything but the standard library, so the server can import it without loading the runtime.
"""

AUTOMETRICS_SPEC_VERSION = "1.0.0"

# Names as they appear in the Prometheus exposition.
CALLS_TOTAL = "function_calls_total"
CALLS_DURATION_SECONDS = "function_calls_duration_seconds"
CALLS_CONCURRENT = "function_calls_concurrent"
BUILD_INFO = "build_info"

# Label names.
FUNCTION = "function"
MODULE = "module"
SERVICE_NAME = "service_name"
RESULT = "result"
CALLER_FUNCTION = "caller_function"
CALLER_MODULE = "caller_module"
OLD_CALLER = "caller"  # written by older autometrics libraries instead of caller_function
OBJECTIVE_NAME = "objective_name"
OBJECTIVE_PERCENTILE = "objective_percentile"
OBJECTIVE_LATENCY_THRESHOLD = "objective_latency_threshold"
ERROR = "error"  # opt-in: the exception's class name on result="error"
LE = "le"

RESULT_OK = "ok"
RESULT_ERROR = "error"

# build_info labels.
AUTOMETRICS_VERSION = "autometrics_version"
VERSION = "version"
COMMIT = "commit"
BRANCH = "branch"
REPOSITORY_URL = "repository_url"
REPOSITORY_PROVIDER = "repository_provider"

CALLS_LABELS = (
    FUNCTION,
    MODULE,
    SERVICE_NAME,
    RESULT,
    CALLER_FUNCTION,
    CALLER_MODULE,
    OBJECTIVE_NAME,
    OBJECTIVE_PERCENTILE,
)
DURATION_LABELS = (
    FUNCTION,
    MODULE,
    SERVICE_NAME,
    OBJECTIVE_NAME,
    OBJECTIVE_PERCENTILE,
    OBJECTIVE_LATENCY_THRESHOLD,
)
CONCURRENT_LABELS = (FUNCTION, MODULE, SERVICE_NAME)
BUILD_INFO_LABELS = (
    SERVICE_NAME,
    AUTOMETRICS_VERSION,
    VERSION,
    COMMIT,
    BRANCH,
    REPOSITORY_URL,
    REPOSITORY_PROVIDER,
)

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

# What a reader accepts, so data written by other autometrics libraries (Rust, Go, TypeScript, the older
# Python package) under older names is found too. Used as `{__name__=~"..."}` selectors.
CALLS_NAME_PATTERN = "function_calls(_count)?(_total)?"
DURATION_BUCKET_NAME_PATTERN = "function_calls_duration(_seconds)?_bucket"
CONCURRENT_NAME_PATTERN = "function_calls_concurrent"
BUILD_INFO_NAME_PATTERN = "build_info(_total)?"

DEFAULT_METRICS_PORT = 9464
