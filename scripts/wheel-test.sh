#!/usr/bin/env bash
# Test built wheels the way a user gets them: a fresh virtual environment,
# plain pip, only the named distributions from dist/, and pytest run from
# inside that environment so the repository's source trees are not
# importable (the wheels are what is tested).
#
#   scripts/wheel-test.sh ENV TESTS DIST [DIST...]
#
#   ENV    name of the environment, made afresh as .venvs/ENV
#   TESTS  test directory, relative to the repository root
#   DIST   a distribution whose wheel in dist/ is installed (regstore,
#          regstore_inmemory, ...), with its `test` extra if it declares
#          one; a package's requirements-test.txt (exact pins of its
#          emulators and SDKs) is installed with it when present
#
# Environment: PYTHON (default python3), PIP_EXTRA (more requirements to
# install, space-separated), PYTEST_ARGS (more pytest arguments).
set -euo pipefail

if [[ $# -lt 3 ]]; then
    sed -n '2,20p' "$0" >&2
    exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
env_name=$1 tests=$2
shift 2
python=${PYTHON:-python3}
venv="$repo/.venvs/$env_name"

pin() {  # the exact pin of a tool in requirements/dev.txt
    local line
    line=$(grep -i -E "^$1==" "$repo/requirements/dev.txt") || {
        echo "wheel-test: $1 is not pinned in requirements/dev.txt" >&2
        exit 2
    }
    echo "$line"
}

requirements=("$(pin pytest)" "$(pin pytest-timeout)")
for dist in "$@"; do
    wheels=("$repo"/dist/"$dist"-[0-9]*.whl)
    if [[ ! -f ${wheels[0]} ]]; then
        echo "wheel-test: no wheel for $dist in dist/ (run make build)" >&2
        exit 2
    fi
    if [[ ${#wheels[@]} -ne 1 ]]; then
        echo "wheel-test: several wheels for $dist in dist/: ${wheels[*]}" >&2
        exit 2
    fi
    folder=$repo/core
    [[ $dist == regstore ]] || folder=$repo/plugins/${dist#regstore_}
    # The wheel, with its `test` extra when its pyproject.toml declares one.
    if "$python" - "$folder/pyproject.toml" <<'PY'; then
import sys, tomllib

with open(sys.argv[1], "rb") as file:
    project = tomllib.load(file).get("project", {})
sys.exit(0 if "test" in project.get("optional-dependencies", {}) else 1)
PY
        requirements+=("${wheels[0]}[test]")
    else
        requirements+=("${wheels[0]}")
    fi
    if [[ -f $folder/requirements-test.txt ]]; then
        requirements+=(-r "$folder/requirements-test.txt")
    fi
done
# shellcheck disable=SC2206  # word splitting is the point
requirements+=(${PIP_EXTRA:-})

rm -rf "$venv"
"$python" -m venv "$venv"
# Constrained by the development pins, so a run installs the same versions of
# pluggy, click, pytest and the rest every time (the packages' own ranges
# still decide what is allowed; the pins only choose within them).
"$venv/bin/python" -m pip install -qq -c "$repo/requirements/dev.txt" "${requirements[@]}"

# Run from inside the environment: nothing of the repository is importable.
cd "$venv"
"$venv/bin/python" - <<'PY'
import sys
import regstore

if not regstore.__file__.startswith(sys.prefix):
    sys.exit(f"wheel-test: regstore imported from {regstore.__file__}, not the wheel")
PY
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of words
bash "$repo/scripts/run-pytest.sh" "$venv/bin/python" -p no:cacheprovider --timeout=900 \
    ${PYTEST_ARGS:-} "$repo/$tests"
