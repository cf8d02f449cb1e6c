"""Enum parameters accept an option's number as well as its name, everywhere.

Low2High's enums use static strings (``DEVICE=cuda``: names that survive a model or a script when
options are added), and QGIS 3.22 then refuses ``DEVICE=1`` as "Incorrect parameter value", while
``qgis_process help`` lists the options as ``0: auto, 1: cpu, ...`` and users copy that form. So a
number (or a digit string) that indexes an option is replaced by that option's name before QGIS
checks the values and before an algorithm reads them.
"""
from __future__ import annotations

from typing import Any

from qgis.core import QgsProcessingAlgorithm, QgsProcessingParameterEnum


def enum_numbers_as_names(algorithm: QgsProcessingAlgorithm, parameters: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``parameters`` in which option numbers of static-string enums are option names.

    Values that are not an option's number pass unchanged, so QGIS's own check still refuses them.
    """
    converted = dict(parameters)
    for definition in algorithm.parameterDefinitions():
        if not isinstance(definition, QgsProcessingParameterEnum) or not definition.usesStaticStrings():
            continue
        name = definition.name()
        if name not in converted:
            continue
        value = converted[name]
        options = definition.options()
        if isinstance(value, list):
            converted[name] = [_option(item, options) for item in value]
        else:
            converted[name] = _option(value, options)
    return converted


def _option(value: Any, options: list[str]) -> Any:
    """The option named by ``value`` when it is an index (``1``, ``"1"``) and not itself an option name."""
    if isinstance(value, bool) or (isinstance(value, str) and value in options):
        return value
    if isinstance(value, int):
        index = value
    elif isinstance(value, str) and value.strip().isdigit():
        index = int(value.strip())
    else:
        return value
    return options[index] if 0 <= index < len(options) else value
