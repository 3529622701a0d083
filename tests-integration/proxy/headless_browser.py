"""A browser with no window, for `inherence-proxy login` in tests: `headless_browser.py URL`.

It does what a person's browser does on an authorization server that consents at once: GET the
authorization URL and follow the redirects, the last of which lands on the proxy's listener on
127.0.0.1. Python's `webbrowser` runs it when `BROWSER` names it (through an executable
launcher file, as `BROWSER` takes one path). Exits non-zero when the last answer is not a success.
"""

from __future__ import annotations

import os
import sys

LOG_NAME = "headless-browser.log"


def main(url: str) -> int:
    import httpx2

    with httpx2.Client(follow_redirects=True, timeout=30.0) as http:
        answer = http.get(url)
    log = os.environ.get("HEADLESS_BROWSER_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{answer.status_code} {answer.url.host}:{answer.url.port}{answer.url.path}\n")
    return 0 if answer.status_code < 400 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
