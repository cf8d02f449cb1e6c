"""``python -m low2high <command>``: the package's headless commands besides training.

Kept to a dispatcher: ``segment-many`` lives in :mod:`low2high.engine.scale.cli`;
training is ``python -m low2high.train``.
"""
import sys

COMMANDS = {"segment-many": "low2high.engine.scale.cli"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m low2high segment-many --help   (training: python -m low2high.train --help)",
              file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":  # worker processes import this module under another name and must not run it
    sys.exit(main(sys.argv[1:]))
