"""Hold frames against docs/asyncapi.yaml: every frame a test receives must match its message."""

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

SPEC_PATH = Path(__file__).parents[2] / "docs" / "asyncapi.yaml"
BASE_URI = "urn:dispatchwire:asyncapi"


@functools.cache
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


@functools.cache
def _validators() -> dict[str, jsonschema.Draft7Validator]:
    """One validator per message `type`, keyed by the `const` of its payload's `type`."""
    document = spec()
    registry: Registry = Registry().with_resource(
        BASE_URI, Resource.from_contents(document, default_specification=DRAFT7))
    validators = {}
    for message in document["components"]["messages"].values():
        payload = _resolve(document, message["payload"])
        kind = _resolve(document, payload["properties"]["type"])["const"]
        validators[kind] = jsonschema.Draft7Validator(
            _rebase(payload), registry=registry, format_checker=jsonschema.FormatChecker())
    return validators


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        path = node["$ref"].removeprefix("#/").split("/")
        node = functools.reduce(lambda part, key: part[key], path, document)
    return node


def _rebase(node: Any) -> Any:
    """Point local `#/...` references at the whole document in the registry."""
    if isinstance(node, dict):
        return {k: (BASE_URI + v if k == "$ref" and v.startswith("#") else _rebase(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


def message_types() -> set[str]:
    return set(_validators())


def check_frame(frame: dict[str, Any], *, direction: str = "receive") -> None:
    """Raise AssertionError unless `frame` matches the AsyncAPI message of its `type`."""
    kind = frame.get("type")
    validator = _validators().get(kind)  # type: ignore[arg-type]
    assert validator is not None, f"frame of undocumented type {kind!r}: {frame}"
    errors = sorted(validator.iter_errors(frame), key=str)
    assert not errors, f"{direction} frame does not match docs/asyncapi.yaml: {errors[0].message}"
