"""The HTTP requests a call would make: method, host, path and body fields.

They are read from a generic fetch tool's arguments (`url`, `method`, `body`, `params`, or a
`path` on a tool named after its provider); command-line clients are read in `_http_clients`.
Bodies are JSON, form-encoded (`a[b]=1&c=2`) or the CLIs' `key=value` fields; every field is
kept as its dotted path and value so that endpoint conditions and amounts can be read from it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from inherence_policy_server.rules._hosts import parse_endpoint

__all__ = ["HttpRequest", "body_fields", "call_requests", "make_request"]

MAX_FIELDS = 256
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_URL_KEYS = frozenset({"url", "uri", "href", "link", "endpoint", "request_url", "api_url", "full_url"})
_PATH_KEYS = frozenset({"path", "endpoint", "route", "api_path", "resource", "resource_path", "url_path"})
_BASE_KEYS = frozenset({"base_url", "baseurl", "host", "base", "server", "api_base"})
_METHOD_KEYS = frozenset({"method", "http_method", "httpmethod", "verb", "request_method", "http_verb"})
_BODY_KEYS = frozenset({"body", "json", "data", "payload", "form", "form_data", "fields", "content", "json_body",
                        "request_body", "params", "query", "query_params", "querystring", "parameters"})  # fmt: skip
_BRACKETS = re.compile(r"\[([^\]]*)\]")


@dataclasses.dataclass(frozen=True)
class HttpRequest:
    """One request: `host` is None when only a path is known; `fields` are (dotted key, value), folded keys."""

    method: str
    host: str | None
    path: str
    fields: tuple[tuple[str, str], ...]
    source: str

    def leaf_fields(self) -> list[tuple[str, str]]:
        return [(_leaf(key), value) for key, value in self.fields]


def _leaf(key: str) -> str:
    parts = [part for part in key.split(".") if part and not part.isdigit()]
    return parts[-1] if parts else key


def _flatten(node: Any, prefix: str, out: list[tuple[str, str]], depth: int = 0) -> None:
    if len(out) >= MAX_FIELDS or depth > 8:
        return
    if isinstance(node, Mapping):
        for key, value in node.items():
            _flatten(value, f"{prefix}.{str(key).casefold()}" if prefix else str(key).casefold(), out, depth + 1)
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node[:MAX_FIELDS]):
            _flatten(value, f"{prefix}.{index}", out, depth + 1)
    elif node is not None:
        out.append((prefix, str(node).casefold() if isinstance(node, bool) else str(node)))


def body_fields(text: str, out: list[tuple[str, str]], prefix: str = "") -> None:
    """Fields of a JSON or form-encoded body (`a[b][0]=1&c=2`), appended to `out`."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            _flatten(json.loads(stripped), prefix, out, depth=1)
        except ValueError:
            # A command line's quotes are gone once the shell has read it: {"a":{"b":1}} arrives as {a:{b:1}}.
            _flatten(_loose_json(stripped), prefix, out, depth=1)
        return
    if "=" in stripped:
        for key, value in urllib.parse.parse_qsl(stripped, keep_blank_values=True)[:MAX_FIELDS]:
            name = _BRACKETS.sub(lambda match: "." + match.group(1), key).casefold()
            out.append((f"{prefix}.{name}" if prefix else name, value))


_LOOSE_TOKEN = re.compile(r"\s*([{}\[\],:]|[^{}\[\],:]+)")


def _loose_json(text: str) -> Any:
    """JSON whose quotes were stripped, read as nested mappings and lists of plain strings."""
    tokens = [match.group(1).strip() for match in _LOOSE_TOKEN.finditer(text[:16_384])]
    position = 0

    def value(depth: int) -> Any:
        nonlocal position
        if position >= len(tokens) or depth > 16:
            return None
        token = tokens[position]
        position += 1
        if token == "{":
            mapping: dict[str, Any] = {}
            while position < len(tokens) and tokens[position] != "}":
                key = tokens[position]
                position += 1
                if position < len(tokens) and tokens[position] == ":":
                    position += 1
                    mapping[key] = value(depth + 1)
                if position < len(tokens) and tokens[position] == ",":
                    position += 1
            position += 1
            return mapping
        if token == "[":
            items = []
            while position < len(tokens) and tokens[position] != "]":
                items.append(value(depth + 1))
                if position < len(tokens) and tokens[position] == ",":
                    position += 1
            position += 1
            return items
        return token

    return value(0)


def make_request(method: str, url: str, fields: list[tuple[str, str]], source: str) -> HttpRequest | None:
    endpoint = parse_endpoint(url if "://" in url else "https://" + url, source=url)
    if endpoint is None or endpoint.scheme not in ("http", "https"):
        return None
    body_fields(urllib.parse.unquote_plus(endpoint.query), fields) if endpoint.query else None
    # An encoded slash stays encoded: GitLab names a project `group%2Fname` in one segment.
    path = urllib.parse.unquote(re.sub("%2[fF]", "%252F", endpoint.path)) or "/"
    return HttpRequest(method.upper(), endpoint.host, path, tuple(fields[:MAX_FIELDS]), source[:200])


def call_requests(arguments: Mapping[str, Any], depth: int = 0) -> list[HttpRequest]:
    """Requests a generic HTTP tool would send, from its arguments (nested request objects too)."""
    if depth > 3:
        return []
    found: list[HttpRequest] = []
    lowered = {str(key).casefold(): value for key, value in arguments.items()}
    if _no_request_here(lowered):
        return _nested_requests(arguments, depth, found)
    method = next((str(lowered[key]) for key in _METHOD_KEYS if isinstance(lowered.get(key), str)), "")
    fields: list[tuple[str, str]] = []
    for key in _BODY_KEYS & lowered.keys():
        value = lowered[key]
        if isinstance(value, str):
            body_fields(value, fields)
        else:
            _flatten(value, "", fields, depth=1)
    headers = lowered.get("headers")
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            if str(name).casefold() in ("x-http-method-override", "x-http-method") and isinstance(value, str):
                method = value
    has_body = bool(_BODY_KEYS & lowered.keys() - {"params", "query", "query_params", "querystring"})
    verb = (method or ("POST" if has_body else "GET")).strip().upper()
    url = next((lowered[key] for key in _URL_KEYS if isinstance(lowered.get(key), str)), None)
    base = next((lowered[key] for key in _BASE_KEYS if isinstance(lowered.get(key), str)), None)
    path = next((lowered[key] for key in _PATH_KEYS if isinstance(lowered.get(key), str)), None)
    if isinstance(url, str) and "://" in url:
        request = make_request(verb, url.strip(), list(fields), url)
        if request is not None:
            found.append(request)
    elif isinstance(path, str) and path.strip() and method and verb in _METHODS:
        text = path.strip()
        if isinstance(base, str) and base.strip():
            request = make_request(verb, base.strip().rstrip("/") + "/" + text.lstrip("/"), list(fields), text)
            if request is not None:
                found.append(request)
        elif "://" not in text:
            path_part, _, query = text.partition("?")
            body_fields(query, fields) if query else None
            found.append(HttpRequest(verb, None, "/" + path_part.lstrip("/"), tuple(fields[:MAX_FIELDS]), text))
    return _nested_requests(arguments, depth, found)


def _no_request_here(lowered: dict[str, Any]) -> bool:
    """No URL, and no path with a method, at this level, and no body whose reading could fail: nothing to send.

    A request needs a URL key, or a path key with a method (a method key or a method header). The
    body is read only for a request, so a body string that would be read as JSON or a form keeps
    the full reading, which is what a body that cannot be read would have met before.
    """
    keys = lowered.keys()
    if not keys.isdisjoint(_URL_KEYS):
        return False
    if not keys.isdisjoint(_PATH_KEYS) and not (keys.isdisjoint(_METHOD_KEYS) and "headers" not in keys):
        return False
    for key in _BODY_KEYS & keys:
        value = lowered[key]
        if not isinstance(value, str) or value.strip()[:1] in ("{", "[") or "=" in value:
            return False
    return True


def _nested_requests(arguments: Mapping[str, Any], depth: int, found: list[HttpRequest]) -> list[HttpRequest]:
    for value in arguments.values():
        if type(value) is str:
            continue  # most values: neither a mapping nor a list
        if isinstance(value, Mapping):
            found.extend(call_requests(value, depth + 1))
        elif isinstance(value, list):
            for item in value[:16]:
                if isinstance(item, Mapping):
                    found.extend(call_requests(item, depth + 1))
    return found
