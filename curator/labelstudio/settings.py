"""Where the server URL and API token come from: flags, then the environment, then the config.

``LabelStudioSettings`` is the ``labelstudio:`` section of ``curator.yaml``. It names where the token
*lives* (an environment variable or a file), never the token itself, so a config file can be
committed. A resolved ``Connection`` keeps the token in a ``SecretStr``: its repr, str and every
error message show ``**********``, never the token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from .errors import SettingsError

URL_ENV = "LABEL_STUDIO_URL"
KEY_ENV = "LABEL_STUDIO_API_KEY"
FILES_ROOT_ENV = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"


class LabelStudioSettings(BaseModel):
    """The ``labelstudio:`` section of curator.yaml."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, description="server URL, e.g. http://localhost:8080")
    api_key_env: str = Field(KEY_ENV, description="environment variable that holds the API token")
    api_key_file: str | None = Field(None, description="file whose first line is the API token")
    local_files_root: str | None = Field(None, description="the server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT")
    apply_labels: bool = Field(True, description="curator run applies pulled annotations as labels")
    policy: Literal["majority", "lead", "flag"] = Field("majority", description="conflict policy when applying")
    lead: str | None = Field(None, description="the lead annotator's email, for policy: lead")
    #: Directory relative paths are resolved against (the config file's folder).
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)


@dataclass(frozen=True)
class Connection:
    """A server URL and its token; the token is only ever read by the client."""

    url: str
    api_key: SecretStr
    local_files_root: Path | None = None

    def __repr__(self) -> str:
        return f"Connection(url={self.url!r}, api_key=SecretStr('**********'))"


def load_settings(config: str | Path | None) -> LabelStudioSettings:
    """The ``labelstudio:`` section of a curator.yaml (empty settings when there is no file)."""
    if config is None:
        return LabelStudioSettings()
    path = Path(config)
    if not path.is_file():
        raise SettingsError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        raise SettingsError(f"{path}: not a readable YAML file") from None
    section = data.get("labelstudio") if isinstance(data, dict) else None
    return parse_settings(section or {}, base_dir=path.resolve().parent, source=str(path))


def parse_settings(data: Mapping, *, base_dir: Path | None = None, source: str = "config") -> LabelStudioSettings:
    if not isinstance(data, Mapping):
        raise SettingsError(f"{source}: labelstudio: expected a mapping, got {type(data).__name__}")
    try:
        settings = LabelStudioSettings.model_validate(dict(data))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SettingsError(f"{source}: labelstudio.{where}: {first['msg']}") from None
    if base_dir is not None:
        settings.base_dir = Path(base_dir)
    return settings


def resolve(url: str | None = None, api_key: str | None = None, settings: LabelStudioSettings | None = None,
            env: Mapping[str, str] | None = None, local_files_root: str | Path | None = None) -> Connection:
    """The connection to use: each value from a flag, else the environment, else the config."""
    settings = settings or LabelStudioSettings()
    env = os.environ if env is None else env
    found_url = url or env.get(URL_ENV) or settings.url
    if not found_url:
        raise SettingsError(f"no Label Studio URL: pass --url, set {URL_ENV}, or set labelstudio.url in curator.yaml")
    if not found_url.startswith(("http://", "https://")):
        raise SettingsError(f"Label Studio URL: expected http://... or https://..., got {found_url!r}")
    key = api_key or env.get(KEY_ENV) or (env.get(settings.api_key_env) if settings.api_key_env else None)
    if not key and settings.api_key_file:
        key = _read_key_file(settings.base_dir / Path(settings.api_key_file).expanduser())
    if not key:
        raise SettingsError(f"no Label Studio API token: pass --api-key, set {KEY_ENV}"
                            f"{f' or {settings.api_key_env}' if settings.api_key_env != KEY_ENV else ''}, "
                            "or set labelstudio.api_key_file in curator.yaml")
    root = local_files_root or env.get(FILES_ROOT_ENV) or settings.local_files_root
    if root is not None:
        root = settings.base_dir / Path(root).expanduser()
    return Connection(url=found_url.rstrip("/"), api_key=SecretStr(key.strip()), local_files_root=root)


def _read_key_file(path: Path) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise SettingsError(f"{path}: cannot read the API token file ({err.strerror})") from None
    return lines[0].strip() if lines else None
