#!/bin/sh
# Fetches SmolLM2-135M-Instruct Q4_1 (see fetch_model.py); prints its cached path.
exec "${PYTHON:-python3}" "$(dirname "$0")/fetch_model.py" "$@"
