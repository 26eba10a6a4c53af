#!/usr/bin/env bash
# Test-only reference implementations (never imported by the library):
# - open_clip (installed as a dependency) for the loss and tokenizer parity tests;
# - the official ImageBind model code from the `imagebind-unofficial` package (CC-BY-NC), for
#   checkpoint-conversion parity. Installed --no-deps so it cannot move our torch pin.
set -euo pipefail
venv="${1:-.venv}"
"$venv/bin/pip" install --quiet --no-deps imagebind-unofficial==0.1.1 pytorchvideo==0.1.5
"$venv/bin/pip" install --quiet iopath einops ftfy regex pandas 'setuptools<80'
