#!/usr/bin/env bash
# Run the whole test suite: makes sure what the tests need is there first.
#   - synthgen with every extra and the dev tools (pip install -e ".[all,dev]"), when missing;
#   - Debian packages for the report tests (headless Chromium, pdftoppm) and the compose
#     check (docker-compose), when root;
#   - PostgreSQL and Redis answering on 127.0.0.1 (the running ones, else installed and started);
# then pytest with any arguments given.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${VIRTUAL_ENV:-}" ] || [ -x .venv/bin/python ]; then
  PY="${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}"; PY="${PY:-.venv/bin/python}"
else
  PY=python3
fi

# The tests cover every feature: make sure the extras and the test tools are installed
# (.[all,dev]; a no-op when they are, as after `.ci/run` or the README's setup).
extras_check='import importlib.util as u, sys
sys.exit(any(u.find_spec(m) is None for m in ("synthgen", "great_expectations", "matplotlib",
    "fastapi", "sqlalchemy", "celery", "pydicom", "PIL", "selenium", "pytest", "schemathesis")))'
if ! "$PY" -c "$extras_check" >/dev/null 2>&1; then
  echo "installing synthgen with the extras the tests need (.[all,dev])"
  "$PY" -m pip install -q -e ".[all,dev]"
fi

need_packages=()
command -v chromium >/dev/null 2>&1 || need_packages+=(chromium)
# the console's browser tests drive Chromium through chromedriver (Selenium)
command -v chromedriver >/dev/null 2>&1 || need_packages+=(chromium-driver)
command -v pdftoppm >/dev/null 2>&1 || need_packages+=(poppler-utils)
# `docker-compose config` validates docker/compose.yaml; no container engine is needed
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || need_packages+=(docker-compose)
if [ ${#need_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing ${need_packages[*]} (Debian packages the tests need)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}" >/dev/null
  else
    echo "warning: ${need_packages[*]} missing and not root: the tests that need them will fail or skip" >&2
  fi
fi

if [ -f scripts/services.sh ]; then
  bash scripts/services.sh
fi

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OMP_WAIT_POLICY=PASSIVE SYNTHGEN_TEST_REQUIRE_SERVICES="${SYNTHGEN_TEST_REQUIRE_SERVICES:-1}"
exec "$PY" -m pytest "$@"
