"""File paths normalised before matching, so that one file has one spelling.

`~`, `~user`, `$HOME`, `${HOME}`, `%USERPROFILE%`, `/home/<user>`, `/Users/<user>` and
`C:\\Users\\<user>` all become `~`; backslashes become slashes; `.`/`..` and duplicate
slashes are resolved; `file://` URLs lose their scheme; case is folded because macOS and
Windows file systems ignore it. Matching then works on whole path components.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import urllib.parse

__all__ = ["compile_components", "component_match", "is_path_like", "matches_any_glob", "normalise_path"]

_HOME_PREFIXES = re.compile(
    r"^(?:~[a-z0-9._-]*|\$\{?home\}?|%userprofile%|%homepath%|/home/[^/]+|/users/[^/]+|/root|[a-z]:/users/[^/]+)(?=/|$)"
)
_MACOS_PRIVATE = re.compile(r"^/private(?=/(?:etc|var|tmp)(?:/|$))")
_PATH_HINT = re.compile(r"^(?:~|\$\{?home\}?|%userprofile%|[a-z]:[\\/]|file://|\.{0,2}/|[\w.-]*/)|^\.[\w-]")


def normalise_path(raw: str) -> str:
    """The canonical, folded spelling of a path; relative paths stay relative."""
    text = raw.strip().strip("\"'").casefold()
    if text.startswith("file://"):
        text = urllib.parse.unquote(text[len("file://") :])
        if re.match(r"^/[a-z]:/", text):
            text = text[1:]
    if text.startswith("unix://"):
        text = text[len("unix://") :]
    text = text.replace("\\", "/")
    text = _HOME_PREFIXES.sub("~", text, count=1)
    text = _MACOS_PRIVATE.sub("", text, count=1)
    if not text:
        return text
    if text.startswith("~"):
        # Resolve `..` against a stand-in home so that `~/../x` cannot cancel the `~` itself.
        resolved = posixpath.normpath("/home/\0" + text[1:])
        return "~" + resolved[len("/home/\0") :] if resolved.startswith("/home/\0") else resolved
    normal = posixpath.normpath(text)
    if normal.startswith("//"):
        normal = "/" + normal.lstrip("/")
    return normal


def is_path_like(text: str) -> bool:
    """Whether a whole string reads as a path rather than prose."""
    stripped = text.strip()
    if not stripped or len(stripped) > 4096 or "\n" in stripped:
        return False
    return bool(_PATH_HINT.match(stripped.casefold())) and " " not in stripped.strip()


def component_match(path: str, pattern: tuple[str, ...], *, prefix: bool = False) -> bool:
    """True when `pattern` (fnmatch components) matches the path's trailing components.

    With `prefix`, the pattern may match anywhere followed by more components: a directory
    and everything under it.
    """
    components = [part for part in path.split("/") if part]
    size = len(pattern)
    if size > len(components):
        return False
    starts = range(len(components) - size + 1) if prefix else (len(components) - size,)
    return any(
        all(fnmatch.fnmatchcase(components[start + index], part) for index, part in enumerate(pattern))
        for start in starts
    )


def compile_components(patterns: tuple[tuple[str, ...], ...], *, prefix: bool = False) -> re.Pattern[str]:
    """One regex doing `component_match` for every pattern at once: fnmatch per component is too slow per call."""

    def component(part: str) -> str:
        return "".join("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char) for char in part)

    ending = r"(?:/|$)" if prefix else "$"
    body = "|".join("/".join(component(part) for part in pattern) for pattern in patterns)
    return re.compile(rf"(?:^|/)(?:{body}){ending}")


def matches_any_glob(value: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern.casefold()) for pattern in patterns)
