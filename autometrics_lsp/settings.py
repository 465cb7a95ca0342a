"""The server's settings: one typed model, camelCase on the wire, validated key by key.

Clients send settings as `initializationOptions` and as the `autometrics` section of `workspace/configuration`;
`load_settings` merges them, keeps every valid key, and turns every invalid or unknown key into a problem line
for the user (with the default used instead) — so a typo in one setting never costs the others.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

SECTION = "autometrics"
"""The settings section name, and the key a wrapped settings object is nested under."""

DEFAULT_PROMETHEUS_URL = "http://localhost:9090"
PROMETHEUS_URL_ENV = "PROMETHEUS_URL"
MASK = "***"


class LinkTarget(str, Enum):
    """Where deep links point. A `str` subclass, so `settings.link_target == "grafana"` reads naturally."""

    PROMETHEUS = "prometheus"
    PROMETHEUS3 = "prometheus3"
    GRAFANA = "grafana"


# --- validation helpers (pure) ----------------------------------------------------------------

_DURATION_UNITS_SECONDS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
# Prometheus' own grammar: units in descending order, each at most once, integers only.
_PROMQL_DURATION = re.compile(
    r"(?:(?P<y>[0-9]+)y)?(?:(?P<w>[0-9]+)w)?(?:(?P<d>[0-9]+)d)?(?:(?P<h>[0-9]+)h)?"
    r"(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?(?:(?P<ms>[0-9]+)ms)?"
)
# RFC 9110 token characters: what a header name may consist of.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def parse_promql_duration(text: str) -> float:
    """Seconds in a PromQL duration such as `30s`, `5m`, `1h30m`; ValueError when it is not one or is zero."""
    match = _PROMQL_DURATION.fullmatch(text) if isinstance(text, str) and text else None
    if match is None:
        raise ValueError("must be a PromQL duration like 30s, 5m, 1h or 1h30m")
    seconds = sum(int(count) * _DURATION_UNITS_SECONDS[unit] for unit, count in match.groupdict().items() if count)
    if seconds <= 0:
        raise ValueError("must be a duration longer than zero")
    return seconds


def mask_url_credentials(url: str) -> str:
    """The URL with anything that may be userinfo (up to the last `@`) replaced, for messages and reprs.

    Deliberately cruder than a URL parser: it must also hide credentials in URLs too malformed to parse.
    """
    return re.sub(r"^(.*?://)?.*@", lambda match: f"{match.group(1) or ''}{MASK}@", url, count=1, flags=re.DOTALL)


def split_url_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """(URL without userinfo, (username, password) percent-decoded) — or the URL unchanged and None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url, None
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), (unquote(username), unquote(password))


def _normalise_url(value: str) -> str:
    """Surrounding blanks and trailing slashes dropped, so `<url>/api/v1/query` is always well formed."""
    return value.strip().rstrip("/") if isinstance(value, str) else value


def _check_http_url(value: str) -> None:
    if not isinstance(value, str):
        raise TypeError("must be a string")
    if not value or any(character.isspace() for character in value):
        raise ValueError("must be an http:// or https:// URL without blanks")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        # urllib's message may quote a piece of a password (a `/` in it ends the host early): leave it out.
        raise ValueError("is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("has no host")
    if port == 0:
        raise ValueError("has port 0")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials; use basicAuth")
    if parts.query or parts.fragment:
        raise ValueError("must not have a ?query or #fragment")


def _validate_url(_instance: object, _attribute: attrs.Attribute, value: str) -> None:
    _check_http_url(value)


def _validate_optional_url(_instance: object, _attribute: attrs.Attribute, value: str | None) -> None:
    if value is not None:
        _check_http_url(value)


def _validate_timeout(_instance: object, _attribute: attrs.Attribute, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError("must be a positive number of seconds")


def _validate_window(_instance: object, _attribute: attrs.Attribute, value: str) -> None:
    parse_promql_duration(value)


def _validate_refresh_interval(_instance: object, _attribute: attrs.Attribute, value: float) -> None:
    # Under a second would make every open editor hammer the backend; 0 means off.
    if not (math.isfinite(value) and (value == 0 or value >= 1)):
        raise ValueError("must be 0 (off) or at least 1 second")


def _validate_headers(_instance: object, _attribute: attrs.Attribute, value: Mapping[str, str]) -> None:
    for name, header_value in value.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"header name {json.dumps(name)} is not a valid HTTP header name")
        if any(character in header_value for character in "\r\n\0"):
            raise ValueError(f"the value of header {json.dumps(name)} contains a line break or NUL")


def _validate_tls_verify(_instance: object, _attribute: attrs.Attribute, value: bool | str) -> None:
    if isinstance(value, str) and not os.path.exists(value):
        raise ValueError("must be true, false or the path of an existing CA bundle file or directory")


def _validate_non_empty(_instance: object, _attribute: attrs.Attribute, value: str | None) -> None:
    if value is not None and not value:
        raise ValueError("must not be empty")


def _freeze_headers(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


def _expand_ca_path(value: bool | str) -> bool | str:
    return os.path.abspath(os.path.expanduser(value)) if isinstance(value, str) else value


def _masked_secret(value: str | None) -> str:
    return "None" if value is None else repr(MASK)


def _masked_headers(value: Mapping[str, str]) -> str:
    # Header values are often credentials (API keys, tenant tokens): show only which headers are set.
    return repr({name: MASK for name in value})


# --- the model ---------------------------------------------------------------------------------


@attrs.frozen
class BasicAuth:
    username: str = attrs.field(validator=_validate_non_empty)
    password: str = attrs.field(default="", repr=lambda _password: repr(MASK))


@attrs.frozen
class Settings:
    prometheus_url: str = attrs.field(default=DEFAULT_PROMETHEUS_URL, converter=_normalise_url, validator=_validate_url)
    timeout: float = attrs.field(default=1.0, validator=_validate_timeout)
    window: str = attrs.field(default="5m", validator=_validate_window)
    bearer_token: str | None = attrs.field(default=None, repr=_masked_secret, validator=_validate_non_empty)
    basic_auth: BasicAuth | None = None
    headers: Mapping[str, str] = attrs.field(
        factory=dict, converter=_freeze_headers, validator=_validate_headers, repr=_masked_headers, hash=False
    )
    tls_verify: bool | str = attrs.field(default=True, converter=_expand_ca_path, validator=_validate_tls_verify)
    link_target: LinkTarget = attrs.field(default=LinkTarget.PROMETHEUS, converter=LinkTarget)
    grafana_url: str | None = attrs.field(default=None, converter=_normalise_url, validator=_validate_optional_url)
    grafana_datasource: str | None = attrs.field(default=None, validator=_validate_non_empty)
    code_lens: bool = True
    inlay_hints: bool = False
    refresh_interval: float = attrs.field(default=0.0, validator=_validate_refresh_interval)


def _camel_case(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(word.capitalize() for word in rest)


SETTING_KEYS: tuple[str, ...] = tuple(_camel_case(field.name) for field in attrs.fields(Settings))
_FIELD_BY_KEY = {_camel_case(field.name): field for field in attrs.fields(Settings)}
_SECRET_KEYS = frozenset({"bearerToken"})


# --- the converter: strict JSON types, camelCase keys ------------------------------------------


def _structure_str(value: Any, _type: type) -> str:
    if not isinstance(value, str):
        raise TypeError("must be a string")
    return value


def _structure_bool(value: Any, _type: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError("must be true or false")
    return value


def _structure_float(value: Any, _type: type) -> float:
    # bool is an int in Python, but `true` is no number of seconds.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("must be a number")
    return float(value)


def _structure_tls_verify(value: Any, _type: type) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value:
        return value
    raise TypeError("must be true, false or the path of a CA bundle")


def _structure_headers(value: Any, _type: type) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise TypeError('must be an object of strings, like {"X-Scope-OrgID": "team-a"}')
    for name, header_value in value.items():
        if not isinstance(name, str) or not isinstance(header_value, str):
            raise TypeError('must be an object of strings, like {"X-Scope-OrgID": "team-a"}')
    return value


def _structure_link_target(value: Any, _type: type) -> LinkTarget:
    try:
        return LinkTarget(value)
    except ValueError:
        choices = ", ".join(json.dumps(target.value) for target in LinkTarget)
        raise ValueError(f"must be one of {choices}") from None


def _structure_optional(structure_present: Any) -> Any:
    def structure(value: Any, _type: type) -> Any:
        return None if value is None else structure_present(value, _type)

    return structure


def _structure_basic_auth(value: Any, _type: type) -> BasicAuth | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError('must be an object like {"username": "...", "password": "..."}')
    extra = sorted(str(key) for key in set(value) - {"username", "password"})
    if extra:
        raise ValueError(f"has unknown key {json.dumps(extra[0])}; expected username and password")
    username, password = value.get("username"), value.get("password", "")
    if not isinstance(username, str) or not username:
        raise ValueError("needs a username (a non-empty string)")
    if not isinstance(password, str):
        raise TypeError("password must be a string")
    return BasicAuth(username, password)


def _make_converter() -> cattrs.Converter:
    made = cattrs.Converter(forbid_extra_keys=True)
    made.register_structure_hook(str, _structure_str)
    made.register_structure_hook(bool, _structure_bool)
    made.register_structure_hook(float, _structure_float)
    made.register_structure_hook(str | None, _structure_optional(_structure_str))
    made.register_structure_hook(bool | str, _structure_tls_verify)
    made.register_structure_hook_func(lambda type_: type_ == Mapping[str, str], _structure_headers)
    made.register_structure_hook(LinkTarget, _structure_link_target)
    made.register_structure_hook(BasicAuth | None, _structure_basic_auth)
    made.register_unstructure_hook(LinkTarget, lambda target: target.value)
    made.register_unstructure_hook_func(lambda type_: type_ == Mapping[str, str], dict)
    renames = {field.name: override(rename=_camel_case(field.name)) for field in attrs.fields(Settings)}
    made.register_structure_hook(Settings, make_dict_structure_fn(Settings, made, **renames))
    made.register_unstructure_hook(Settings, make_dict_unstructure_fn(Settings, made, **renames))
    return made


converter = _make_converter()
"""Structures the wire form (camelCase keys, JSON values) into `Settings` and back."""


# --- loading -----------------------------------------------------------------------------------


def _unwrap(source: Any) -> Mapping[str, Any] | None:
    if not isinstance(source, Mapping):
        return None
    nested = source.get(SECTION)
    return nested if isinstance(nested, Mapping) else source


def _shown(key: str, value: Any) -> str:
    """The value as the user wrote it, in JSON spelling, with secrets masked."""
    if key in _SECRET_KEYS:
        return json.dumps(MASK)
    if key == "basicAuth" and isinstance(value, Mapping):
        value = {name: (part if name == "username" else MASK) for name, part in value.items()}
    elif key == "headers" and isinstance(value, Mapping):
        value = {name: MASK for name in value}
    try:
        text = json.dumps(value, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    text = mask_url_credentials(text) if "@" in text else text
    return text if len(text) <= 120 else text[:117] + "..."


def _default_phrase(key: str) -> str:
    default = converter.unstructure(Settings())[key]
    return "ignored" if default is None else f"using the default {json.dumps(default)}"


def _innermost_message(error: BaseException) -> str:
    # cattrs wraps what went wrong in exception groups; the user wants the first concrete reason.
    while getattr(error, "exceptions", None):
        error = error.exceptions[0]
    return str(error)


def _problem(key: str, value: Any, reason: str, origin: str) -> str:
    return f"{key}{origin}: {reason} (got {_shown(key, value)}); {_default_phrase(key)}"


UNKNOWN_KEY_PROBLEM = "unknown setting"
"""How the problem line of an unknown key starts: a client may log those rather than show them."""


def _unknown_key_problem(key: str) -> str:
    suggestion = difflib.get_close_matches(key, SETTING_KEYS, n=1)
    hint = f' (did you mean "{suggestion[0]}"?)' if suggestion else ""
    return f"{UNKNOWN_KEY_PROBLEM} {json.dumps(key)} ignored{hint}"


def _merge(sources: tuple[Any, ...], problems: list[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for source in sources:
        if source is None:
            continue
        settings_object = _unwrap(source)
        if settings_object is None:
            problems.append(f"settings must be an object, got {type(source).__name__}; ignored")
            continue
        for key, value in settings_object.items():
            if key not in _FIELD_BY_KEY:
                problems.append(_unknown_key_problem(str(key)))
            elif value is not None:  # null means "not set here", so an earlier source still counts
                merged[key] = value
    return merged


def _move_url_credentials(merged: dict[str, Any], problems: list[str]) -> None:
    """`http://user:pass@host` becomes basic auth, so the URL itself (shown in links and messages) is secret-free."""
    url = merged.get("prometheusUrl")
    if not isinstance(url, str):
        return
    clean_url, credentials = split_url_credentials(url)
    if credentials is None:
        return
    merged["prometheusUrl"] = clean_url
    if "basicAuth" in merged or "bearerToken" in merged:
        problems.append("prometheusUrl: credentials in the URL dropped, because basicAuth or bearerToken is set")
    else:
        merged["basicAuth"] = {"username": credentials[0], "password": credentials[1]}


def _valid_values(merged: Mapping[str, Any], origins: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    valid: dict[str, Any] = {}
    for key, value in merged.items():
        try:
            converter.structure({key: value}, Settings)
        except Exception as error:  # cattrs and the validators raise several kinds; each is a user's typo here
            problems.append(_problem(key, value, _innermost_message(error), origins.get(key, "")))
        else:
            valid[key] = value
    return valid


def _resolve_conflicts(valid: dict[str, Any], problems: list[str]) -> None:
    if "bearerToken" in valid and "basicAuth" in valid:
        problems.append("bearerToken and basicAuth are both set; using bearerToken")
        del valid["basicAuth"]
    if valid.get("linkTarget") == LinkTarget.GRAFANA and "grafanaUrl" not in valid:
        problems.append(f'linkTarget: "grafana" needs grafanaUrl; {_default_phrase("linkTarget")}')
        del valid["linkTarget"]


def load_settings(
    *sources: Mapping[str, Any] | None, env: Mapping[str, str] = os.environ
) -> tuple[Settings, list[str]]:
    """Settings from `sources` (later ones override earlier ones key by key) plus the problems found. Never raises.

    Each source is the bare settings object or one wrapped as `{"autometrics": {...}}`; `None` and non-objects are
    tolerated. `PROMETHEUS_URL` in `env` is used when no source sets prometheusUrl. An invalid value falls back to
    that key's default and yields a problem line naming the key, the (masked) value and the default used.
    """
    problems: list[str] = []
    merged = _merge(sources, problems)
    origins: dict[str, str] = {}
    if "prometheusUrl" not in merged and env.get(PROMETHEUS_URL_ENV):
        merged["prometheusUrl"] = env[PROMETHEUS_URL_ENV]
        origins["prometheusUrl"] = f" (from ${PROMETHEUS_URL_ENV})"
    _move_url_credentials(merged, problems)
    valid = _valid_values(merged, origins, problems)
    _resolve_conflicts(valid, problems)
    return converter.structure(valid, Settings), problems
