"""``python -m worker.health``: serve the endpoints without a worker in this process."""

from __future__ import annotations

import os
import sys

from instrumentation.exit_status import ExitStatus


def main(argv: list[str] | None = None) -> int:
    from worker.config import ConfigError
    from worker.health import DebugAccess, DebugConfigError, HealthContext, HealthServer
    from worker.health.server import log_listening

    try:
        debug = DebugAccess.from_env()
        from worker.app import app, settings
    except (ConfigError, DebugConfigError) as exc:
        print(exc, file=sys.stderr)
        return int(ExitStatus.USAGE)

    context = HealthContext(settings, app, worker_hostname=os.environ.get("WORKER_HOSTNAME"))
    try:
        server = HealthServer(context, debug=debug)
    except OSError as exc:
        print(f"health server could not start: {exc}", file=sys.stderr)
        return int(ExitStatus.UNAVAILABLE)
    log_listening(server)
    server.run()
    return int(ExitStatus.OK)


if __name__ == "__main__":
    sys.exit(main())
