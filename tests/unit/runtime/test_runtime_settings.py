"""Where service name, build information and buckets come from."""

from __future__ import annotations

import pytest

from autometrics_lsp.runtime.git import GitCheckout
from autometrics_lsp.runtime.names import DEFAULT_BUCKETS
from autometrics_lsp.runtime.settings import (
    UNKNOWN_SERVICE,
    BuildInfo,
    derived_service_name,
    explicit_service_name,
    resolve_build_info,
    validated_buckets,
)

CHECKOUT = GitCheckout(commit="abc123", branch="main", remote_url="git@github.com:acme/shop.git")
BOTH_NAMES = {"AUTOMETRICS_SERVICE_NAME": "from-autometrics-env", "OTEL_SERVICE_NAME": "from-otel-env"}


def test_the_init_argument_names_the_service_first() -> None:
    assert explicit_service_name("from-init", BOTH_NAMES) == "from-init"


def test_then_the_autometrics_variable() -> None:
    assert explicit_service_name(None, BOTH_NAMES) == "from-autometrics-env"


def test_then_the_opentelemetry_variable() -> None:
    assert explicit_service_name(None, {"AUTOMETRICS_SERVICE_NAME": "", "OTEL_SERVICE_NAME": "otel"}) == "otel"


def test_without_any_the_name_is_left_to_derive() -> None:
    assert explicit_service_name(None, {}) is None


def test_an_empty_service_name_argument_is_refused() -> None:
    with pytest.raises(ValueError, match="service_name"):
        explicit_service_name("", {})


def test_a_derived_name_is_the_top_level_package_of_the_first_instrumented_module() -> None:
    assert derived_service_name(["shop.api", "billing.core"], "gunicorn") == "shop"


def test_the_library_itself_never_names_the_service() -> None:
    assert derived_service_name(["autometrics_lsp.demo.shop.api", "__main__"], "tool") == "tool"


def test_with_nothing_instrumented_the_program_run_names_it() -> None:
    assert derived_service_name([], "pkg.tool") == "pkg"


def test_with_nothing_at_all_the_service_is_unknown() -> None:
    assert derived_service_name([], None) == UNKNOWN_SERVICE


def build_info(environ: dict[str, str], **arguments: str | None) -> BuildInfo:
    checkouts_read: list[int] = []

    def read_checkout() -> GitCheckout:
        checkouts_read.append(1)
        return CHECKOUT

    info = resolve_build_info(
        version=arguments.get("version"),
        commit=arguments.get("commit"),
        branch=arguments.get("branch"),
        repository_url=arguments.get("repository_url"),
        repository_provider_name=arguments.get("repository_provider"),
        environ=environ,
        read_checkout=read_checkout,
    )
    assert len(checkouts_read) <= 1, "the checkout is read at most once"
    return info


def test_without_arguments_or_environment_the_checkout_is_read() -> None:
    assert build_info({}) == BuildInfo(
        version="",
        commit="abc123",
        branch="main",
        repository_url="https://github.com/acme/shop",
        repository_provider="github",
    )


def test_arguments_win_over_environment_which_wins_over_git() -> None:
    environ = {
        "AUTOMETRICS_VERSION": "env-version",
        "AUTOMETRICS_COMMIT": "env-commit",
        "AUTOMETRICS_BRANCH": "env-branch",
        "AUTOMETRICS_REPOSITORY_URL": "https://gitlab.com/env/repo",
    }

    info = build_info(environ, version="2.0.0", branch="release")

    assert info == BuildInfo(
        version="2.0.0",
        commit="env-commit",
        branch="release",
        repository_url="https://gitlab.com/env/repo",
        repository_provider="gitlab",
    )


def test_an_empty_variable_switches_git_off_for_that_value() -> None:
    info = build_info({"AUTOMETRICS_COMMIT": "", "AUTOMETRICS_REPOSITORY_PROVIDER": ""})

    assert (info.commit, info.branch, info.repository_provider) == ("", "main", "")


def test_outside_a_checkout_values_are_empty() -> None:
    info = resolve_build_info(
        version=None, commit=None, branch=None, repository_url=None, repository_provider_name=None,
        environ={}, read_checkout=lambda: None,
    )

    assert info == BuildInfo()


def test_default_buckets_are_the_spec_buckets() -> None:
    assert validated_buckets(None) == DEFAULT_BUCKETS


def test_custom_buckets_become_floats() -> None:
    assert validated_buckets([1, 2.5, 10]) == (1.0, 2.5, 10.0)


@pytest.mark.parametrize(
    "buckets", [[], [0.5, 0.1], [0.1, 0.1], [0, 1], [-1, 1], [1, float("inf")], [float("nan")]]
)
def test_buckets_must_be_positive_finite_and_increasing(buckets: list[float]) -> None:
    with pytest.raises(ValueError, match="buckets"):
        validated_buckets(buckets)


def test_buckets_must_be_a_sequence() -> None:
    with pytest.raises(TypeError, match="buckets"):
        validated_buckets("0.1,1")  # type: ignore[arg-type]
