"""A node's home directory: where its configuration, keys, token and database live.

    HOME/config.toml     settings (TOML; see docs/operators.md)
    HOME/identity.key    the org key, its committed next key and the node key (encrypted)
    HOME/api.token       bearer token for the local API (mode 0600)
    HOME/node.sqlite     events and the folded state

The home is ``--home DIR``, else ``$AIDNODE_HOME``, else the platform's user data directory.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from crypto.private_file import write_private_file
from node.errors import ConfigError

__all__ = ["DEFAULT_CAPACITIES", "Home", "NodeConfig", "resolve_home"]

DEFAULT_CAPACITIES = (200, 40, 10, 3, 1)
_LISTEN = re.compile(r"(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(?P<port>\d{1,5})")


def resolve_home(option: str | None) -> Path:
    """``--home``, else ``$AIDNODE_HOME``, else the platform's user data directory."""
    if option:
        return Path(option).expanduser()
    env = os.environ.get("AIDNODE_HOME")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("aidnode", appauthor=False))


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeConfig:
    """The settings in ``config.toml``. Unknown keys are refused (a typo must not be ignored)."""

    name: str
    org: str = ""  # this node's org id (aid1…), fixed at init
    region: str = ""
    listen: str = "127.0.0.1:7420"
    public_url: str = ""  # how peers reach this node, if not http://<listen>
    horizon_days: float = 30.0
    sync_interval_seconds: float = 30.0
    push: bool = True  # live push streams (off: anti-entropy rounds only)
    trust_capacities: tuple[int, ...] = DEFAULT_CAPACITIES
    pinned_roots: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    quarantine_per_author: int = 200
    quarantine_total: int = 20_000
    tls: bool = False
    # "trusted": store events only from orgs this node accepts (others wait in quarantine);
    # "all": store every valid event (closed test federations only: no flood protection).
    admit: str = "trusted"

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ConfigError("name must not be empty")
        match = _LISTEN.fullmatch(self.listen)
        if not match or not 0 < int(match["port"]) < 65536:
            raise ConfigError(f"listen must be HOST:PORT, got {self.listen!r}")
        if self.horizon_days <= 0 or self.sync_interval_seconds <= 0:
            raise ConfigError("horizon_days and sync_interval_seconds must be positive")
        if not self.trust_capacities or any(c < 1 for c in self.trust_capacities):
            raise ConfigError("trust_capacities must be positive integers")
        if self.admit not in ("trusted", "all"):
            raise ConfigError(f"admit must be trusted or all, got {self.admit!r}")
        if self.quarantine_per_author < 1 or self.quarantine_total < self.quarantine_per_author:
            raise ConfigError("quarantine caps must be positive, total ≥ per author")

    @property
    def host(self) -> str:
        match = _LISTEN.fullmatch(self.listen)
        assert match is not None
        return match["host"].strip("[]")

    @property
    def port(self) -> int:
        match = _LISTEN.fullmatch(self.listen)
        assert match is not None
        return int(match["port"])

    @property
    def url(self) -> str:
        if self.public_url:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def to_toml(self) -> str:
        lines = ["# aidnode node configuration (docs/operators.md explains every setting)"]
        for f in fields(self):
            lines.append(f"{f.name} = {_toml_value(getattr(self, f.name))}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str) -> NodeConfig:
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config.toml is not valid TOML: {exc}") from None
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ConfigError(f"unknown settings in config.toml: {', '.join(sorted(unknown))}")
        if "name" not in raw:
            raise ConfigError("config.toml has no name")
        try:
            values: dict[str, Any] = {
                k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()
            }
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"config.toml: {exc}") from None

    def with_changes(self, **changes: Any) -> NodeConfig:
        return replace(self, **changes)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


@dataclass(frozen=True, slots=True)
class Home:
    """Paths inside a node home."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def key_path(self) -> Path:
        return self.root / "identity.key"

    @property
    def token_path(self) -> Path:
        return self.root / "api.token"

    @property
    def db_path(self) -> Path:
        return self.root / "node.sqlite"

    @property
    def pid_path(self) -> Path:
        return self.root / "aidnode.pid"

    def exists(self) -> bool:
        return self.config_path.exists() and self.key_path.exists()

    def load_config(self) -> NodeConfig:
        try:
            text = self.config_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"no node at {self.root}: run `aidnode init --name NAME` first"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot read {self.config_path}: {exc.strerror}") from None
        return NodeConfig.from_toml(text)

    def save_config(self, config: NodeConfig) -> None:
        write_private_file(self.config_path, config.to_toml().encode(), overwrite=True)

    def new_token(self) -> str:
        token = secrets.token_urlsafe(32)
        write_private_file(self.token_path, (token + "\n").encode(), overwrite=True)
        return token

    def token(self) -> str:
        try:
            return self.token_path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the API token {self.token_path}: {exc}") from None
