#!/bin/sh
# Container entrypoint of the reference worker: see worker/entrypoint.py for what it does.
# exec, so that python is PID 1's only child and receives Kubernetes' SIGTERM directly.
set -eu
exec python -m worker.entrypoint "$@"
