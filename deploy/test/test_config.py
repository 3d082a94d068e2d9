"""lookout's config and rules as the pod sees them: the projected /etc/lookout volume is
rebuilt in a temporary directory from the rendered ConfigMaps (and stand-in files for the Secret
keys), then checked by the real `lookout check config`, `promtool check rules` and, once it
exists, `lookout check rules`. Secrets are only referenced, never rendered."""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import VALUE_SETS, Rendered, has_subcommand, load_yaml, read_values, render_set, run

# Config sections that other issues add to lookout-config, with a minimal valid example each: a
# rendered config using one that the binary does not know yet is checked without it (and the
# test says so) until the binary accepts it.
PENDING_SECTIONS = {
    "kubernetes": ("issue 5", "kubernetes:\n  enabled: false\n"),
    "alerting": ("issue 7", "alerting:\n  alertmanagers: []\n"),
    "notifications": ("issue 7", "notifications:\n  route: {receiver: x}\n  receivers: [{name: x}]\n"),
}
NOTIFICATION_SECTIONS = ("alerting", "notifications")
# Field names that would hold a URL or credential in plain text.
PLAIN_SECRET_FIELDS = {"api_url", "url", "webhook_url", "password", "credentials", "bearer_token"}


def materialize(r: Rendered, root: Path) -> dict[str, Path]:
    """Writes the container's read-only file mounts (the projected config volume) under root;
    returns mountPath -> local directory for every mount."""
    pod = r.daemonset["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mapping: dict[str, Path] = {}
    for m in r.container["volumeMounts"]:
        local = root / m["mountPath"].strip("/")
        local.mkdir(parents=True, exist_ok=True)
        mapping[m["mountPath"]] = local
        vol = volumes[m["name"]]
        if "projected" not in vol:
            continue
        for source in vol["projected"]["sources"]:
            if "configMap" in source:
                cm = r.one("ConfigMap", source["configMap"]["name"])
                for item in source["configMap"]["items"]:
                    assert item["key"] in cm["data"], f"{cm['metadata']['name']} has no key {item['key']}"
                    dest = local / item["path"]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_text(cm["data"][item["key"]])
            elif "secret" in source:
                for item in source["secret"]["items"]:
                    dest = local / item["path"]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_text(f"https://hooks.example.invalid/{item['key']}\n")
            else:
                pytest.fail(f"unexpected projected source {source}")
    return mapping


def container_path(mapping: dict[str, Path], path: str) -> Path:
    """The local file standing for a path inside the container (longest mount prefix)."""
    best = max((m for m in mapping if path == m or path.startswith(m.rstrip("/") + "/")), key=len)
    return mapping[best] / path[len(best):].lstrip("/")


def config_file(r: Rendered, root: Path) -> Path:
    mapping = materialize(r, root)
    flag = next(a for a in r.container["args"] if a.startswith("--config="))
    path = container_path(mapping, flag.split("=", 1)[1])
    assert path.is_file(), f"--config points at {path}, which the mounts do not provide"
    return path


def container_env(r: Rendered) -> dict[str, str]:
    """The container's environment as the kubelet would set it, with stand-ins for values that
    come from the downward API or from Secrets."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for e in r.container.get("env", []):
        env[e["name"]] = e.get("value", f"stand-in-for-{e['name']}")
    return env


def section_supported(lookout: Path, tmp: Path, section: str) -> bool:
    probe = tmp / f"probe-{section}.yaml"
    probe.write_text(PENDING_SECTIONS[section][1])
    return run([lookout, "check", "config", probe]).returncode == 0


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_lookout_check_config_accepts_the_rendered_config(value_set: str, lookout_bin: Path,
                                                          tmp_path: Path) -> None:
    r = render_set(value_set)
    path = config_file(r, tmp_path / "pod")
    cfg = load_yaml(path.read_text())
    env = container_env(r)
    unknown = [k for k in cfg if k in PENDING_SECTIONS and not section_supported(lookout_bin, tmp_path, k)]
    checked = path
    if unknown:
        checked = path.with_name("known-sections.yaml")
        checked.write_text(yaml.safe_dump({k: v for k, v in cfg.items() if k not in unknown}))
    out = run([lookout_bin, "check", "config", checked], env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout
    if unknown:
        issues = ", ".join(f"`{k}` ({PENDING_SECTIONS[k][0]})" for k in unknown)
        pytest.skip(f"this lookout binary does not accept the section(s) {issues} yet; the rest "
                    "of the config passed")


def test_lookout_check_config_rejects_a_broken_config(lookout_bin: Path, tmp_path: Path) -> None:
    # The check above can fail: the same pipeline with a typo in the config is refused.
    r = render_set("default")
    path = config_file(r, tmp_path)
    path.write_text(path.read_text().replace("scrape_interval", "scrape_intervall", 1))
    out = run([lookout_bin, "check", "config", path])
    assert out.returncode != 0
    assert "scrape_intervall" in out.stdout + out.stderr


def rule_files(r: Rendered, root: Path) -> list[Path]:
    path = config_file(r, root)
    cfg = load_yaml(path.read_text())
    files: list[Path] = []
    for pattern in cfg.get("rule_files", []):
        assert not pattern.startswith("/"), "rule_files are relative to the config file"
        files += sorted(path.parent.glob(pattern))
    return files


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_rule_files_are_mounted_where_the_config_looks(value_set: str, tmp_path: Path) -> None:
    r = render_set(value_set)
    cfg = r.config()
    cm = r.find("ConfigMap", r.daemonset["metadata"]["name"] + "-rules")
    if cm is None:
        assert "rule_files" not in cfg
        return
    files = rule_files(r, tmp_path)
    assert sorted(f.name for f in files) == sorted(cm["data"])
    for pattern in cfg["rule_files"]:
        assert all(fnmatch.fnmatch(f"rules/{k}", pattern) for k in cm["data"])


@pytest.mark.parametrize("value_set", ["default", "full"])
def test_promtool_accepts_the_rules(value_set: str, promtool: str, tmp_path: Path) -> None:
    files = rule_files(render_set(value_set), tmp_path)
    assert files
    out = run([promtool, "check", "rules", *files])
    assert out.returncode == 0, out.stdout + out.stderr
    expected = 4 + (2 if value_set == "full" else 0)
    found = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", out.stdout))
    assert found == expected, out.stdout


def test_promtool_check_rules_can_fail(promtool: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: rate(up[5m]\n")
    assert run([promtool, "check", "rules", bad]).returncode != 0


@pytest.mark.parametrize("value_set", ["default", "full"])
def test_lookout_check_rules_accepts_the_rules(value_set: str, lookout_bin: Path, tmp_path: Path) -> None:
    if not has_subcommand(lookout_bin, "check", "rules"):
        pytest.skip("`lookout check rules` does not exist yet (issue 7); the rules are checked by "
                    "promtool meanwhile")
    files = rule_files(render_set(value_set), tmp_path)
    out = run([lookout_bin, "check", "rules", *files])
    assert out.returncode == 0, out.stdout + out.stderr


def test_lookout_check_rules_can_fail(lookout_bin: Path, tmp_path: Path) -> None:
    if not has_subcommand(lookout_bin, "check", "rules"):
        pytest.skip("`lookout check rules` does not exist yet (issue 7)")
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: rate(up[5m]\n")
    assert run([lookout_bin, "check", "rules", bad]).returncode != 0


def test_config_carries_what_the_chart_owns() -> None:
    cfg = render_set("default").config()
    assert cfg["scrape_configs"][0] == {"job_name": "lookout",
                                        "static_configs": [{"targets": ["127.0.0.1:9470"]}]}
    assert cfg["rule_files"] == ["rules/*.yaml"]
    assert "external_labels" not in cfg["global"]
    full = render_set("full").config()
    assert full["global"]["external_labels"] == {"cluster": "prod-eu-1", "region": "eu-west-1"}
    # The self-scrape target follows agent.port.
    assert full["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9555"]
    assert full["scrape_configs"][0]["scrape_interval"] == "10s"
    assert [j["job_name"] for j in full["scrape_configs"]] == ["lookout", "node-exporter", "secure-app"]
    assert full["global"]["sample_limit"] == 1000000  # not 1e+06
    empty = render_set("emptydir").config()
    assert [j["job_name"] for j in empty["scrape_configs"]] == ["only-static"]
    assert "rule_files" not in empty


def walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    out = [(path, node)]
    if isinstance(node, dict):
        for k, v in node.items():
            out += walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += walk(v, f"{path}[{i}]")
    return out


def test_notification_urls_are_files_from_the_existing_secret(tmp_path: Path) -> None:
    r = render_set("full")
    cfg = r.config()
    receivers = {x["name"]: x for x in cfg["notifications"]["receivers"]}
    assert receivers["slack"]["slack_configs"][0]["api_url_file"] == "secrets/slack-url"
    assert receivers["slack"]["slack_configs"][1]["api_url_file"] == "secrets/mattermost-url"
    assert receivers["teams"]["msteamsv2_configs"][0]["webhook_url_file"] == "secrets/teams-url"
    assert receivers["teams"]["webhook_configs"][0]["url_file"] == "secrets/webhook-url"
    assert receivers["discord"]["discord_configs"][0]["webhook_url_file"] == "secrets/discord-url"
    assert receivers["null"] == {"name": "null"}
    assert cfg["notifications"]["route"] == read_values("full")["notifications"]["route"]
    ams = cfg["alerting"]["alertmanagers"]
    assert ams[0]["basic_auth"] == {"username": "lookout", "password_file": "secrets/alertmanager-password"}
    assert ams[1]["authorization"] == {"type": "Bearer", "credentials_file": "secrets/alertmanager-token"}

    # Every *_file the config names is provided by the projected Secret, and nothing else is.
    path = config_file(r, tmp_path)
    named = {v for p, v in walk(cfg) if p.endswith("_file") and isinstance(v, str)}
    assert named == {f"secrets/{k}" for k in ["slack-url", "mattermost-url", "teams-url", "webhook-url",
                                             "discord-url", "alertmanager-password", "alertmanager-token"]}
    for f in named:
        assert (path.parent / f).is_file(), f
    (secret,) = [s["secret"] for s in
                 next(v for v in r.daemonset["spec"]["template"]["spec"]["volumes"]
                      if v["name"] == "config")["projected"]["sources"] if "secret" in s]
    assert secret["name"] == "lookout-webhooks"
    assert {i["path"] for i in secret["items"]} == named
    assert all(i["mode"] == 0o440 for i in secret["items"])


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_secrets_are_only_referenced(value_set: str) -> None:
    r = render_set(value_set)
    assert not r.of_kind("Secret"), "the chart must not create Secrets"
    # No URL or credential is written in the ConfigMap: notifications use *_file (the Secret),
    # scrape jobs *_file or *_env (extraEnv from a secretKeyRef); the schema refuses the rest.
    for path, _ in walk(r.config()):
        key = path.rsplit(".", 1)[-1]
        assert key not in PLAIN_SECRET_FIELDS, path
        assert not (key == "key" and ".tls_config" in path), path


def test_without_notifications_nothing_is_mounted_from_a_secret() -> None:
    r = render_set("default")
    sources = next(v for v in r.daemonset["spec"]["template"]["spec"]["volumes"]
                   if v["name"] == "config")["projected"]["sources"]
    assert not any("secret" in s for s in sources)
    cfg = r.config()
    assert not any(k in cfg for k in NOTIFICATION_SECTIONS)
