"""Configuration from ``LINLI_*`` environment variables, with embedded defaults for one machine."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflows.model import SlaPolicy
from workflows.policy import build_policy


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "linli"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None  # default: SQLite file in the data dir
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "linli-cases"
    sla_file: Path | None = None
    sla_scale: float = Field(default=1.0, gt=0)
    temporal_cli: Path | None = None
    # How long the API waits for a worker to apply a command before answering 503 (the command stays queued).
    command_timeout: float = Field(default=30.0, gt=0)
    # How long the API trusts a token it has checked; a revoked token stops working within this time.
    token_cache_seconds: float = Field(default=5.0, ge=0)
    # The worker runs workflow code outside the SDK's sandbox unless this is set (README: Reliability and speed).
    workflow_sandbox: bool = False
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")

    @model_validator(mode="after")
    def _refuse_unusable(self) -> Settings:
        if self.sla_file is not None and not self.sla_file.is_file():
            raise ValueError(f"LINLI_SLA_FILE={self.sla_file} does not exist")
        return self

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'linli.db'}"

    @cached_property
    def sla_policy(self) -> SlaPolicy:
        """The policy new cases are filed under: defaults, the policy file's overrides, the scale."""
        overrides = json.loads(self.sla_file.read_text(encoding="utf-8")) if self.sla_file else None
        return build_policy(overrides, scale=self.sla_scale)
