"""The HTTP requests a call would make: method, host, path and body fields.

They are read from a generic fetch tool's arguments (`url`, `method`, `body`, `params`, or a
`path` on a tool named after its provider) and from command lines: curl, wget, httpie/xh,
`gh api`, `glab api`, `gh repo delete`, `glab repo delete` and the Stripe CLI. Bodies are
JSON, form-encoded (`a[b]=1&c=2`) or the CLIs' `key=value` fields; every field is kept as its
dotted path and value so that endpoint conditions and amounts can be read from it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import urllib.parse
from collections.abc import Mapping
from typing import Any

from inherence_policy_server.rules._hosts import parse_endpoint
from inherence_policy_server.rules._shell import ShellCommand

__all__ = ["HttpRequest", "call_requests", "command_requests", "quoted_requests"]

MAX_FIELDS = 256
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_URL_KEYS = frozenset({"url", "uri", "href", "link", "endpoint", "request_url", "api_url", "full_url"})
_PATH_KEYS = frozenset({"path", "endpoint", "route", "api_path", "resource", "resource_path", "url_path"})
_BASE_KEYS = frozenset({"base_url", "baseurl", "host", "base", "server", "api_base"})
_METHOD_KEYS = frozenset({"method", "http_method", "httpmethod", "verb", "request_method", "http_verb"})
_BODY_KEYS = frozenset({"body", "json", "data", "payload", "form", "form_data", "fields", "content", "json_body",
                        "request_body", "params", "query", "query_params", "querystring", "parameters"})  # fmt: skip
_OVERRIDE = re.compile(r"^x-http-method(?:-override)?\s*:\s*(\w+)", re.IGNORECASE)
_BRACKETS = re.compile(r"\[([^\]]*)\]")
_CURL_DATA = frozenset({"-d", "--data", "--data-raw", "--data-binary", "--data-ascii", "--data-urlencode", "--json",
                        "-F", "--form", "--form-string"})  # fmt: skip
_CURL_VALUED = frozenset({"-H", "--header", "-u", "--user", "-o", "--output", "-A", "--user-agent", "-e", "--referer",
                          "-b", "--cookie", "-c", "--cookie-jar", "-w", "--write-out", "-m", "--max-time", "-x",
                          "--proxy", "--cacert", "--cert", "--key", "-K", "--config", "--retry", "-r", "--range",
                          "--connect-timeout", "--resolve", "--oauth2-bearer", "-E", "--unix-socket"})  # fmt: skip
_HTTPIE_VALUED = frozenset({"-a", "--auth", "-A", "--auth-type", "-o", "--output", "--session", "--verify",
                            "--cert", "--cert-key", "--timeout", "--proxy"})  # fmt: skip
_GH_VALUED = frozenset({"-H", "--header", "-q", "--jq", "-t", "--template", "-p", "--preview", "--cache", "--input"})
_STRIPE_FLAGS_BOOL = frozenset({"confirm", "live", "off-session", "off_session", "expand", "show-headers"})


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


def _request(method: str, url: str, fields: list[tuple[str, str]], source: str) -> HttpRequest | None:
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
        request = _request(verb, url.strip(), list(fields), url)
        if request is not None:
            found.append(request)
    elif isinstance(path, str) and path.strip() and method and verb in _METHODS:
        text = path.strip()
        if isinstance(base, str) and base.strip():
            request = _request(verb, base.strip().rstrip("/") + "/" + text.lstrip("/"), list(fields), text)
            if request is not None:
                found.append(request)
        elif "://" not in text:
            path_part, _, query = text.partition("?")
            body_fields(query, fields) if query else None
            found.append(HttpRequest(verb, None, "/" + path_part.lstrip("/"), tuple(fields[:MAX_FIELDS]), text))
    for value in arguments.values():
        if isinstance(value, Mapping):
            found.extend(call_requests(value, depth + 1))
        elif isinstance(value, list):
            for item in value[:16]:
                if isinstance(item, Mapping):
                    found.extend(call_requests(item, depth + 1))
    return found


def command_requests(command: ShellCommand) -> list[HttpRequest]:
    """Requests one command line would send."""
    name = command.name
    argv = list(command.argv[1:])
    text = " ".join(command.argv)
    if name == "curl":
        return _curl(argv, text)
    if name in ("http", "https", "xh", "xhs"):
        return _httpie(argv, text, default_scheme="http" if name in ("http", "xh") else "https")
    if name == "wget":
        return _wget(argv, text)
    if name in ("gh", "glab") and argv[:1] == ["api"]:
        return _forge_api(name, argv[1:], text)
    if name in ("gh", "glab") and argv[:2] == ["repo", "delete"]:
        target = next((word for word in argv[2:] if not word.startswith("-")), "current/repository")
        path = f"/repos/{target}" if name == "gh" else f"/api/v4/projects/{urllib.parse.quote(target, safe='')}"
        return [HttpRequest("DELETE", "api.github.com" if name == "gh" else "gitlab.com", path, (), text[:200])]
    if name == "stripe":
        return _stripe(argv, text)
    return []


_CLIENTS = frozenset({"curl", "http", "https", "xh", "xhs", "wget", "gh", "glab", "stripe"})


def quoted_requests(texts: list[str]) -> list[HttpRequest]:
    """Requests of HTTP clients in command lines split with their quoting kept literal.

    A JSON body in single quotes keeps its braces, commas and double quotes this way; the
    parsed commands also see clients behind wrappers, so a call's requests are the union.
    """
    found: list[HttpRequest] = []
    for text in texts[:8]:
        try:
            lexer = shlex.shlex(text[:4096], posix=True, punctuation_chars=";&|()")
            lexer.whitespace_split = True
            words = list(lexer)
        except ValueError:
            continue
        segment: list[str] = []
        for word in [*words, ";"]:
            if word and set(word) <= set(";&|()"):
                while segment and ("=" in segment[0] or segment[0] in ("sudo", "env", "command", "exec")):
                    segment = segment[1:]
                if segment and segment[0].rsplit("/", 1)[-1] in _CLIENTS:
                    name = segment[0].rsplit("/", 1)[-1]
                    found.extend(command_requests(ShellCommand((name, *segment[1:]))))
                segment = []
            else:
                segment.append(word)
    return found


def _curl(argv: list[str], text: str) -> list[HttpRequest]:
    method, data, as_query = "", False, False
    urls: list[str] = []
    fields: list[tuple[str, str]] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        value = argv[index + 1] if index + 1 < len(argv) else ""
        if word in ("-X", "--request"):
            method, index = value, index + 2
            continue
        if word.startswith("-X") and len(word) > 2 and not word.startswith("--"):
            method = word[2:]
        elif word.startswith("--request="):
            method = word.split("=", 1)[1]
        elif word in _CURL_DATA or any(word.startswith(flag + "=") for flag in _CURL_DATA if flag.startswith("--")):
            payload = word.split("=", 1)[1] if word.startswith("--") and "=" in word else value
            data = True
            if not payload.startswith("@"):
                body_fields(payload, fields)
            index += 1 if "=" in word and word.startswith("--") else 2
            continue
        elif word in ("-T", "--upload-file"):
            method = method or "PUT"
            index += 2
            continue
        elif word in ("-G", "--get"):
            as_query = True
        elif word in ("-I", "--head"):
            method = "HEAD"
        elif word in ("-H", "--header") and _OVERRIDE.match(value):
            match = _OVERRIDE.match(value)
            method = match.group(1) if match else method
            index += 2
            continue
        elif word == "--url":
            urls.append(value)
            index += 2
            continue
        elif word in _CURL_VALUED:
            index += 2
            continue
        elif not word.startswith("-"):
            urls.append(word)
        index += 1
    verb = method or ("GET" if as_query or not data else "POST")
    return [request for url in urls if (request := _request(verb, url, list(fields), text)) is not None]


def _httpie(argv: list[str], text: str, default_scheme: str) -> list[HttpRequest]:
    positional: list[str] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        if word in _HTTPIE_VALUED:
            index += 2
            continue
        if not word.startswith("-"):
            positional.append(word)
        index += 1
    method = ""
    if positional and positional[0].upper() in _METHODS:
        method = positional.pop(0).upper()
    if not positional:
        return []
    url, items = positional[0], positional[1:]
    if url.startswith(":"):
        url = "localhost" + url
    if "://" not in url:
        url = f"{default_scheme}://{url}"
    fields: list[tuple[str, str]] = []
    data = False
    for item in items:
        match = re.match(r"^([^=:@]+)(==|:=|=|@|:)(.*)$", item)
        if match is None:
            continue
        key, operator, value = match.groups()
        if operator in ("=", ":=", "=="):
            fields.append((key.casefold(), value.strip('"')))
            data = data or operator != "=="
        elif operator == ":" and _OVERRIDE.match(item):
            method = value.strip()
    request = _request(method or ("POST" if data else "GET"), url, fields, text)
    return [request] if request is not None else []


def _wget(argv: list[str], text: str) -> list[HttpRequest]:
    method = ""
    fields: list[tuple[str, str]] = []
    urls: list[str] = []
    for word in argv:
        if word.startswith("--method="):
            method = word.split("=", 1)[1]
        elif word.startswith(("--post-data=", "--body-data=")):
            body_fields(word.split("=", 1)[1], fields)
            method = method or "POST"
        elif word.startswith("--post-file="):
            method = method or "POST"
        elif not word.startswith("-"):
            urls.append(word)
    return [request for url in urls if "://" in url and (request := _request(method or "GET", url, fields, text))]


def _forge_api(name: str, argv: list[str], text: str) -> list[HttpRequest]:
    method, host, endpoint, data = "", "", "", False
    fields: list[tuple[str, str]] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        value = argv[index + 1] if index + 1 < len(argv) else ""
        if word in ("-X", "--method"):
            method, index = value, index + 2
            continue
        if word.startswith("--method="):
            method = word.split("=", 1)[1]
        elif word in ("-f", "-F", "--field", "--raw-field"):
            key, _, field_value = value.partition("=")
            fields.append((_BRACKETS.sub(lambda match: "." + match.group(1), key).casefold(), field_value))
            data = True
            index += 2
            continue
        elif word == "--input":
            data = True
            index += 2
            continue
        elif word == "--hostname":
            host, index = value, index + 2
            continue
        elif word in _GH_VALUED:
            index += 2
            continue
        elif not word.startswith("-") and not endpoint:
            endpoint = word
        index += 1
    if not endpoint or endpoint == "graphql":
        return []
    path, _, query = endpoint.partition("?")
    if query:
        body_fields(query, fields)
    path = "/" + path.lstrip("/")
    if name == "glab" and not path.startswith("/api/v4/"):
        path = "/api/v4" + path
    default_host = "api.github.com" if name == "gh" else "gitlab.com"
    verb = (method or ("POST" if data else "GET")).upper()
    return [HttpRequest(verb, (host or default_host).casefold(), path, tuple(fields[:MAX_FIELDS]), text[:200])]


def _stripe(argv: list[str], text: str) -> list[HttpRequest]:
    positional: list[str] = []
    fields: list[tuple[str, str]] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        value = argv[index + 1] if index + 1 < len(argv) else ""
        if word in ("-d", "--data"):
            body_fields(value, fields)
            index += 2
            continue
        if word.startswith("--"):
            key, has_value, inline = word[2:].partition("=")
            if has_value:
                fields.append((key.replace("-", "_").casefold(), inline))
            elif key in _STRIPE_FLAGS_BOOL or not value or value.startswith("-"):
                fields.append((key.replace("-", "_").casefold(), "true"))
            else:
                fields.append((key.replace("-", "_").casefold(), value))
                index += 1
        elif not word.startswith("-"):
            positional.append(word)
        index += 1
    if len(positional) >= 2 and positional[0].upper() in _METHODS:
        path = "/" + positional[1].lstrip("/")
        return [HttpRequest(positional[0].upper(), "api.stripe.com", path, tuple(fields), text[:200])]
    if len(positional) < 2:
        return []
    resource, operation, rest = positional[0].replace("-", "_"), positional[1].replace("-", "_"), positional[2:]
    identifier = rest[0] if rest else "unknown"
    method, path = {
        "create": ("POST", f"/v1/{resource}"),
        "update": ("POST", f"/v1/{resource}/{identifier}"),
        "delete": ("DELETE", f"/v1/{resource}/{identifier}"),
        "list": ("GET", f"/v1/{resource}"),
        "retrieve": ("GET", f"/v1/{resource}/{identifier}"),
    }.get(operation, ("POST", f"/v1/{resource}/{identifier}/{operation}"))
    return [HttpRequest(method, "api.stripe.com", path, tuple(fields), text[:200])]
