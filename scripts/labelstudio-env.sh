#!/usr/bin/env bash
# Create or refresh the Label Studio *server's* own virtual environment, .venv-labelstudio/.
#
# The server (about 1 GB of Django and friends) lives apart from curator's .venv, which only needs
# label-studio-sdk. Idempotent: when the pinned version is already installed it returns at once.
# Usage: scripts/labelstudio-env.sh [VENV_DIR]    (env: PYTHON, LABEL_STUDIO_VERSION)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv-labelstudio}"
VERSION="${LABEL_STUDIO_VERSION:-1.23.2}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.installed-label-studio-$VERSION"

if [ -f "$STAMP" ] && [ -x "$VENV/bin/label-studio" ]; then
    exit 0
fi
echo "labelstudio-env: installing label-studio==$VERSION into $VENV (about a minute, once)" >&2
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "label-studio==$VERSION"
"$VENV/bin/label-studio" --help >/dev/null
rm -f "$VENV"/.installed-label-studio-*
touch "$STAMP"
