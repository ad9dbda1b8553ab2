#!/usr/bin/env bash
# Real-client tests: build the real-mode eddy (no --cfg madsim), install the clients into a
# venv, and run pytest on tests/real. Extra arguments go to pytest (e.g. -k kcat).
#   EDDY_REAL_TARGET_DIR  cargo target dir of the real-mode build (default target/real)
#   EDDY_REAL_VENV        the venv (default $EDDY_REAL_TARGET_DIR/venv)
set -euo pipefail
cd "$(dirname "$0")/../.."

target=${EDDY_REAL_TARGET_DIR:-target/real}
venv=${EDDY_REAL_VENV:-$target/venv}

# Real mode: .cargo/real-mode.toml replaces config.toml's `--cfg madsim`, so madsim-tokio
# is plain tokio and the agent serves real sockets. A separate target dir keeps the two
# builds from invalidating each other.
cargo build --config .cargo/real-mode.toml --release --locked --target-dir "$target" -p eddy-scenarios --bin eddy
export EDDY_BIN="$(cd "$target" && pwd)/release/eddy"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/real/requirements.txt

# moto_server is called by name: the venv's bin goes first on PATH.
PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest tests/real -ra -p no:cacheprovider "$@"
