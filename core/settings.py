"""Configuration from ``LINLI_*`` environment variables, with embedded defaults for one machine."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.codec import Keyring, PayloadKeyError
from core.secrets import data_dir_secret
from workflows.model import SlaPolicy
from workflows.policy import build_policy


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "linli"


class Settings(BaseSettings):
    # Errors say what is wrong without echoing the value: some values are secrets (payload keys, passwords).
    model_config = SettingsConfigDict(env_prefix="LINLI_", extra="ignore", hide_input_in_errors=True)

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
    # Request bodies larger than this are refused (413); an uploaded history may be larger (README: Limits).
    max_body_bytes: int = Field(default=1 << 20, gt=0)
    max_history_bytes: int = Field(default=32 << 20, gt=0)
    # Signs pagination cursors; unset: a secret generated into the data dir, shared by this machine's
    # processes. API processes on several machines must all be given the same one.
    cursor_secret: SecretStr | None = Field(default=None, min_length=16)
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")
    # Keys that encrypt every payload sent to Temporal: "id:key,id:key", the first encrypts (README: Payload
    # encryption). Unset: one key generated into the data dir, which every process on this machine shares.
    payload_keys: SecretStr | None = None
    # The worker serves the Temporal SDK's metrics (Prometheus text, /metrics) on this port; unset: none
    # (README: Metrics). On every interface unless LINLI_METRICS_HOST says otherwise.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "0.0.0.0"
    # When set, the API's /metrics answers only "Authorization: Bearer <this>"; unset, it is open to whoever
    # reaches the API (keep it off the public side of the proxy or firewall it).
    metrics_token: SecretStr | None = Field(default=None, min_length=16)

    @model_validator(mode="after")
    def _refuse_unusable(self) -> Settings:
        if self.sla_file is not None and not self.sla_file.is_file():
            raise ValueError(f"LINLI_SLA_FILE={self.sla_file} does not exist")
        if self.sla_file is not None:
            try:
                _ = self.sla_policy  # read now: a bad policy stops the process at start, not the first filing
            except ValueError as error:  # pydantic's ValidationError and JSON errors are ValueErrors too
                raise ValueError(f"LINLI_SLA_FILE={self.sla_file}: {error}") from None
        return self

    @field_validator("payload_keys")
    @classmethod
    def _payload_keys_usable(cls, keys: SecretStr | None) -> SecretStr | None:
        if keys is not None:
            if not keys.get_secret_value().strip():
                raise ValueError("LINLI_PAYLOAD_KEYS is empty: give id:key entries, or unset it to use the data dir's")
            Keyring.parse(keys.get_secret_value())  # a bad entry is a startup error, with what is wrong
        return keys

    @cached_property
    def payload_keyring(self) -> Keyring:
        if self.payload_keys is not None:
            return Keyring.parse(self.payload_keys.get_secret_value())
        path = self.data_dir / "payload-keys"
        try:
            return Keyring.parse(data_dir_secret(path, lambda: str(Keyring.generate())))
        except PayloadKeyError as error:
            raise PayloadKeyError(f"{path}: {error}") from None

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'linli.db'}"

    @cached_property
    def sla_policy(self) -> SlaPolicy:
        """The policy new cases are filed under: defaults, the policy file's overrides, the scale."""
        overrides = json.loads(self.sla_file.read_text(encoding="utf-8")) if self.sla_file else None
        return build_policy(overrides, scale=self.sla_scale)
