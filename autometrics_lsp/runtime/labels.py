"""Label values of every series the runtime writes, keyed by the names in `names.py`."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

from autometrics_lsp.runtime import names
from autometrics_lsp.runtime.functions import FunctionMetrics
from autometrics_lsp.runtime.settings import BuildInfo


def module_label(module_name: str, main_module: ModuleType | None = None) -> str:
    """The `module` label: the module's `__name__`, except that `__main__` is named after what was run.

    `python -m pkg.tool` runs `pkg.tool` (its import name, as an editor derives it from the path);
    `python tool.py` runs the file `tool` (its stem).
    """
    if module_name != "__main__":
        return module_name
    main = main_module if main_module is not None else sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return str(spec.name)
    file = getattr(main, "__file__", None)
    if file:
        return Path(file).stem
    return module_name


def caller_labels(caller: object) -> tuple[str, str]:
    """(caller_function, caller_module): the caller's identity, empty at the top of the stack."""
    if isinstance(caller, FunctionMetrics):
        return caller.function, caller.module
    return "", ""


def calls_labels(
    function: FunctionMetrics, service_name: str, caller: tuple[str, str], result: str, error_type: str = ""
) -> dict[str, str]:
    """`error` appears only when given: it is opt-in, and an absent label reads the same as an empty one."""
    objective = function.objective
    success_rate = objective.success_rate if objective is not None else None
    labels = {
        names.FUNCTION: function.function,
        names.MODULE: function.module,
        names.SERVICE_NAME: service_name,
        names.RESULT: result,
        names.CALLER_FUNCTION: caller[0],
        names.CALLER_MODULE: caller[1],
        names.OBJECTIVE_NAME: objective.name if objective is not None else "",
        names.OBJECTIVE_PERCENTILE: success_rate.value if success_rate is not None else "",
    }
    if error_type:
        labels[names.ERROR] = error_type
    return labels


def duration_labels(function: FunctionMetrics, service_name: str) -> dict[str, str]:
    objective = function.objective
    latency = objective.latency if objective is not None else None
    return {
        names.FUNCTION: function.function,
        names.MODULE: function.module,
        names.SERVICE_NAME: service_name,
        names.OBJECTIVE_NAME: objective.name if objective is not None else "",
        names.OBJECTIVE_PERCENTILE: latency[1].value if latency is not None else "",
        names.OBJECTIVE_LATENCY_THRESHOLD: latency[0].value if latency is not None else "",
    }


def concurrent_labels(function: FunctionMetrics, service_name: str) -> dict[str, str]:
    return {names.FUNCTION: function.function, names.MODULE: function.module, names.SERVICE_NAME: service_name}


def build_info_labels(info: BuildInfo, service_name: str) -> dict[str, str]:
    return {
        names.SERVICE_NAME: service_name,
        names.AUTOMETRICS_VERSION: names.AUTOMETRICS_SPEC_VERSION,
        names.VERSION: info.version,
        names.COMMIT: info.commit,
        names.BRANCH: info.branch,
        names.REPOSITORY_URL: info.repository_url,
        names.REPOSITORY_PROVIDER: info.repository_provider,
    }
