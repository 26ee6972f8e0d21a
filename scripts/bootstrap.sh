#!/usr/bin/env bash
# Set up the project on a fresh machine: a virtual environment at .venv with eljobs installed
# (editable) and the extras named in $1 (default: dev). Idempotent: re-running after a change of
# pyproject.toml reinstalls; otherwise it does nothing. Then fetches the JVM artifacts of
# jvm/pom.xml (scripts/fetch_jvm.sh, its own stamp). Needs Python >= 3.11, Java 17 and Maven
# (the machine's), and reaches PyPI and Maven Central only.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"
py="${PYTHON:-python3}"
"$py" - <<'PYEOF'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"eljobs needs Python >= 3.11, found {sys.version.split()[0]}")
PYEOF
if ! command -v java >/dev/null 2>&1; then
  echo "eljobs needs Java 17 for Spark: 'java' is not on PATH" >&2
  exit 1
fi
scripts/fetch_jvm.sh
stamp=".venv/.eljobs-installed-${extras}-$(sha1sum pyproject.toml | cut -c1-12)"
if [ -f "$stamp" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$py" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[${extras}]"
rm -f .venv/.eljobs-installed-*
touch "$stamp"
echo "eljobs: environment ready in .venv (extras: ${extras})"
