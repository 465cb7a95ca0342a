"""Settings: every key, defaults, validation with problem lines, merging, the env fallback and secret masking."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from autometrics_lsp.settings import (
    SETTING_KEYS,
    BasicAuth,
    LinkTarget,
    Settings,
    converter,
    load_settings,
    mask_url_credentials,
    parse_promql_duration,
    split_url_credentials,
)

TOKEN = "tok-7f3a9c-SECRET"
PASSWORD = "pw-41d2-SECRET"
HEADER_SECRET = "apikey-9e1b-SECRET"
NO_ENV: dict[str, str] = {}

SPEC_KEYS = {
    "prometheusUrl", "timeout", "window", "bearerToken", "basicAuth", "headers", "tlsVerify", "linkTarget",
    "grafanaUrl", "grafanaDatasource", "codeLens", "inlayHints", "refreshInterval",
}  # fmt: skip


def load(*sources: Any, env: dict[str, str] = NO_ENV) -> tuple[Settings, list[str]]:
    return load_settings(*sources, env=env)


def test_setting_keys_are_the_spec_keys_in_camel_case() -> None:
    assert set(SETTING_KEYS) == SPEC_KEYS
    assert len(SETTING_KEYS) == len(SPEC_KEYS)


def test_nothing_given_means_every_default_of_the_spec() -> None:
    settings, problems = load()

    assert problems == []
    assert settings == Settings()
    assert settings.prometheus_url == "http://localhost:9090"
    assert settings.timeout == 1.0
    assert settings.window == "5m"
    assert settings.bearer_token is None and settings.basic_auth is None
    assert dict(settings.headers) == {}
    assert settings.tls_verify is True
    assert settings.link_target == "prometheus" and settings.link_target is LinkTarget.PROMETHEUS
    assert settings.grafana_url is None and settings.grafana_datasource is None
    assert settings.code_lens is True and settings.inlay_hints is False
    assert settings.refresh_interval == 0


@pytest.mark.parametrize(
    ("key", "wire_value", "attribute", "expected"),
    [
        ("prometheusUrl", "https://prom.example.com/select/0/prometheus/", "prometheus_url",
         "https://prom.example.com/select/0/prometheus"),
        ("prometheusUrl", "http://[::1]:9090", "prometheus_url", "http://[::1]:9090"),
        ("timeout", 2.5, "timeout", 2.5),
        ("timeout", 3, "timeout", 3.0),
        ("window", "1h30m", "window", "1h30m"),
        ("bearerToken", TOKEN, "bearer_token", TOKEN),
        ("basicAuth", {"username": "ann", "password": PASSWORD}, "basic_auth", BasicAuth("ann", PASSWORD)),
        ("basicAuth", {"username": "ann"}, "basic_auth", BasicAuth("ann", "")),
        ("headers", {"X-Scope-OrgID": "team-a"}, "headers", {"X-Scope-OrgID": "team-a"}),
        ("tlsVerify", False, "tls_verify", False),
        ("linkTarget", "prometheus3", "link_target", LinkTarget.PROMETHEUS3),
        ("grafanaUrl", "https://grafana.example.com/", "grafana_url", "https://grafana.example.com"),
        ("grafanaDatasource", "P1809F7CD0C75ACF3", "grafana_datasource", "P1809F7CD0C75ACF3"),
        ("codeLens", False, "code_lens", False),
        ("inlayHints", True, "inlay_hints", True),
        ("refreshInterval", 30, "refresh_interval", 30.0),
    ],
)  # fmt: skip
def test_each_key_is_read_from_the_wire(key: str, wire_value: Any, attribute: str, expected: Any) -> None:
    settings, problems = load({key: wire_value})

    assert problems == []
    assert getattr(settings, attribute) == expected


def test_tls_verify_takes_a_ca_bundle_path_with_the_home_directory_expanded(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not parsed here\n")

    settings, problems = load({"tlsVerify": str(bundle)})
    assert problems == [] and settings.tls_verify == str(bundle)

    home_relative = "~/" + os.path.relpath(bundle, Path.home())
    settings, problems = load({"tlsVerify": home_relative})
    assert problems == [] and settings.tls_verify == str(bundle)


def test_link_target_grafana_with_a_grafana_url() -> None:
    settings, problems = load({"linkTarget": "grafana", "grafanaUrl": "http://127.0.0.1:3000"})

    assert problems == []
    assert settings.link_target == "grafana"


@pytest.mark.parametrize(
    ("key", "bad_value", "reason"),
    [
        ("prometheusUrl", "localhost:9090", "must start with http:// or https://"),
        ("prometheusUrl", "ftp://example.com", "must start with http:// or https://"),
        ("prometheusUrl", "http://", "has no host"),
        ("prometheusUrl", "http://prom:9090/?x=1", "must not have a ?query or #fragment"),
        ("prometheusUrl", "http://prom:9090/#top", "must not have a ?query or #fragment"),
        ("prometheusUrl", "http://prom:99999", "is not a valid URL"),
        ("prometheusUrl", "http://prom :9090", "without blanks"),
        ("prometheusUrl", 9090, "must be a string"),
        ("timeout", 0, "must be a positive number of seconds"),
        ("timeout", -1, "must be a positive number of seconds"),
        ("timeout", "1s", "must be a number"),
        ("timeout", True, "must be a number"),
        ("window", "5 minutes", "must be a PromQL duration"),
        ("window", "5m30", "must be a PromQL duration"),
        ("window", "1.5h", "must be a PromQL duration"),
        ("window", "30m1h", "must be a PromQL duration"),
        ("window", "0s", "longer than zero"),
        ("window", 300, "must be a string"),
        ("bearerToken", "", "must not be empty"),
        ("bearerToken", 12345, "must be a string"),
        ("basicAuth", "ann:secret", "must be an object"),
        ("basicAuth", {"password": "x"}, "needs a username"),
        ("basicAuth", {"username": "ann", "pass": "x"}, 'has unknown key "pass"'),
        ("basicAuth", {"username": "ann", "password": 7}, "password must be a string"),
        ("headers", ["X-Scope-OrgID: a"], "must be an object of strings"),
        ("headers", {"X-Count": 3}, "must be an object of strings"),
        ("headers", {"Bad Name": "x"}, "is not a valid HTTP header name"),
        ("headers", {"X-Injected": "a\r\nHost: evil"}, "contains a line break"),
        ("tlsVerify", "/nonexistent/ca.pem", "existing CA bundle"),
        ("tlsVerify", "yes", "existing CA bundle"),
        ("tlsVerify", 1, "must be true, false or the path of a CA bundle"),
        ("linkTarget", "kibana", 'must be one of "prometheus", "prometheus3", "grafana"'),
        ("grafanaUrl", "grafana.local", "must start with http:// or https://"),
        ("grafanaDatasource", 42, "must be a string"),
        ("codeLens", "false", "must be true or false"),
        ("inlayHints", 1, "must be true or false"),
        ("refreshInterval", -5, "must be 0 (off) or at least 1 second"),
        ("refreshInterval", 0.2, "must be 0 (off) or at least 1 second"),
        ("refreshInterval", float("inf"), "must be 0 (off) or at least 1 second"),
    ],
)  # fmt: skip
def test_a_bad_value_falls_back_to_the_default_with_a_problem_naming_key_value_and_default(
    key: str, bad_value: Any, reason: str
) -> None:
    settings, problems = load({key: bad_value, "codeLens": False} if key != "codeLens" else {key: bad_value})

    default_wire_value = converter.unstructure(Settings())[key]
    assert converter.unstructure(settings)[key] == default_wire_value
    if key != "codeLens":
        assert settings.code_lens is False, "one bad key must not cost the others"
    [problem] = problems
    assert problem.startswith(f"{key}: ")
    assert reason in problem
    if key not in ("bearerToken", "basicAuth", "headers"):
        assert json.dumps(bad_value) in problem
    if default_wire_value is None:
        assert problem.endswith("; ignored")
    else:
        assert problem.endswith(f"; using the default {json.dumps(default_wire_value)}")


def test_unknown_keys_are_ignored_with_a_problem_line_and_a_suggestion() -> None:
    settings, problems = load({"prometheus_url": "http://elsewhere:9090", "colour": "blue", "window": "1m"})

    assert settings.prometheus_url == "http://localhost:9090"
    assert settings.window == "1m"
    assert problems == [
        'unknown setting "prometheus_url" ignored (did you mean "prometheusUrl"?)',
        'unknown setting "colour" ignored',
    ]


def test_prometheus_url_env_is_the_fallback_when_no_source_sets_it() -> None:
    env = {"PROMETHEUS_URL": "http://from-env:9090/"}

    assert load(env=env)[0].prometheus_url == "http://from-env:9090"
    assert load({"timeout": 2}, None, env=env)[0].prometheus_url == "http://from-env:9090"
    assert load({"prometheusUrl": "http://from-init:9090"}, env=env)[0].prometheus_url == "http://from-init:9090"
    assert load(None, {"prometheusUrl": "http://from-config:9090"}, env=env)[0].prometheus_url == (
        "http://from-config:9090"
    )


def test_a_bad_prometheus_url_env_names_the_variable() -> None:
    settings, problems = load(env={"PROMETHEUS_URL": "prometheus:9090"})

    assert settings.prometheus_url == "http://localhost:9090"
    [problem] = problems
    assert problem.startswith("prometheusUrl (from $PROMETHEUS_URL): must start with http:// or https://")


def test_load_settings_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_URL", "http://from-process-env:9090")

    assert load_settings()[0].prometheus_url == "http://from-process-env:9090"


def test_later_sources_override_earlier_ones_key_by_key() -> None:
    initialization_options = {"prometheusUrl": "http://init:9090", "timeout": 3, "window": "1m"}
    configuration = {"autometrics": {"timeout": 0.5, "window": None, "codeLens": False}}

    settings, problems = load(initialization_options, configuration)

    assert problems == []
    assert settings.prometheus_url == "http://init:9090"  # only the first source sets it
    assert settings.timeout == 0.5  # the later source wins
    assert settings.window == "1m"  # null means "not set here"
    assert settings.code_lens is False


def test_an_invalid_later_value_falls_back_to_the_default_not_to_the_earlier_value() -> None:
    settings, problems = load({"timeout": 3}, {"timeout": -1})

    assert settings.timeout == 1.0
    assert len(problems) == 1 and problems[0].startswith("timeout: ")


def test_both_bare_and_wrapped_objects_are_accepted() -> None:
    bare, _ = load({"window": "10m"})
    wrapped, _ = load({"autometrics": {"window": "10m"}})

    assert bare == wrapped
    assert bare.window == "10m"


@pytest.mark.parametrize("garbage", [None, [], ["prometheusUrl"], "http://x:9090", 42, 1.5, True, {"autometrics": 5}])
def test_garbage_sources_are_tolerated(garbage: Any) -> None:
    settings, problems = load(garbage, {"timeout": 2})

    assert settings.timeout == 2.0
    assert all(isinstance(problem, str) for problem in problems)


def test_credentials_in_the_url_become_basic_auth_and_leave_the_url() -> None:
    settings, problems = load({"prometheusUrl": f"https://ann%40corp:{PASSWORD.replace('-', '%2D')}@prom.example/p/"})

    assert problems == []
    assert settings.prometheus_url == "https://prom.example/p"
    assert settings.basic_auth == BasicAuth("ann@corp", PASSWORD)


def test_credentials_in_the_url_are_dropped_when_basic_auth_is_set_too() -> None:
    settings, problems = load(
        {"prometheusUrl": f"http://eve:{PASSWORD}@prom:9090", "basicAuth": {"username": "ann", "password": "x"}}
    )

    assert settings.prometheus_url == "http://prom:9090"
    assert settings.basic_auth == BasicAuth("ann", "x")
    assert problems == ["prometheusUrl: credentials in the URL dropped, because basicAuth or bearerToken is set"]


def test_bearer_token_wins_over_basic_auth() -> None:
    settings, problems = load({"bearerToken": TOKEN, "basicAuth": {"username": "ann", "password": PASSWORD}})

    assert settings.bearer_token == TOKEN and settings.basic_auth is None
    assert problems == ["bearerToken and basicAuth are both set; using bearerToken"]


def test_grafana_link_target_without_a_grafana_url_falls_back() -> None:
    settings, problems = load({"linkTarget": "grafana"})

    assert settings.link_target == "prometheus"
    assert problems == ['linkTarget: "grafana" needs grafanaUrl; using the default "prometheus"']


def test_secrets_never_show_in_repr_or_problem_lines() -> None:
    sources = [
        {
            "bearerToken": TOKEN,
            "headers": {"X-Api-Key": HEADER_SECRET, "X-Bad\n": HEADER_SECRET},
            "basicAuth": {"username": "ann", "password": PASSWORD, "extra": PASSWORD},
            "grafanaUrl": f"ftp://ann:{PASSWORD}@grafana",
        },
        {"prometheusUrl": f"http://ann:{PASSWORD}@prom:9090", "bearerToken": 7},
        {"prometheusUrl": f"http://ann:{PASSWORD}/x@prom:9090"},  # a "/" in the password ends the host early
        {"prometheusUrl": f"http://ann:{PASSWORD}@[::1"},
    ]
    for source in sources:
        settings, problems = load(source)
        text = repr(settings) + str(settings) + "\n".join(problems)
        for secret in (TOKEN, PASSWORD, HEADER_SECRET):
            assert secret not in text

    valid, _ = load({"bearerToken": TOKEN, "headers": {"X-Api-Key": HEADER_SECRET}})
    with_password, _ = load({"basicAuth": {"username": "ann", "password": PASSWORD}})
    for settings in (valid, with_password):
        assert TOKEN not in repr(settings) and HEADER_SECRET not in repr(settings) and PASSWORD not in repr(settings)
    assert "X-Api-Key" in repr(valid), "which headers are set is still visible"
    assert "ann" in repr(with_password)


def test_settings_reject_credentials_in_the_url_when_built_directly() -> None:
    with pytest.raises(ValueError, match="must not carry credentials"):
        Settings(prometheus_url=f"http://ann:{PASSWORD}@prom:9090")


def test_settings_are_immutable_and_hashable() -> None:
    settings = Settings(headers={"X-Scope-OrgID": "a"})

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        settings.timeout = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.headers["X-Scope-OrgID"] = "b"  # type: ignore[index]
    assert hash(settings) == hash(Settings(headers={"X-Scope-OrgID": "a"}))
    assert settings != Settings(headers={"X-Scope-OrgID": "b"})


def test_the_converter_round_trips_camel_case_wire_form() -> None:
    settings = Settings(
        prometheus_url="https://prom.example/prometheus",
        timeout=2.0,
        window="10m",
        basic_auth=BasicAuth("ann", PASSWORD),
        headers={"X-Scope-OrgID": "team-a"},
        tls_verify=False,
        link_target=LinkTarget.GRAFANA,
        grafana_url="https://grafana.example",
        grafana_datasource="uid1",
        code_lens=False,
        inlay_hints=True,
        refresh_interval=60.0,
    )

    wire = converter.unstructure(settings)

    assert set(wire) == SPEC_KEYS
    assert wire["linkTarget"] == "grafana" and wire["headers"] == {"X-Scope-OrgID": "team-a"}
    assert json.loads(json.dumps(wire)) == wire
    assert converter.structure(wire, Settings) == settings
    assert load(wire) == (settings, [])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("2d", 172800), ("1w", 604800), ("1y", 31536000),
     ("500ms", 0.5), ("1m30s500ms", 90.5)],
)  # fmt: skip
def test_promql_durations(text: str, seconds: float) -> None:
    assert parse_promql_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m", "5 m", "5M", "1.5m", "30m1h", "5m5m", "-5m", "0m", "5m\n", "５m"])
def test_not_promql_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_promql_duration(text)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("http://ann:pw@prom:9090/x", "http://***@prom:9090/x"),
        ("http://ann:p/w@prom:9090", "http://***@prom:9090"),
        ("ann:pw@prom", "***@prom"),
        ("http://prom:9090", "http://prom:9090"),
    ],
)
def test_masking_url_credentials(url: str, masked: str) -> None:
    assert mask_url_credentials(url) == masked


def test_splitting_url_credentials() -> None:
    assert split_url_credentials("http://a%3Ab:c%40d@h:1/p") == ("http://h:1/p", ("a:b", "c@d"))
    assert split_url_credentials("http://token@h") == ("http://h", ("token", ""))
    assert split_url_credentials("http://h:1/p") == ("http://h:1/p", None)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)
settings_objects = st.dictionaries(st.sampled_from(SETTING_KEYS) | st.text(max_size=12), json_values, max_size=6)


@hypothesis_settings(max_examples=300, deadline=None)
@given(sources=st.lists(settings_objects | json_values, max_size=3), env_url=st.text(max_size=30))
def test_load_settings_never_raises_and_always_returns_valid_settings(sources: list[Any], env_url: str) -> None:
    settings, problems = load_settings(*sources, env={"PROMETHEUS_URL": env_url})

    assert isinstance(settings, Settings)
    assert attrs.evolve(settings) == settings  # re-running every validator on the result passes
    assert all(isinstance(problem, str) and "\n" not in problem for problem in problems)
