"""The v1 contract's breaking-change check, and the snapshot it compares against.

Breaking (docs/api-versioning.md): a removed path or operation; a removed response field; a
changed type (of a field or a parameter); a new required parameter or a parameter turned
required; a removed enum value (in a parameter or a response); a removed parameter. Additive
changes (new paths, operations, optional parameters, response fields, enum values) pass.

``python -m okr_api.public.contract --write`` (``make snapshot-openapi``) refreshes the snapshot;
it refuses while the current spec breaks the committed one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi-v1.json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 32:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec.get("components", {}).get("schemas", {}).get(name, {})
        seen += 1
    return schema


def _types(spec: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """The JSON types a schema admits (anyOf/oneOf flattened, refs to objects as 'object')."""
    schema = _resolve(spec, schema)
    if "anyOf" in schema or "oneOf" in schema:
        found: set[str] = set()
        for option in schema.get("anyOf", []) + schema.get("oneOf", []):
            found |= _types(spec, option)
        return found
    kind = schema.get("type")
    if isinstance(kind, list):
        return {str(k) for k in kind}
    if kind is not None:
        return {str(kind)}
    if "properties" in schema:
        return {"object"}
    if "enum" in schema or "const" in schema:
        return {"string"}
    return set()


def _enum(spec: dict[str, Any], schema: dict[str, Any]) -> set[Any]:
    schema = _resolve(spec, schema)
    values = set(schema.get("enum", []))
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        values |= _enum(spec, option)
    return values


def _compare_response_schema(
    old_spec: dict[str, Any],
    new_spec: dict[str, Any],
    old: dict[str, Any],
    new: dict[str, Any],
    where: str,
    problems: list[str],
    depth: int = 0,
) -> None:
    if depth > 12:
        return
    old, new = _resolve(old_spec, old), _resolve(new_spec, new)
    old_types, new_types = _types(old_spec, old), _types(new_spec, new)
    if old_types and new_types and not new_types <= old_types:
        problems.append(f"{where}: type changed from {sorted(old_types)} to {sorted(new_types)}")
    removed = _enum(old_spec, old) - _enum(new_spec, new)
    if removed and _enum(new_spec, new):
        problems.append(f"{where}: enum values removed: {sorted(map(str, removed))}")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_field in old_props.items():
        if name not in new_props:
            problems.append(f"{where}.{name}: response field removed")
            continue
        _compare_response_schema(
            old_spec, new_spec, old_field, new_props[name], f"{where}.{name}", problems, depth + 1
        )
    for name in set(old.get("required", [])) - set(new.get("required", [])):
        if name in new_props:
            problems.append(f"{where}.{name}: response field no longer always present")
    if "items" in old and "items" in new:
        _compare_response_schema(
            old_spec, new_spec, old["items"], new["items"], f"{where}[]", problems, depth + 1
        )
    for key in ("anyOf", "oneOf"):
        old_objects = [o for o in old.get(key, []) if "properties" in _resolve(old_spec, o)]
        new_objects = [o for o in new.get(key, []) if "properties" in _resolve(new_spec, o)]
        if len(old_objects) == 1 and len(new_objects) == 1:
            _compare_response_schema(
                old_spec, new_spec, old_objects[0], new_objects[0], where, problems, depth + 1
            )


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every way ``new`` breaks clients written against ``old``; empty when it does not."""
    problems: list[str] = []
    new_paths = new.get("paths", {})
    for path, old_item in old.get("paths", {}).items():
        if path not in new_paths:
            problems.append(f"{path}: path removed")
            continue
        for method in METHODS:
            if method not in old_item:
                continue
            where = f"{method.upper()} {path}"
            new_op = new_paths[path].get(method)
            if new_op is None:
                problems.append(f"{where}: operation removed")
                continue
            old_op = old_item[method]
            if old_op.get("operationId") != new_op.get("operationId"):
                problems.append(f"{where}: operationId changed")
            _compare_parameters(old, new, old_op, new_op, where, problems)
            for status, old_response in old_op.get("responses", {}).items():
                new_response = new_op.get("responses", {}).get(status)
                if new_response is None:
                    if status.startswith("2"):
                        problems.append(f"{where}: response {status} removed")
                    continue
                for media, old_media in old_response.get("content", {}).items():
                    new_media = new_response.get("content", {}).get(media)
                    if new_media is None:
                        problems.append(f"{where} {status}: {media} body removed")
                        continue
                    _compare_response_schema(
                        old,
                        new,
                        old_media.get("schema", {}),
                        new_media.get("schema", {}),
                        f"{where} {status}",
                        problems,
                    )
    return problems


def _compare_parameters(
    old_spec: dict[str, Any],
    new_spec: dict[str, Any],
    old_op: dict[str, Any],
    new_op: dict[str, Any],
    where: str,
    problems: list[str],
) -> None:
    def index(op: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(p["in"], p["name"]): p for p in op.get("parameters", [])}

    old_params, new_params = index(old_op), index(new_op)
    for key, old_param in old_params.items():
        label = f"{where}: {key[0]} parameter {key[1]}"
        new_param = new_params.get(key)
        if new_param is None:
            problems.append(f"{label} removed")
            continue
        if new_param.get("required") and not old_param.get("required"):
            problems.append(f"{label} became required")
        old_types = _types(old_spec, old_param.get("schema", {}))
        new_types = _types(new_spec, new_param.get("schema", {}))
        if old_types and new_types and not old_types <= new_types:
            problems.append(
                f"{label}: type changed from {sorted(old_types)} to {sorted(new_types)}"
            )
        removed = _enum(old_spec, old_param.get("schema", {})) - _enum(
            new_spec, new_param.get("schema", {})
        )
        if removed:
            problems.append(f"{label}: enum values removed: {sorted(map(str, removed))}")
    for key, new_param in new_params.items():
        if key not in old_params and new_param.get("required"):
            problems.append(f"{where}: new required {key[0]} parameter {key[1]}")


def current_spec() -> dict[str, Any]:
    from okr_api.app import create_app
    from okr_api.public.openapi import build_public_openapi
    from okr_core.settings import Settings

    return build_public_openapi(create_app(Settings(environment="test")))


def dump(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="refresh the committed snapshot")
    args = parser.parse_args(argv)
    spec = current_spec()
    if SNAPSHOT.exists():
        problems = breaking_changes(json.loads(SNAPSHOT.read_text()), spec)
        if problems:
            print("breaking changes against the v1 snapshot:", *problems, sep="\n  ")
            return 1
    if args.write:
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(dump(spec))
        print(f"wrote {SNAPSHOT}")
    else:
        print("no breaking changes against the v1 snapshot")
    return 0


if __name__ == "__main__":
    sys.exit(main())
