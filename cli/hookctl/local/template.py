"""``template.yaml`` as CloudFormation would resolve it: parameters, conditions, SAM Globals and intrinsic functions.

The local runner reads everything from the template (the resources it creates, their properties, each function's
handler, code, layers, environment, routes and queue mapping), never from a second copy. This module does what
CloudFormation does before it calls the service APIs: it loads the YAML with the short-form tags (``!Ref``,
``!GetAtt``, ``!Sub``, ...), checks parameter overrides against their constraints, evaluates ``Conditions``, merges SAM
``Globals`` into the serverless resources, and resolves ``Ref``/``Fn::GetAtt``/``Fn::Sub``/``Fn::FindInMap``/
``Fn::If``/``Fn::Equals``/``Fn::Not``/``Fn::And``/``Fn::Or``/``Fn::Join``/``Fn::Select``/``Fn::Split`` with the
physical ids the stack module records as it creates resources (:meth:`Template.set_physical`).

``overrides`` (``hookctl dev --set LogicalId.Property.Path=value``) change a resource's properties before anything is
resolved; they exist for tests that need, e.g., a visibility timeout shorter than the template allows, and every one
is reported.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hookctl.local.language_extensions import TemplateExpansionError, expand

ACCOUNT_ID = "123456789012"  # moto's default account
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"

# SAM Globals sections and the resource types they apply to.
GLOBALS_TYPES = {
    "Function": "AWS::Serverless::Function",
    "Api": "AWS::Serverless::Api",
    "HttpApi": "AWS::Serverless::HttpApi",
    "SimpleTable": "AWS::Serverless::SimpleTable",
    "LayerVersion": "AWS::Serverless::LayerVersion",
    "StateMachine": "AWS::Serverless::StateMachine",
}
_SHORT_TAGS = (
    "Ref",
    "GetAtt",
    "Sub",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "FindInMap",
    "Join",
    "Select",
    "Split",
    "Base64",
    "GetAZs",
    "ImportValue",
    "Cidr",
    "Length",
    "ToJsonString",
    "Condition",
)
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class TemplateError(Exception):
    """The template or an override is invalid, or uses something the local runner cannot resolve."""


class Unresolved(TemplateError):
    """A reference to a resource whose physical id is not known yet (not created, or not emulated)."""

    def __init__(self, logical_id: str, attribute: str | None = None) -> None:
        target = f"{logical_id}.{attribute}" if attribute else logical_id
        super().__init__(f"{target} has no local value")
        self.logical_id = logical_id
        self.attribute = attribute


class _NoValue:
    """``AWS::NoValue``: the property or list item is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML template: ``!Tag x`` becomes ``{"Fn::Tag": x}`` (``{"Ref": x}``,
    ``{"Condition": x}``), ``!GetAtt A.B`` becomes ``{"Fn::GetAtt": ["A", "B"]}``."""
    import yaml  # a development dependency: only the local runner needs it

    try:  # libyaml's parser: the template parses in a tenth of the pure-Python parser's time
        from yaml import CSafeLoader as SafeLoader
    except ImportError:  # a PyYAML built without libyaml
        from yaml import SafeLoader  # type: ignore[assignment]

    class Loader(SafeLoader):
        pass

    def constructor(tag: str):
        def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
            if isinstance(node, yaml.ScalarNode):
                value: Any = loader.construct_scalar(node)
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            elif isinstance(node, yaml.MappingNode):
                value = loader.construct_mapping(node, deep=True)
            else:  # unreachable: the composer makes only these three kinds of node
                raise yaml.constructor.ConstructorError(
                    None, None, f"unexpected {type(node).__name__}", node.start_mark
                )
            if tag == "GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
            if tag in ("Ref", "Condition"):
                return {tag: value}
            return {f"Fn::{tag}": value}

        return construct

    for tag in _SHORT_TAGS:
        Loader.add_constructor(f"!{tag}", constructor(tag))
    with open(path, encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=Loader)  # noqa: S506 (SafeLoader subclass)
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources)")
    return document


def parse_assignments(items: Iterable[str], what: str) -> dict[str, str]:
    """``["Key=Value", ...]`` (``--parameter-overrides``, ``--set``) as a dict; also accepts SAM's
    ``ParameterKey=K,ParameterValue=V`` form."""
    result: dict[str, str] = {}
    for item in items:
        match = re.fullmatch(r"ParameterKey=([^,]+),ParameterValue=(.*)", item)
        key, separator, value = (match.group(1), "=", match.group(2)) if match else item.partition("=")
        if not separator or not key.strip():
            raise TemplateError(f"{what} {item!r}: expected KEY=VALUE")
        result[key.strip()] = value
    return result


@dataclass(frozen=True)
class Override:
    logical_id: str
    path: tuple[str, ...]
    value: Any

    def __str__(self) -> str:
        return f"{self.logical_id}.{'.'.join(self.path)}={self.value}"


class Template:
    """A loaded template with its parameters fixed. Resolution is lazy: :meth:`resolve` raises :class:`Unresolved`
    for a resource reference whose physical id has not been recorded yet."""

    def __init__(
        self,
        path: Path | str,
        *,
        stack_name: str,
        region: str,
        parameter_overrides: Mapping[str, str] | None = None,
        overrides: Mapping[str, str] | None = None,
        account_id: str = ACCOUNT_ID,
    ) -> None:
        self.path = Path(path).resolve()
        self.base_dir = self.path.parent
        self.document = load_yaml(self.path)
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.parameters = self._parameters(parameter_overrides or {})
        # The Receivers loop (Fn::ForEach) becomes one resource per provider instance, as CloudFormation expands it.
        try:
            self.document = expand(self.document, {name: _text(value) for name, value in self.parameters.items()})
        except TemplateExpansionError as error:
            raise TemplateError(f"{self.path.name}: {error}") from None
        self.resources: dict[str, dict[str, Any]] = {
            logical_id: self._with_globals(copy.deepcopy(resource))
            for logical_id, resource in self.document["Resources"].items()
        }
        self.overrides = [self._apply_override(key, value) for key, value in (overrides or {}).items()]
        self._conditions: dict[str, bool] = {}
        self._refs: dict[str, Any] = {}
        self._attributes: dict[tuple[str, str], Any] = {}

    # -- parameters and conditions ----------------------------------------------------------------------------

    def _parameters(self, overrides: Mapping[str, str]) -> dict[str, Any]:
        declared: dict[str, Any] = self.document.get("Parameters") or {}
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(
                f"unknown parameter(s) {', '.join(unknown)}; the template declares {', '.join(declared)}"
            )
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in overrides:
                raw = overrides[name]
            elif "Default" in spec:
                raw = spec["Default"]
            else:
                raise TemplateError(f"parameter {name} has no default: pass --parameter-overrides {name}=VALUE")
            values[name] = _check_parameter(name, spec, _text(raw))
        return values

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definitions = self.document.get("Conditions") or {}
            if name not in definitions:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = bool(self.resolve(definitions[name]))
        return self._conditions[name]

    def is_active(self, logical_id: str) -> bool:
        """False when the resource has a ``Condition`` that is false (CloudFormation does not create it)."""
        condition = self.resources[logical_id].get("Condition")
        return True if condition is None else self.condition(condition)

    # -- SAM Globals and overrides ----------------------------------------------------------------------------

    def _with_globals(self, resource: dict[str, Any]) -> dict[str, Any]:
        for section, resource_type in GLOBALS_TYPES.items():
            defaults = (self.document.get("Globals") or {}).get(section)
            if defaults and resource.get("Type") == resource_type:
                resource["Properties"] = _merge_globals(defaults, resource.get("Properties") or {})
        return resource

    def _apply_override(self, key: str, value: str) -> Override:
        logical_id, _, path_text = key.partition(".")
        if logical_id not in self.resources or not path_text:
            raise TemplateError(f"--set {key}: expected LogicalId.Property[.Key...] of a resource of the template")
        path = tuple(path_text.split("."))
        parsed = _scalar(value)
        target = self.resources[logical_id].setdefault("Properties", {})
        for part in path[:-1]:
            child = target.get(part)
            if child is None:
                child = target[part] = {}
            if not isinstance(child, dict):
                raise TemplateError(f"--set {key}: {part} is not a mapping")
            target = child
        target[path[-1]] = parsed
        return Override(logical_id, path, parsed)

    # -- physical ids ---------------------------------------------------------------------------------------------

    def set_physical(self, logical_id: str, ref: Any, **attributes: Any) -> None:
        """Record what ``Ref`` and ``Fn::GetAtt`` return for a resource (the stack module calls this)."""
        self._refs[logical_id] = ref
        for name, value in attributes.items():
            self._attributes[(logical_id, name)] = value

    def physical(self, logical_id: str) -> Any:
        try:
            return self._refs[logical_id]
        except KeyError:
            raise Unresolved(logical_id) from None

    def attribute(self, logical_id: str, name: str) -> Any:
        try:
            return self._attributes[(logical_id, name)]
        except KeyError:
            if logical_id not in self.resources:
                raise TemplateError(f"Fn::GetAtt of unknown resource {logical_id!r}") from None
            raise Unresolved(logical_id, name) from None

    # -- resolution -----------------------------------------------------------------------------------------------

    def pseudo(self, name: str) -> Any:
        values = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackId": (
                f"arn:{PARTITION}:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local"
            ),
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return values[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.physical(name)
        raise TemplateError(f"Ref to unknown name {name!r}")

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function evaluated; ``AWS::NoValue`` removes keys and list items."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Condition" and isinstance(argument, str):
                return self.condition(argument)
            if key.startswith("Fn::"):
                return self._function(key[4:], argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _function(self, name: str, argument: Any) -> Any:
        """``Fn::<name>`` applied to its (unresolved) argument: each function resolves what it uses."""
        function = _INTRINSIC_FUNCTIONS.get(name)
        if function is None:
            raise TemplateError(f"Fn::{name} is not supported by the local runner")
        return function(self, argument)

    def _get_att(self, argument: Any) -> Any:
        logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
        return self.attribute(self.resolve(logical_id), self.resolve(attribute))

    def _if(self, argument: Any) -> Any:
        condition, when_true, when_false = argument
        return self.resolve(when_true if self.condition(condition) else when_false)

    def _equals(self, argument: Any) -> bool:
        left, right = (self.resolve(item) for item in argument)
        return _text(left) == _text(right)

    def _not(self, argument: Any) -> bool:
        return not self._boolean(argument[0])

    def _and(self, argument: Any) -> bool:
        return all(self._boolean(item) for item in argument)

    def _or(self, argument: Any) -> bool:
        return any(self._boolean(item) for item in argument)

    def _find_in_map(self, argument: Any) -> Any:
        mapping, first, second = (self.resolve(item) for item in argument)
        try:
            return (self.document.get("Mappings") or {})[mapping][_text(first)][_text(second)]
        except KeyError:
            raise TemplateError(f"Fn::FindInMap: {mapping}/{first}/{second} is not in the template") from None

    def _join(self, argument: Any) -> str:
        delimiter, items = argument
        return self.resolve(delimiter).join(_text(item) for item in self.resolve(items))

    def _select(self, argument: Any) -> Any:
        index, items = argument
        return self.resolve(items)[int(self.resolve(index))]

    def _split(self, argument: Any) -> list[str]:
        delimiter, text = argument
        return self.resolve(text).split(self.resolve(delimiter))

    def _base64(self, argument: Any) -> str:
        import base64

        return base64.b64encode(_text(self.resolve(argument)).encode("utf-8")).decode("ascii")

    def _get_azs(self, argument: Any) -> list[str]:
        return [f"{self.region}{zone}" for zone in "abc"]

    def _to_json_string(self, argument: Any) -> str:
        import json

        return json.dumps(self.resolve(argument), separators=(",", ":"))

    def _length(self, argument: Any) -> int:
        return len(self.resolve(argument))

    def _boolean(self, value: Any) -> bool:
        resolved = self.resolve(value)
        return resolved if isinstance(resolved, bool) else _text(resolved) == "true"

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {k: self.resolve(v) for k, v in (argument[1] or {}).items()}
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _text(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return _text(self.attribute(logical_id, attribute))
            return _text(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text)

    # -- queries --------------------------------------------------------------------------------------------------

    def references(self, value: Any) -> set[str]:
        """Logical ids of the resources ``value`` refers to (Ref, GetAtt, Sub variables)."""
        found: set[str] = set()

        def walk(item: Any) -> None:
            if isinstance(item, list):
                for child in item:
                    walk(child)
            elif isinstance(item, dict):
                for key, child in item.items():
                    names, rest = _named_resources(key, child)
                    found.update(name for name in names if name in self.resources)
                    walk(rest)

        walk(value)
        return found

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Active resources of one type, in template order."""
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == resource_type and self.is_active(logical_id)
        }

    def outputs(self) -> dict[str, tuple[str, str]]:
        """Output name -> (value, description), for every output that resolves locally."""
        found: dict[str, tuple[str, str]] = {}
        for name, output in (self.document.get("Outputs") or {}).items():
            if "Condition" in output and not self.condition(output["Condition"]):
                continue
            try:
                value = self.resolve(output.get("Value"))
            except TemplateError:
                continue
            found[name] = (_text(value), str(output.get("Description", "")))
        return found


# ``Fn::<name>`` -> its evaluation (``Template.resolve`` applies them)
_INTRINSIC_FUNCTIONS: dict[str, Callable[[Template, Any], Any]] = {
    "GetAtt": Template._get_att,
    "Sub": Template._sub,
    "If": Template._if,
    "Equals": Template._equals,
    "Not": Template._not,
    "And": Template._and,
    "Or": Template._or,
    "FindInMap": Template._find_in_map,
    "Join": Template._join,
    "Select": Template._select,
    "Split": Template._split,
    "Base64": Template._base64,
    "GetAZs": Template._get_azs,
    "ToJsonString": Template._to_json_string,
    "Length": Template._length,
}


def _named_resources(key: str, argument: Any) -> tuple[list[str], Any]:
    """For one ``key: argument`` of a template value: the logical ids it may name (``Ref``, ``Fn::GetAtt``, the
    variables of ``Fn::Sub``; resources or not) and the part of ``argument`` still to search."""
    if key == "Ref":
        return ([argument] if isinstance(argument, str) else []), argument
    if key == "Fn::GetAtt":
        return [argument[0] if isinstance(argument, list) else str(argument).split(".", 1)[0]], None
    if key == "Fn::Sub":
        text = argument[0] if isinstance(argument, list) else argument
        names = [name.split(".", 1)[0] for name in _SUB_VARIABLE.findall(text)]
        return names, (argument[1:] if isinstance(argument, list) else None)
    return [], argument


def _check_parameter(name: str, spec: Mapping[str, Any], value: str) -> Any:
    kind = str(spec.get("Type", "String"))
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [_text(item) for item in allowed]:
        raise TemplateError(f"parameter {name}={value!r} is not one of its AllowedValues {[_text(a) for a in allowed]}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise TemplateError(f"parameter {name}={value!r} does not match its AllowedPattern {pattern}")
    if kind == "Number":
        try:
            number = float(value)
        except ValueError:
            raise TemplateError(f"parameter {name}={value!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise TemplateError(f"parameter {name}={value} is below its MinValue {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise TemplateError(f"parameter {name}={value} is above its MaxValue {spec['MaxValue']}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise TemplateError(f"parameter {name} is shorter than its MinLength {spec['MinLength']}")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise TemplateError(f"parameter {name} is longer than its MaxLength {spec['MaxLength']}")
    if kind == "CommaDelimitedList" or kind.startswith("List<"):
        return [item.strip() for item in value.split(",")] if value else []
    return value  # CloudFormation hands every other parameter to Ref as a string


def _merge_globals(defaults: Any, own: Any) -> Any:
    """SAM's rule: maps merge (the resource wins), lists add up (Globals first), anything else is the resource's."""
    if isinstance(defaults, dict) and isinstance(own, dict):
        merged = copy.deepcopy(defaults)
        for key, value in own.items():
            merged[key] = _merge_globals(merged[key], value) if key in merged else copy.deepcopy(value)
        return merged
    if isinstance(defaults, list) and isinstance(own, list):
        return copy.deepcopy(defaults) + copy.deepcopy(own)
    return copy.deepcopy(own)


def _text(value: Any) -> str:
    """A value as CloudFormation turns it into a string (booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _scalar(text: str) -> Any:
    """An override value: an integer when it looks like one, else the string (CloudFormation is string-typed)."""
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def as_bool(value: Any) -> bool:
    """A template boolean (``true``, ``"false"``, ...) as a Python bool."""
    return value if isinstance(value, bool) else _text(value).strip().lower() == "true"
