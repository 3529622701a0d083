"""Exec wrapper for Linux: die with the proxy, then become the upstream.

Run as `python -I -S _proc_deathsig.py <proxy pid> <argv...>` by `spawn_upstream`. It asks the
kernel for SIGKILL when its parent goes away (`prctl(PR_SET_PDEATHSIG)`), checks that the
parent did not already go before that request took effect, restores the signal dispositions
that the interpreter changed, and replaces itself with the upstream command: the upstream
keeps the PID, the process group and the death signal, which survive `execve`.

A wrapper instead of `preexec_fn`: Python code between fork and exec in a threaded proxy can
deadlock on a lock some other thread held at the fork. This file is a script: it imports
nothing from the package and must stay importable by a bare interpreter (`-I -S`).

The kernel sends the death signal when the *thread* that forked the child ends, not the
process, so the spawn must happen on a thread that lives as long as the proxy (asyncio spawns
on the event loop thread; see `spawn_upstream`).
"""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1
EXIT_PARENT_GONE = 125
EXIT_EXEC_FAILED = 127


def arm_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send `sig` to this process when its parent thread ends; False if refused."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def main(args: list[str]) -> int:
    if len(args) < 2:
        sys.stderr.write("usage: _proc_deathsig.py <parent pid> <command> [args...]\n")
        return 2
    parent, command = int(args[0]), args[1:]
    if not arm_death_signal():
        sys.stderr.write("inherence-proxy: PR_SET_PDEATHSIG refused; this upstream may outlive the proxy\n")
    if os.getppid() != parent:
        # The proxy died between fork and prctl: nobody would ever end this upstream.
        return EXIT_PARENT_GONE
    for name in ("SIGPIPE", "SIGXFSZ"):
        # The interpreter ignores these; an ignored disposition would survive exec into the upstream.
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    sys.stderr.flush()
    try:
        os.execv(command[0], command)
    except OSError as exc:
        sys.stderr.write(f"inherence-proxy: cannot execute {command[0]!r}: {exc}\n")
    return EXIT_EXEC_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
