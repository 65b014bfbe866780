"""``Fn::ForEach`` (the ``AWS::LanguageExtensions`` transform) expanded the way CloudFormation expands it, so that
every tool that reads ``template.yaml`` sees each provider's resources: the local pipeline
(:mod:`hookctl.local.template`), the contract tests, and the linters and scanners of ``make lint``
(``python -m tools.expand_template``; checkov does not expand loops and would otherwise scan nothing inside one).

What is evaluated, and nothing else:

* ``Fn::ForEach::<name>: [Identifier, Collection, {KeyTemplate: Fragment, ...}]`` in ``Conditions``, ``Resources``
  and ``Outputs`` (and nested in a fragment): one copy of the fragment per item, with ``${Identifier}`` and
  ``&{Identifier}`` replaced in keys and strings and ``{"Ref": Identifier}`` replaced by the item. The collection is
  a literal list, or a ``Ref`` to a parameter (a comma-separated value, from ``parameters`` or its default).
* ``Fn::FindInMap`` whose map, key and attribute are all literal once the loop is expanded (``Providers`` rows
  looked up by the loop's item): replaced by the mapping's value, as the transform does. One with a ``Ref`` to a
  parameter is left for the reader that knows the parameter values.
* ``Fn::Sub`` variables that are then literal strings (or ``${Name}`` of a Sub) are folded into the string, and a Sub
  of a lone ``${Name}`` becomes ``{"Ref": Name}``: the same values, in the form the template had before the loop
  (``!Sub "${${Provider}ReceiverFunction}"`` is written that way only because cfn-lint does not follow a looped
  name inside a ``Ref``).

The result is a plain SAM template (``Transform: AWS::Serverless-2016-10-31``): SAM's translator, cfn-lint and
checkov read it like any other. SAM CLI's own expander is not used: it also folds ``Fn::Sub`` and ``Fn::Join``
into plain strings, which cfn-lint then reports (docs/template.md). Standard library only (the CLI's rule).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
FOREACH_PREFIX = "Fn::ForEach::"
_SECTIONS = ("Conditions", "Resources", "Outputs")


class TemplateExpansionError(ValueError):
    """The template uses ``Fn::ForEach`` in a way this expander (and so the checks built on it) cannot follow."""


def uses_language_extensions(document: Mapping[str, Any]) -> bool:
    transform = document.get("Transform")
    transforms = transform if isinstance(transform, list) else [transform]
    return LANGUAGE_EXTENSIONS in transforms


def expand(document: Mapping[str, Any], parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A copy of ``document`` with every ``Fn::ForEach`` expanded and literal ``Fn::FindInMap`` resolved."""
    expanded = copy.deepcopy(dict(document))
    if not uses_language_extensions(expanded):
        return expanded
    values = {name: str(spec.get("Default", "")) for name, spec in (expanded.get("Parameters") or {}).items()}
    values.update(parameters or {})
    for section in _SECTIONS:
        if isinstance(expanded.get(section), dict):
            expanded[section] = _expand_mapping(expanded[section], values, section)
    mappings = expanded.get("Mappings") or {}
    expanded = _fold_sub(_resolve_find_in_map(expanded, mappings))
    # A mapping only the loops read (Providers) is fully resolved now; keeping it would be an unused mapping.
    still_read = _mappings_read(expanded)
    if mappings:
        expanded["Mappings"] = {name: rows for name, rows in mappings.items() if name in still_read}
        if not expanded["Mappings"]:
            del expanded["Mappings"]
    transform = expanded.get("Transform")
    rest = [name for name in (transform if isinstance(transform, list) else [transform]) if name != LANGUAGE_EXTENSIONS]
    if rest:
        expanded["Transform"] = rest[0] if len(rest) == 1 else rest
    else:
        expanded.pop("Transform", None)
    return expanded


def _expand_mapping(mapping: Mapping[str, Any], parameters: Mapping[str, str], where: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in mapping.items():
        if not key.startswith(FOREACH_PREFIX):
            _add(result, key, value, where)
            continue
        for item_key, item_value in _expand_loop(key, value, parameters, where).items():
            _add(result, item_key, item_value, where)
    return result


def _add(result: dict[str, Any], key: str, value: Any, where: str) -> None:
    if key in result:
        raise TemplateExpansionError(f"{where}: {key!r} is defined twice once the loops are expanded")
    result[key] = value


def _expand_loop(key: str, loop: Any, parameters: Mapping[str, str], where: str) -> dict[str, Any]:
    if not (isinstance(loop, list) and len(loop) == 3 and isinstance(loop[0], str) and isinstance(loop[2], dict)):
        raise TemplateExpansionError(f"{where}: {key} must be [Identifier, Collection, {{KeyTemplate: Fragment}}]")
    identifier, collection, fragment = loop
    items = _collection(collection, parameters, f"{where}: {key}")
    copies: dict[str, Any] = {}
    for item in items:
        substituted = _substitute(fragment, identifier, item)
        for item_key, item_value in _expand_mapping(substituted, parameters, where).items():
            _add(copies, item_key, item_value, where)
    return copies


def _collection(collection: Any, parameters: Mapping[str, str], where: str) -> list[str]:
    if isinstance(collection, list) and all(isinstance(item, str) for item in collection):
        return list(collection)
    if isinstance(collection, dict) and set(collection) == {"Ref"} and collection["Ref"] in parameters:
        return [item.strip() for item in parameters[collection["Ref"]].split(",") if item.strip()]
    raise TemplateExpansionError(f"{where}: the collection must be a list of strings or a Ref to a parameter")


def _substitute(value: Any, identifier: str, item: str) -> Any:
    pattern = re.compile(r"[$&]\{" + re.escape(identifier) + r"\}")
    return _walk(value, lambda text: pattern.sub(item, text), identifier, item)


def _walk(value: Any, replace: Any, identifier: str, item: str) -> Any:
    if isinstance(value, str):
        return replace(value)
    if isinstance(value, list):
        return [_walk(element, replace, identifier, item) for element in value]
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] == identifier:
            return item
        return {replace(key): _walk(element, replace, identifier, item) for key, element in value.items()}
    return value


_LONE_VARIABLE = re.compile(r"\$\{([A-Za-z0-9_:]+)\}")


def _fold_sub(value: Any) -> Any:
    if isinstance(value, list):
        return [_fold_sub(element) for element in value]
    if not isinstance(value, dict):
        return value
    value = {key: _fold_sub(element) for key, element in value.items()}
    if set(value) != {"Fn::Sub"}:
        return value
    argument = value["Fn::Sub"]
    if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str):
        pattern, variables = argument[0], dict(argument[1])
        for name, replacement in list(variables.items()):
            text = _sub_text(replacement)
            if text is not None:
                pattern = pattern.replace("${" + name + "}", text)
                del variables[name]
        argument = [pattern, variables] if variables else pattern
    if isinstance(argument, str):
        lone = _LONE_VARIABLE.fullmatch(argument)
        if lone and "::" not in lone.group(1):
            return {"Ref": lone.group(1)}
        if "${" not in argument.replace("${!", ""):
            return argument.replace("${!", "${")
    return {"Fn::Sub": argument}


def _sub_text(replacement: Any) -> str | None:
    """What a Sub variable's value reads as inside the pattern, when it can be written there; else None."""
    if isinstance(replacement, str):
        return replacement.replace("${", "${!")  # a literal, even if it looks like a variable
    if (
        isinstance(replacement, dict)
        and set(replacement) == {"Fn::Sub"}
        and isinstance(replacement["Fn::Sub"], str)
        and _LONE_VARIABLE.fullmatch(replacement["Fn::Sub"])
    ):
        return replacement["Fn::Sub"]
    if isinstance(replacement, dict) and set(replacement) == {"Ref"} and isinstance(replacement["Ref"], str):
        return "${" + replacement["Ref"] + "}"
    return None


def _mappings_read(value: Any) -> set[str]:
    if isinstance(value, list):
        return set().union(*(_mappings_read(element) for element in value))
    if not isinstance(value, dict):
        return set()
    found = set().union(*(_mappings_read(element) for element in value.values()))
    arguments = value.get("Fn::FindInMap")
    if isinstance(arguments, list) and arguments and isinstance(arguments[0], str):
        found.add(arguments[0])
    return found


def _resolve_find_in_map(value: Any, mappings: Mapping[str, Any]) -> Any:
    if isinstance(value, list):
        return [_resolve_find_in_map(element, mappings) for element in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::FindInMap"}:
        arguments = _resolve_find_in_map(value["Fn::FindInMap"], mappings)
        if isinstance(arguments, list) and len(arguments) == 3 and all(isinstance(a, str) for a in arguments):
            name, key, attribute = arguments
            try:
                return copy.deepcopy(mappings[name][key][attribute])
            except (KeyError, TypeError):
                raise TemplateExpansionError(f"Fn::FindInMap {arguments}: no such mapping entry") from None
        return {"Fn::FindInMap": arguments}
    return {key: _resolve_find_in_map(element, mappings) for key, element in value.items()}
