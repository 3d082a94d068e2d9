"""values.schema.json: bad values fail at render (= `helm install`) time with a message naming
the problem, the schema is closed wherever it describes our own keys, its picture of lookout's
config matches what lookout-config accepts, and the README documents every value."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from conftest import CHART, HERE, ROOT, chart, lint, render

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
BAD = sorted((HERE / "values" / "bad").glob("*.yaml"))
# Cases refused by values.schema.json (the others by a `fail` in a template, which Helm's lint
# only logs).
BAD_SCHEMA = [p for p in BAD if "# from: template" not in p.read_text()]


def expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: <message>'"
    return first[len("# expect: "):]


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_values_fail_rendering_with_a_clear_message(path: Path) -> None:
    values = helm.values_from_yaml(path.read_text())
    with pytest.raises((helm.HelmValuesError, helm.HelmRenderError)) as info:
        render(values)
    assert expectation(path) in str(info.value)


@pytest.mark.parametrize("path", BAD_SCHEMA, ids=[p.stem for p in BAD_SCHEMA])
def test_bad_values_fail_lint(path: Path) -> None:
    report = lint(helm.values_from_yaml(path.read_text()))
    assert any(expectation(path) in e for e in report["errors"]), report["errors"]


def test_there_are_enough_bad_cases() -> None:
    assert len(BAD) >= 15
    assert len(BAD_SCHEMA) >= 10


def test_defaults_pass_the_schema() -> None:
    chart().validate_schema({})
    chart().validate_schema(chart().values)


def walk_schema(node: Any, path: str = "#") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        out.append((path, node))
        for k, v in node.items():
            out += walk_schema(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += walk_schema(v, f"{path}/{i}")
    return out


def test_schema_is_closed_where_it_lists_properties() -> None:
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    for path, node in walk_schema(SCHEMA):
        if "properties" in node and isinstance(node["properties"], dict) and not path.endswith("/properties"):
            assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"


# ---- the schema's picture of lookout's config vs. the config crate (config/src) ----

CONFIG_SRC = ROOT / "config" / "src"
# Schema definitions describing a lookout-config struct: struct -> (definition path, keys the
# chart deliberately leaves out).
SECRET_FIELDS = {"password", "credentials", "bearer_token", "key"}
STRUCTS = {
    "RawConfig": (["properties", "config"], {"rule_files", "alerting", "notifications"}),
    "RawGlobalConfig": (["definitions", "globalConfig"], set()),
    "RawScrapeConfig": (["definitions", "scrapeConfig"], SECRET_FIELDS),
    "RawStaticConfig": (["definitions", "staticConfig"], set()),
    "RawFileSdConfig": (["definitions", "fileSdConfig"], set()),
    "RawRelabelConfig": (["definitions", "relabelConfig"], set()),
    "RawBasicAuth": (["definitions", "basicAuth"], SECRET_FIELDS),
    "RawAuthorization": (["definitions", "authorization"], SECRET_FIELDS),
    "RawTlsConfig": (["definitions", "tlsConfig"], SECRET_FIELDS),
    "RawStorageConfig": (["definitions", "storageConfig"], set()),
    "RawTsdbConfig": (["definitions", "storageConfig", "properties", "tsdb"], set()),
    "RawRetention": (["definitions", "storageConfig", "properties", "tsdb", "properties", "retention"], set()),
    "RawKubernetesConfig": (["definitions", "kubernetesConfig"], set()),
}


def rust_struct_fields() -> dict[str, set[str]]:
    """Serialized field names of the `pub struct Raw*` types in config/src (serde `rename`
    and `flatten` followed)."""
    structs: dict[str, list[tuple[str, str, bool]]] = {}
    for src in CONFIG_SRC.rglob("*.rs"):
        text = src.read_text()
        for m in re.finditer(r"pub struct (Raw\w+)\s*\{(.*?)\n\}", text, re.S):
            fields = []
            attrs = ""
            for line in m.group(2).splitlines():
                line = line.strip()
                if line.startswith("#["):
                    attrs += line
                    continue
                fm = re.match(r"pub (\w+):\s*(.+?),?$", line)
                if fm:
                    name, ty = fm.group(1), fm.group(2)
                    rename = re.search(r'rename\s*=\s*"([^"]+)"', attrs)
                    fields.append((rename.group(1) if rename else name, ty, "flatten" in attrs))
                    attrs = ""
                elif line and not line.startswith("//"):
                    attrs = ""
            structs[m.group(1)] = fields
    resolved: dict[str, set[str]] = {}

    def names(struct: str) -> set[str]:
        if struct not in resolved:
            out: set[str] = set()
            for name, ty, flatten in structs[struct]:
                if not flatten:
                    out.add(name)
                    continue
                inner = re.search(r"Raw\w+", ty)
                # A flattened map takes any key: "*" stands for that.
                out |= names(inner.group(0)) if inner else {"*"}
            resolved[struct] = out
        return resolved[struct]

    return {s: names(s) for s in structs if s in STRUCTS}


def schema_at(path: list[str]) -> dict[str, Any]:
    node = SCHEMA
    for p in path:
        node = node[p]
    return node


@pytest.mark.parametrize("struct", sorted(STRUCTS))
def test_config_schema_matches_lookout_config(struct: str) -> None:
    fields = rust_struct_fields()
    assert struct in fields, f"lookout-config has no {struct} any more: update values.schema.json"
    path, left_out = STRUCTS[struct]
    in_schema = set(schema_at(path)["properties"])
    expected = fields[struct] - left_out
    assert in_schema == expected, (
        f"values.schema.json {'/'.join(path)} differs from lookout-config's {struct}: "
        f"missing {sorted(expected - in_schema)}, extra {sorted(in_schema - expected)}")


def test_rust_field_scanner_sees_known_fields() -> None:
    fields = rust_struct_fields()
    assert {"job_name", "static_configs", "relabel_configs"} <= fields["RawScrapeConfig"]
    assert "type" in fields["RawAuthorization"]  # `type_` renamed


# ---- the README's values table ----

def leaf_keys(values: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for k, v in values.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and k not in {"config", "resources", "route", "podSecurityContext",
                                                   "securityContext", "nodeSelector"}:
            out |= leaf_keys(v, key + ".")
        else:
            out.add(key)
    return out


def test_readme_documents_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    rows = set(re.findall(r"^\| `([^`]+)` \|", readme, re.M))
    keys = leaf_keys(chart().values)
    assert keys <= rows, sorted(keys - rows)
    assert rows <= keys, sorted(rows - keys)
