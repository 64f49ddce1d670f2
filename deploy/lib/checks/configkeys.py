"""What the Rust code says about civicgrid's settings, read from its sources (no build needed):
every key as its environment name (CIVICGRID__SECTION__KEY) from crates/kit/src/config.rs and
services/<name>/src/config.rs, the keys typed `Secret`, the values of `setting_enum!` keys,
the built-in defaults, and the keys a service refuses to start without
(`ConfigError::Missing`). Also which keys must come from a Secret by their name.

It checks nothing by itself: crossref_services.py checks each civicgrid container's
environment against it, dockerfile.py reads the default metrics port from it.
"""

from __future__ import annotations

import re
from pathlib import Path


def _rust_source(path: Path) -> str:
    """A Rust file without its comment lines (doc examples would look like declarations)."""
    return "\n".join(l for l in path.read_text().splitlines() if not l.lstrip().startswith("//"))


def _rust_structs(text: str) -> dict[str, list[tuple[str, str]]]:
    """`pub struct Name { pub field: Type, ... }` -> {Name: [(field, Type)]}."""
    return {m.group(1): [(f, t.strip()) for f, t in re.findall(r"^\s*pub (\w+):\s*(.+?),?\s*$", m.group(2), re.M)]
            for m in re.finditer(r"pub struct (\w+)\s*\{(.*?)\n\}", text, re.S)}


def _rust_setting_enums(text: str) -> dict[str, tuple[str, ...]]:
    """`setting_enum! { pub enum Name("key") { A = "a", B = "b" } }` -> {Name: ("a", "b")}."""
    return {m.group(1): tuple(re.findall(r'=\s*"([^"]*)"', m.group(2)))
            for m in re.finditer(r'setting_enum!\s*\{\s*pub enum (\w+)\("[\w.]+"\)\s*\{(.*?)\}', text, re.S)}


def _rust_defaults(text: str, const: str) -> dict:
    """The TOML of `pub const <const>: &str = r#"..."#;`, parsed ({} if absent)."""
    import tomllib
    m = re.search(r"pub const %s: &str = r#\"(.*?)\"#;" % const, text, re.S)
    try:
        return tomllib.loads(m.group(1)) if m else {}
    except tomllib.TOMLDecodeError:
        return {}


class ConfigModel:
    """What crates/kit/src/config.rs and services/<name>/src/config.rs say about the settings:
    every key (as CIVICGRID__SECTION__KEY), the keys typed `Secret`, the allowed values of the
    keys typed with a `setting_enum!`, and the built-in defaults (the kit's, then the
    service's)."""

    def __init__(self, root: Path, service: str | None = None):
        self.common: set[str] | None = None   # None: crates/kit/src/config.rs not readable
        self.own: set[str] | None = None      # None: the service's config.rs not readable
        self.types: dict[str, str] = {}
        self.enums: dict[str, tuple[str, ...]] = {}
        self.defaults: dict[str, str] = {}
        kit = root / "crates/kit/src/config.rs"
        if kit.exists():
            text = _rust_source(kit)
            structs, enums = _rust_structs(text), _rust_setting_enums(text)
            common = dict(structs.get("CommonSettings", []))
            if common:
                self.common = set()
                for section, typ in common.items():
                    self.common |= self._walk(structs, enums, typ, f"CIVICGRID__{section.upper()}")
            self._add_defaults(_rust_defaults(text, "COMMON_DEFAULTS"))
            self.kit_enums = enums
        else:
            self.kit_enums = {}
        src = root / "services" / str(service) / "src/config.rs"
        if service and src.exists():
            text = _rust_source(src)
            structs = _rust_structs(text)
            enums = {**self.kit_enums, **_rust_setting_enums(text)}
            top = dict(structs.get("Settings", []))
            if service in top:
                self.own = self._walk(structs, enums, top[service], f"CIVICGRID__{service.upper()}")
            self._add_defaults(_rust_defaults(text, "DEFAULTS"))

    def _walk(self, structs: dict, enums: dict, typ: str, prefix: str, depth: int = 0) -> set[str]:
        keys: set[str] = set()
        for field, ftyp in structs.get(_ident(typ), []):
            key = f"{prefix}__{field.upper()}"
            if _ident(ftyp) in structs and depth < 4:
                keys |= self._walk(structs, enums, ftyp, key, depth + 1)
                continue
            keys.add(key)
            self.types[key] = ftyp
            inner = re.fullmatch(r"Option<\s*(\w+)\s*>", ftyp)
            name = inner.group(1) if inner else _ident(ftyp)
            if name in enums:
                self.enums[key] = enums[name]
        return keys

    def _add_defaults(self, toml: dict, prefix: str = "CIVICGRID") -> None:
        for k, v in toml.items():
            if isinstance(v, dict):
                self._add_defaults(v, f"{prefix}__{k.upper()}")
            else:
                self.defaults[f"{prefix}__{k.upper()}"] = str(v).lower() if isinstance(v, bool) else str(v)

    def is_secret(self, key: str) -> bool:
        """Typed `Secret` (never printed): its value must come from a Kubernetes Secret."""
        return re.search(r"\bSecret\b", self.types.get(key, "")) is not None


def _ident(typ: str) -> str:
    m = re.match(r"\w+", typ.strip())
    return m.group(0) if m else ""


def config_keys(root: Path) -> set[str] | None:
    """CIVICGRID__SECTION__KEY names derived from crates/kit/src/config.rs, if it exists."""
    return ConfigModel(root).common


def service_config_keys(root: Path, service: str) -> set[str] | None:
    """CIVICGRID__<SERVICE>__... names of the service's own section, nested sections included
    (`[notify.sms] url` -> CIVICGRID__NOTIFY__SMS__URL), from services/<name>/src/config.rs."""
    return ConfigModel(root, service).own


# Keys a service requires only in some configurations: key -> (the key that decides, its value
# that makes the first one required). Every other `ConfigError::Missing` key is always required.
CONDITIONAL_KEYS = {"CIVICGRID__NOTIFY__SMS__URL": ("CIVICGRID__NOTIFY__SMS__PROVIDER", "http")}

# Values that must come from a Secret wherever they are set (a database URL holds a password).
SECRET_KEY_RE = re.compile(r"^CIVICGRID__(DATABASE__URL|.*(_KEY|_SECRET|_PASSWORD|__AUTHORIZATION))$")


def service_required_keys(root: Path, service: str) -> set[str]:
    """Environment names of the keys the service's code refuses to start without
    (`ConfigError::Missing { key: "notify.contact_key", .. }` -> CIVICGRID__NOTIFY__CONTACT_KEY)."""
    keys = set()
    src = root / "services" / service / "src"
    for f in src.rglob("*.rs") if src.exists() else []:
        for key in re.findall(r'ConfigError::Missing\s*\{\s*key:\s*"([\w.]+)"', f.read_text()):
            keys.add("CIVICGRID__" + "__".join(part.upper() for part in key.split(".")))
    return keys
