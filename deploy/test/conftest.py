"""Shared helpers of the chart tests: rendering with real Helm, strict YAML loading, tools.

Every tool the tests need is required: a missing one fails the test that needs it (an import
error or a fixture error), it never turns into a skip.

- Helm: the PyPI package helm-python-sdk (import name `helm_python`), which embeds Helm's Go
  SDK (v4) through a C library; no `helm` binary is involved.
- Kubernetes schemas: the PyPI package kubernetes-validate, for Kubernetes 1.30, strict mode.
- lookout: the binary at $LOOKOUT_BIN (run.sh sets it; default target/debug/lookout).
- promtool: on PATH or at $PROMTOOL (Debian package `prometheus`), for PromQL and rule files.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHART = ROOT / "deploy" / "helm" / "lookout"
VALUES_DIR = HERE / "values"
KUBE_VERSION = "1.30.0"
RELEASE = "lookout"
NAMESPACE = "monitoring"

# The value sets every structural test runs over: the defaults plus each file in values/.
VALUE_SETS = ["default"] + sorted(p.stem for p in VALUES_DIR.glob("*.yaml"))


class StrictLoader(yaml.SafeLoader):
    """A YAML loader that rejects duplicate mapping keys (the API server's strict decoding
    does too, and PyYAML otherwise keeps the last one silently)."""


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen[key] = True
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=StrictLoader)


def load_all_yaml(text: str) -> list[Any]:
    return [d for d in yaml.load_all(text, Loader=StrictLoader) if d is not None]


def read_values(name: str) -> dict[str, Any]:
    """A value set by name, parsed by Helm itself (the path `helm install -f FILE` takes)."""
    if name == "default":
        return {}
    return helm.values_from_yaml((VALUES_DIR / f"{name}.yaml").read_text())


class Rendered:
    """The objects of one rendering, with lookups by kind and name."""

    def __init__(self, manifests: dict[str, str]):
        self.manifests = manifests
        self.notes = manifests.get("lookout/templates/NOTES.txt", "")
        self.objects: list[dict[str, Any]] = []
        self.source: dict[int, str] = {}
        for path, text in sorted(manifests.items()):
            if path.endswith("NOTES.txt"):
                continue
            for doc in load_all_yaml(text):
                self.source[len(self.objects)] = path
                self.objects.append(doc)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        return found[0] if found else None

    @property
    def daemonset(self) -> dict[str, Any]:
        return self.one("DaemonSet")

    @property
    def container(self) -> dict[str, Any]:
        containers = self.daemonset["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 1
        return containers[0]

    def config_text(self) -> str:
        return self.one("ConfigMap", self.daemonset["metadata"]["name"])["data"]["lookout.yaml"]

    def config(self) -> dict[str, Any]:
        return load_yaml(self.config_text())


@functools.cache
def _chart() -> helm.Chart:
    return helm.Chart.load(str(CHART))


def render(values: dict[str, Any] | None = None, *, install: bool = True, name: str = RELEASE,
           namespace: str = NAMESPACE) -> Rendered:
    """Renders the chart as `helm install` (or `helm upgrade`) would, schema check included."""
    manifests = _chart().render(values or {}, name=name, namespace=namespace,
                                is_install=install, is_upgrade=not install)
    return Rendered(manifests)


@functools.cache
def render_set(name: str) -> Rendered:
    return render(read_values(name))


def chart() -> helm.Chart:
    return _chart()


def lint(values: dict[str, Any] | None = None) -> dict[str, Any]:
    return helm.lint(str(CHART), values or {}, strict=True, namespace=NAMESPACE,
                     kube_version=f"v{KUBE_VERSION}")


@pytest.fixture(scope="session")
def lookout_bin() -> Path:
    raw = os.environ.get("LOOKOUT_BIN", "target/debug/lookout")
    path = Path(raw) if os.path.isabs(raw) else ROOT / raw
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"the lookout binary is missing: {path} (build it with "
                    "`cargo build -p lookout-collector --bin lookout` or set LOOKOUT_BIN)")
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    tool = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not tool:
        pytest.fail("promtool is missing (Debian package `prometheus`, or set PROMTOOL)")
    return tool


def run(cmd: list[str | os.PathLike[str]], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120, **kw)


def has_subcommand(lookout: Path, *words: str) -> bool:
    """Whether `lookout <words...>` exists (clap answers --help with 0, an unknown one with 2)."""
    out = run([lookout, *words, "--help"])
    return out.returncode == 0


def dashboards(r: Rendered) -> dict[str, dict[str, Any]]:
    cms = [o for o in r.of_kind("ConfigMap") if o["metadata"]["name"].endswith("-grafana-dashboards")]
    if not cms:
        return {}
    return {k: json.loads(v) for k, v in cms[0]["data"].items()}
