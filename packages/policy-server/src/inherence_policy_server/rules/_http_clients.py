"""The HTTP requests of command lines: curl, wget, httpie/xh, `gh api`, `glab api`, `gh repo
delete`, `glab repo delete` and the Stripe CLI, each read with its own flags (method, fields,
data, query) into `HttpRequest`s.
"""

from __future__ import annotations

import re
import shlex
import urllib.parse

from inherence_policy_server.rules._http_requests import MAX_FIELDS, HttpRequest, body_fields, make_request
from inherence_policy_server.rules._shell import ShellCommand

__all__ = ["command_requests", "quoted_requests"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
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


_OVERRIDE = re.compile(r"^x-http-method(?:-override)?\s*:\s*(\w+)", re.IGNORECASE)


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
    return [request for url in urls if (request := make_request(verb, url, list(fields), text)) is not None]


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
    request = make_request(method or ("POST" if data else "GET"), url, fields, text)
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
    return [request for url in urls if "://" in url and (request := make_request(method or "GET", url, fields, text))]


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
    if not endpoint:
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
