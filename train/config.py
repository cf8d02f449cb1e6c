"""Configs as dataclasses: defaults in code, a YAML/JSON file on top, command-line flags last.

Every field of a config dataclass becomes a flag (``--field-name``) of its command, with the
field's docstring-like ``help`` metadata as help text; ``--config FILE`` loads a YAML or JSON
mapping first. The resolved config is what a run records next to its outputs, so any result can
be reproduced from that file alone.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import typing
from typing import Any, Optional, Sequence, Type, TypeVar

from ..core.errors import Low2HighError
from ..core.files import atomic_write_json

T = TypeVar("T")


def field(default: Any, help: str, choices: Optional[Sequence[str]] = None,  # noqa: A002 (mirrors argparse)
          **kwargs: Any) -> Any:
    """A dataclass field with help text (and, for a text setting, the values it takes) for its command-line flag.

    ``choices`` are argparse's: ``--help`` lists them and a flag outside them is refused by name; the
    config's own check still refuses them in a ``--config`` file, which argparse never sees.
    """
    metadata = {"help": help, "choices": tuple(choices) if choices is not None else None}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata, **kwargs)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


_TRUE_WORDS = ("1", "true", "yes", "on")
_FALSE_WORDS = ("0", "false", "no", "off")


def _boolean(text: str) -> bool:
    """``true``/``false`` (and yes/no, on/off, 1/0); anything else is a mistake, not False."""
    word = text.strip().lower()
    if word in _TRUE_WORDS or word in _FALSE_WORDS:
        return word in _TRUE_WORDS
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _parser_for(annotation: Any):
    """The function turning a flag's text into a value of the field's type."""
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return _boolean
    if origin is list:
        (item,) = typing.get_args(annotation)
        return lambda text: [item(part) for part in text.split(",") if part]
    if origin is typing.Union:  # Optional[X]
        inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)][0]
        parse = _parser_for(inner)
        return lambda text: None if text.lower() in ("", "none", "null") else parse(text)
    return annotation


def add_config_arguments(parser: argparse.ArgumentParser, config_type: Type[Any]) -> None:
    """Add ``--config`` and one flag per field of ``config_type`` (all default to 'not given')."""
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON file with any of the settings below")
    hints = typing.get_type_hints(config_type)
    for item in dataclasses.fields(config_type):
        default = item.default if item.default is not dataclasses.MISSING else item.default_factory()  # type: ignore[operator]
        # a bare boolean flag means true (``--quick``); ``--quick false`` still works
        options: dict[str, Any] = {"nargs": "?", "const": "true"} if hints[item.name] is bool else {}
        if item.metadata.get("choices"):
            options["choices"] = item.metadata["choices"]
        parser.add_argument(_flag(item.name), dest=item.name, type=_parser_for(hints[item.name]),
                            default=argparse.SUPPRESS, metavar=item.name.upper(), **options,
                            help=f"{item.metadata.get('help', '')} (default: {default})".replace("%", "%%"))


def load_file(path: str) -> dict[str, Any]:
    """A YAML or JSON mapping from a file, with errors a user understands."""
    if not os.path.exists(path):
        raise Low2HighError(f"The config file '{path}' does not exist; check the path given to --config.")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise Low2HighError(f"The config file '{path}' cannot be read ({error}); give a UTF-8 YAML or JSON "
                            "file.") from error
    try:
        if path.endswith(".json"):
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as error:  # json and yaml raise different types
        raise Low2HighError(f"The config file '{path}' cannot be parsed ({error}); correct its syntax.") from error
    if not isinstance(data, dict):
        raise Low2HighError(f"The config file '{path}' must hold a mapping of setting: value; write one setting "
                            "per line (e.g. 'epochs: 10').")
    return data


def _type_name(annotation: Any) -> str:
    """How a field's type reads in a message: "a whole number", "a list of text", ..."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        choices = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        names = " or ".join(_type_name(arg) for arg in choices)
        return f"{names} or empty (null)" if len(choices) < len(typing.get_args(annotation)) else names
    if annotation is list:
        return "a list"
    if origin is list:
        return f"a list of {_type_name(typing.get_args(annotation)[0]).removeprefix('a ')}"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "text"}.get(annotation,
                                                                                             str(annotation))


def _file_value(annotation: Any, value: Any) -> Any:
    """A config file's value as the field's type; ValueError when it is not one.

    YAML and JSON already give numbers, booleans and lists, so only text is parsed (as the flag
    would be); a value of another type than the field's is refused rather than passed on to fail
    later with a comparison error that names no setting.
    """
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        choices = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if value is None and len(choices) < len(typing.get_args(annotation)):
            return None
        for choice in sorted(choices, key=lambda arg: arg is str):  # text last: it takes any scalar
            try:
                return _file_value(choice, value)
            except ValueError:
                continue
        raise ValueError(value)
    if annotation is list:  # a bare list: its items are checked where they are used
        if not isinstance(value, list):
            raise ValueError(value)
        return value
    if origin is list:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part]
        if not isinstance(value, list):
            raise ValueError(value)
        return [_file_value(typing.get_args(annotation)[0], item) for item in value]
    if isinstance(value, str) and annotation is not str:
        try:
            return _parser_for(annotation)(value)
        except (ValueError, TypeError, argparse.ArgumentTypeError) as error:
            raise ValueError(value) from error
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if annotation is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if annotation in (bool, int, str) and type(value) is not annotation:
        raise ValueError(value)
    return value


def _typed_file_values(config_type: Type[Any], from_file: dict[str, Any], path: str) -> dict[str, Any]:
    """The file's values converted to the fields' types, or an error naming the key and the type."""
    hints = typing.get_type_hints(config_type)
    values = {}
    for key, value in from_file.items():
        try:
            values[key] = _file_value(hints[key], value)
        except ValueError:
            raise Low2HighError(f"In '{path}', {key} must be {_type_name(hints[key])} (got {value!r}); correct it "
                                "in the file or give --" + key.replace("_", "-") + " on the command line.") from None
    return values


def resolve_config(config_type: Type[T], args: argparse.Namespace) -> T:
    """Defaults, then ``--config`` file values, then flags given on the command line."""
    names = {item.name for item in dataclasses.fields(config_type)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    if getattr(args, "config", None):
        from_file = load_file(args.config)
        unknown = sorted(set(from_file) - names)
        if unknown:
            raise Low2HighError(f"Unknown setting(s) in '{args.config}': {', '.join(unknown)}; remove them or check "
                                "their spelling against --help.")
        values.update(_typed_file_values(config_type, from_file, args.config))
    values.update({name: getattr(args, name) for name in names if hasattr(args, name)})
    try:
        return config_type(**values)
    except (TypeError, ValueError) as error:
        raise Low2HighError(f"Invalid configuration: {error}; correct that setting (see --help).") from error


def save_config(config: Any, path: str) -> None:
    """Write a resolved config as JSON (readable back with ``--config``)."""
    atomic_write_json(path, dataclasses.asdict(config))
