"""``python -m tests.support.sample_logs recorded|derived|synthetic|repeated KIND N``: see the
package's docstring for what each writes."""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.sample_logs")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("recorded", help="record tests/fixtures from real workers, then derive")
    commands.add_parser("derived", help="rebuild the entries and interleaved samples")
    commands.add_parser("synthetic", help="write tests/analyzers/report/fixtures")
    repeated = commands.add_parser("repeated", help="benchmark input of N lines")
    repeated.add_argument("kind", choices=["json", "kubectl", "json-wide"])
    repeated.add_argument("lines", type=int)
    args = parser.parse_args()
    if args.command in ("recorded", "derived"):
        from tests.support.sample_logs import recorded

        if args.command == "recorded":
            recorded.record()
        recorded.derive()
    elif args.command == "synthetic":
        from tests.support.sample_logs import lines

        lines.write()
    else:
        from tests.support.sample_logs import repeated as repeated_mod

        print(repeated_mod.dataset(args.kind, args.lines))


if __name__ == "__main__":
    main()
