"""``python -m low2high.train <command>``: the headless entry point.

Each command lives in its own module exposing ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. A user's mistake ends with one line on stderr and exit status 2, never a
traceback.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from typing import Optional, Sequence

from ..core.dependencies import missing_package
from ..core.errors import USER_ERRORS, Cancelled

#: command name → module (relative to this package) implementing it.
COMMANDS: dict[str, str] = {}
COMMANDS["build-dataset"] = ".commands.build_dataset"
COMMANDS["pretrain"] = ".commands.pretrain"
COMMANDS["fit"] = ".commands.fit"
COMMANDS["evaluate"] = ".commands.evaluate"
COMMANDS["export"] = ".commands.export"
COMMANDS["benchmark"] = ".commands.benchmark"
COMMANDS["evaluate-real"] = ".commands.evaluate_real"
COMMANDS["demo-dataset"] = ".commands.demo_dataset"
COMMANDS["coarse-prior"] = ".commands.coarse_prior"
COMMANDS["finetune"] = ".commands.finetune"


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(
        prog="python -m low2high.train",
        description="Train, evaluate and export Low2High land-cover models (headless; torchrun for many GPUs).")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = {}
    for name, module_name in COMMANDS.items():
        if importlib.util.find_spec(module_name, __package__) is None:
            continue  # a development command the plugin zip leaves out (scripts/package.py DEVELOPMENT_FILES)
        module = importlib.import_module(module_name, __package__)
        sub = commands.add_parser(name, help=module.HELP, description=module.__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        modules[name] = module
    return parser, modules


def user_sentence(error: Exception) -> str:
    """The error's sentence, also when a DataLoader worker re-raised it with the worker's traceback."""
    text = str(error)
    if "Original Traceback" in text:  # torch.utils.data's ExceptionWrapper: "...\nLow2HighError: <sentence>"
        text = text.rstrip().splitlines()[-1].split("Error: ", 1)[-1]
    return text


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(modules[args.command].run(args) or 0)
    except Cancelled as error:
        print(f"stopped: {error}", file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        print(f"error: {user_sentence(error)}", file=sys.stderr)
        return 2
    except ImportError as error:  # a training module's top-level ``import torch``, when torch is missing
        missing = missing_package(error, f"run 'python -m low2high.train {args.command}'")
        if missing is None:
            raise
        print(f"error: {missing}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped by the user", file=sys.stderr)
        return 130
