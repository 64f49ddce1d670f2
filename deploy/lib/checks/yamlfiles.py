"""`yaml FILE...`: every YAML document of every file parses (PyYAML, safe loader)."""

from __future__ import annotations

from .common import fail, load_docs, ok


def cmd_yaml(files: list[str]) -> None:
    import yaml
    for f in files:
        try:
            n = len(load_docs(f))
            ok(f"{f}: {n} document(s) parse")
        except yaml.YAMLError as e:
            fail(f"{f}: {e}")
