"""What `init()` settles: service name, build information, buckets, the error-type label. Pure resolution rules.

Every value comes from, in order: the `init()` argument, an environment variable, then a derived default.
An environment variable that is set but empty counts as set (so `AUTOMETRICS_COMMIT=` switches off reading
the commit from git), except for the service name, which is never empty.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from autometrics_lsp.runtime.git import GitCheckout, browsable_repository_url, repository_provider
from autometrics_lsp.runtime.names import DEFAULT_BUCKETS

SERVICE_NAME_ENV = "AUTOMETRICS_SERVICE_NAME"
OTEL_SERVICE_NAME_ENV = "OTEL_SERVICE_NAME"
VERSION_ENV = "AUTOMETRICS_VERSION"
COMMIT_ENV = "AUTOMETRICS_COMMIT"
BRANCH_ENV = "AUTOMETRICS_BRANCH"
REPOSITORY_URL_ENV = "AUTOMETRICS_REPOSITORY_URL"
REPOSITORY_PROVIDER_ENV = "AUTOMETRICS_REPOSITORY_PROVIDER"

UNKNOWN_SERVICE = "unknown_service"
_OWN_PACKAGE = "autometrics_lsp"


@dataclass(frozen=True)
class BuildInfo:
    version: str = ""
    commit: str = ""
    branch: str = ""
    repository_url: str = ""
    repository_provider: str = ""


@dataclass(frozen=True)
class Settings:
    """`service_name` is None when neither `init()` nor the environment names the service: then it is derived
    from the instrumented code when metrics are written (see `resolve_service_name`)."""

    service_name: str | None = None
    build_info: BuildInfo = BuildInfo()
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    record_error_type: bool = False


def explicit_service_name(argument: str | None, environ: Mapping[str, str]) -> str | None:
    if argument is not None:
        if not isinstance(argument, str) or not argument:
            raise ValueError("service_name must be a non-empty string")
        return argument
    return environ.get(SERVICE_NAME_ENV) or environ.get(OTEL_SERVICE_NAME_ENV) or None


def derived_service_name(instrumented_modules: Iterable[str], main_module: str | None) -> str:
    """The top-level package of the first instrumented function outside this library, else of the program run.

    The program run is a poor guess under a launcher (`gunicorn`, `pytest`), so it comes second.
    """
    for module in (*instrumented_modules, main_module or ""):
        top_level = module.partition(".")[0]
        if top_level and top_level not in (_OWN_PACKAGE, "__main__"):
            return top_level
    return UNKNOWN_SERVICE


def resolve_build_info(
    *,
    version: str | None,
    commit: str | None,
    branch: str | None,
    repository_url: str | None,
    repository_provider_name: str | None,
    environ: Mapping[str, str],
    read_checkout: Callable[[], GitCheckout | None],
) -> BuildInfo:
    checkout: list[GitCheckout] = []

    def from_git(attribute: str) -> str:
        if not checkout:
            checkout.append(read_checkout() or GitCheckout())
        return str(getattr(checkout[0], attribute))

    def pick(argument: str | None, variable: str, fallback: Callable[[], str]) -> str:
        if argument is not None:
            return str(argument)
        if variable in environ:
            return environ[variable]
        return fallback()

    url = pick(repository_url, REPOSITORY_URL_ENV, lambda: browsable_repository_url(from_git("remote_url")))
    return BuildInfo(
        version=pick(version, VERSION_ENV, str),
        commit=pick(commit, COMMIT_ENV, lambda: from_git("commit")),
        branch=pick(branch, BRANCH_ENV, lambda: from_git("branch")),
        repository_url=url,
        repository_provider=pick(repository_provider_name, REPOSITORY_PROVIDER_ENV, lambda: repository_provider(url)),
    )


def validated_buckets(buckets: Sequence[float] | None) -> tuple[float, ...]:
    """Histogram bucket bounds in seconds: finite, positive, strictly increasing (+Inf is always added)."""
    if buckets is None:
        return DEFAULT_BUCKETS
    if isinstance(buckets, (str, bytes)) or not isinstance(buckets, Sequence):
        raise TypeError(f"buckets must be a sequence of numbers, got {buckets!r}")
    bounds = tuple(float(bound) for bound in buckets)
    if not bounds:
        raise ValueError("buckets must not be empty")
    if any(not math.isfinite(bound) or bound <= 0 for bound in bounds):
        raise ValueError(f"buckets must be finite and positive (+Inf is added by itself), got {bounds}")
    if any(low >= high for low, high in itertools.pairwise(bounds)):
        raise ValueError(f"buckets must be strictly increasing, got {bounds}")
    return bounds
