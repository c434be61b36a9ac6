"""Operator CLI: the local stack, availabilities, the sales service, status, and the demo.

python starter.py stack up|down|status
"""

import argparse
import sys
from collections.abc import Sequence


def _stack(args: argparse.Namespace) -> int:
    from deploy.local.stack import LocalStack

    stack = LocalStack()
    if args.action == "up":
        state = stack.up()
        print("Local stack is up:")
        for name, value in stack.status().items():
            print(f"  {name:<9} {value}")
        print("Environment for workers and this CLI:")
        for key, value in state.environment().items():
            shown = value.split("@")[-1] if key == "SALES_DATABASE_URL" else value
            print(f"  {key}={shown}")
        if state.temporal:
            print(f"Temporal Web UI: {state.temporal.ui_url}")
    elif args.action == "down":
        stack.down()
        print("Local stack is down.")
    else:
        for name, value in stack.status().items():
            print(f"{name:<9} {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="starter.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stack = commands.add_parser("stack", help="the embedded local stack on loopback")
    stack.add_argument("action", choices=["up", "down", "status"])
    stack.set_defaults(handler=_stack)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())
