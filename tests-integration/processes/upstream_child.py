"""A stand-in stdio upstream: starts a grandchild in its own process group, reports, then waits.

argv[1] is the mode: "normal" (dies on SIGTERM), "stubborn" (it and its grandchild ignore
SIGTERM), "exit-on-eof" (exits with code 3 when stdin closes, leaving its grandchild behind).
"""

import json
import os
import signal
import subprocess
import sys
import time

mode = sys.argv[1] if len(sys.argv) > 1 else "normal"
stubborn = mode == "stubborn"
if stubborn:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild_code = "import signal, time\n"
if stubborn:
    grandchild_code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
grandchild_code += "time.sleep(600)\n"
grandchild = subprocess.Popen(
    [sys.executable, "-c", grandchild_code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
)
report = {"pid": os.getpid(), "pgid": os.getpgrp(), "sid": os.getsid(0), "grandchild": grandchild.pid}
report["env"] = dict(os.environ)
# stderr first: a test that has read the report knows the stderr line is already in the pipe.
sys.stderr.write("upstream says hello on stderr\n")
sys.stderr.flush()
sys.stdout.write(json.dumps(report) + "\n")
sys.stdout.flush()
if mode == "exit-on-eof":
    sys.stdin.read()
    sys.exit(3)
time.sleep(600)
