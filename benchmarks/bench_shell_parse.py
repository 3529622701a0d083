"""Cost of reading shell per KiB: `parse_shell` and a whole decide of a `shell_exec` call.

Run: `python benchmarks/bench_shell_parse.py [--runs 200]` (`nox -s bench` runs it). Measured,
never asserted. Each row is the median over `--runs` of the CPU time of this process
(`time.process_time`, so other load on the machine inflates it less than wall time), divided
by the text's size in KiB. Realistic rows are ordinary developer scripts (builds, deploys
with heredocs, functions, loops, inline Python); the dense rows are shapes chosen to cost
the most per character (tiny commands, substitutions, brace expansion). The scripts are
only parsed here, never run. `MAX_SHELL_CHARS` in `_analysis.py` is chosen from these figures.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time
from collections.abc import Callable

from inherence_policy_server.rules import Call, Category, InMemoryLedger, RulesConfig, evaluate
from inherence_policy_server.rules._shell import parse_shell

NOW = datetime.datetime(2025, 6, 2, 12, 0, tzinfo=datetime.timezone.utc)

BUILD = r"""#!/usr/bin/env bash
set -euo pipefail
ROOT="$(git rev-parse --show-toplevel)"
cd "$ROOT"
export PYTHONDONTWRITEBYTECODE=1
VERSION=$(git describe --tags --always --dirty)
echo "building ${VERSION}"
if [[ ! -d .venv ]]; then
  python3 -m venv .venv
fi
. .venv/bin/activate
pip install --quiet --upgrade pip wheel
pip install --quiet -e ".[test]"
for pkg in core cli server; do
  echo "== ${pkg} =="
  (cd "packages/${pkg}" && python -m pytest -q -x --maxfail=1 tests/ | tee "../../reports/${pkg}.txt")
done
ruff check . --output-format=github || status=$?
mypy src --strict --no-error-summary 2>&1 | grep -v '^Success' || true
case "${CI:-}" in
  true) echo "::group::coverage"; coverage report -m; echo "::endgroup::" ;;
  *) coverage html -d build/coverage ;;
esac
find . -name '*.pyc' -delete
rm -rf build/dist && mkdir -p build/dist
python -m build --wheel --outdir build/dist
ls -la build/dist | awk '{print $5, $9}'
sha256sum build/dist/*.whl > build/dist/SHA256SUMS
"""

DEPLOY = r"""#!/bin/sh
set -eu
APP=web
ENVIRONMENT="${1:-staging}"
NAMESPACE="app-${ENVIRONMENT}"
TAG="$(git rev-parse --short HEAD)"
IMAGE="registry.example.com/${APP}:${TAG}"
docker build --pull -t "$IMAGE" --build-arg VERSION="$TAG" .
docker push "$IMAGE"
cat > deploy/values.generated.yaml <<EOF
image:
  repository: registry.example.com/${APP}
  tag: "${TAG}"
replicas: 3
resources:
  limits: {cpu: "500m", memory: "512Mi"}
EOF
helm upgrade --install "$APP" ./charts/web -n "$NAMESPACE" -f deploy/values.generated.yaml --wait --timeout 5m
kubectl -n "$NAMESPACE" rollout status deploy/"$APP" --timeout=180s
kubectl -n "$NAMESPACE" get pods -l app="$APP" -o wide
for i in 1 2 3 4 5; do
  if curl -fsS "https://${ENVIRONMENT}.example.com/healthz" >/dev/null; then
    echo "healthy after ${i} tries"; break
  fi
  sleep 5
done
python3 -c 'import json,sys; print(json.dumps({"deployed": sys.argv[1]}))' "$TAG" >> deploy/history.jsonl
git tag -a "deploy-${ENVIRONMENT}-${TAG}" -m "deployed ${TAG} to ${ENVIRONMENT}"
"""

SETUP = r"""#!/usr/bin/env bash
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { log "missing $1"; exit 1; }; }
need git; need node; need npm
log "node $(node -e 'console.log(process.version)')"
npm ci --no-audit --no-fund
npm run lint -- --max-warnings=0
npm test -- --runInBand --coverage
while read -r line; do
  name="${line%%=*}"
  [ -n "$name" ] && grep -q "^${name}=" .env.example || log "unknown setting ${name}"
done < .env.defaults
tar -czf "artifacts/site-$(date +%Y%m%d).tgz" -C dist .
rsync -av --exclude node_modules ./dist/ ./preview/
git status --porcelain | wc -l
awk -F, 'NR>1 {sum += $3} END {print "total", sum}' data/sample.csv
sed -i.bak -e 's/DEBUG=true/DEBUG=false/' config/app.env && rm -f config/app.env.bak
"""

REALISTIC = {"build": BUILD, "deploy": DEPLOY, "setup": SETUP}
DENSE = {
    "tiny commands": "a; " * 1400,
    "substitutions": 'echo "$(date)" "$(whoami)" "$(pwd)"; ' * 110,
    "brace expansion": "echo {a,b}{c,d}{e,f}{g,h}{i,j}{k,l}; " * 110,
    "inline python": "python3 -c 'import os; print(os.getcwd()); print(1+2)'; " * 70,
}


def per_kib(function: Callable[[], object], size: int, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.process_time()
        function()
        samples.append(time.process_time() - start)
    return statistics.median(samples) / (size / 1024)


def decide(text: str) -> Callable[[], object]:
    call = Call("run", Category.SHELL_EXEC, {"command": text})
    return lambda: evaluate(call, RulesConfig(), InMemoryLedger(), NOW)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    runs = parser.parse_args().runs
    print(f"{'text':<28}{'KiB':>6}{'parse ms/KiB':>15}{'decide ms/KiB':>15}")
    rows = {f"{name} x1": text for name, text in REALISTIC.items()}
    rows["all three x2 (mixed)"] = "\n".join(REALISTIC.values()) * 2
    rows["all three x6 (mixed)"] = "\n".join(REALISTIC.values()) * 6
    rows.update({f"dense: {name}": text for name, text in DENSE.items()})
    rows.update({f"dense x4: {name}": text * 4 for name, text in DENSE.items()})
    for name, text in rows.items():
        size = len(text.encode())
        parse = per_kib(lambda text=text: parse_shell(text), size, runs)
        whole = per_kib(decide(text), size, runs)
        print(f"{name:<28}{size / 1024:>6.1f}{parse * 1000:>15.3f}{whole * 1000:>15.3f}")


if __name__ == "__main__":
    main()
