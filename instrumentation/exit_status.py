"""Exit statuses shared by every command of the project.

``rhesis-logs``, ``rhesis-worker`` (the chord monitor included) and the worker's container
entrypoint end with one of these, so a script or a CI job can tell "the check found
something" from "the check could not run"::

    from instrumentation.exit_status import ExitStatus
    raise SystemExit(ExitStatus.UNAVAILABLE)

It lives beside ``schema`` because, like the field names, it is a contract between packages
that otherwise do not import each other. The README's "Exit statuses" table lists the same
values; a test keeps the two equal.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """What a command's exit code means, for every command of the project."""

    #: Ran, and nothing asked for attention (or the asked-for action was done / not needed).
    OK = 0
    #: Ran, and found what the caller asked to be told about: a ``--fail-on`` condition holds,
    #: stuck chords remain, an id was not found, an action did not complete.
    FINDINGS = 1
    #: The command line or configuration is wrong: bad option, missing file, bad URL. Click
    #: uses 2 for usage errors too, so every "you typed something wrong" is the same code.
    USAGE = 2
    #: The input held no line that was understood as a task event (empty, binary, unknown
    #: format): the report cannot say "healthy". ``--allow-empty`` turns this into OK.
    NO_EVENTS = 3
    #: A service the command needs could not be used: Redis or the broker unreachable or
    #: refusing the password, Cloud Logging or kubectl failing, a ``--timeout`` reached.
    UNAVAILABLE = 4
    #: ``rhesis-worker status``: the broker answered but no worker replied.
    NO_WORKERS = 5
    #: Interrupted by Ctrl-C (SIGINT), as shells report it: 128 + 2.
    INTERRUPTED = 130
