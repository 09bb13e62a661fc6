#!/usr/bin/env bash
# The main job: install zerowasm and run its demo on bundled defaults.
ZEROWASM_EXTRAS="" source "$(dirname "$0")/_env.sh"
exec zerowasm demo "$@"
