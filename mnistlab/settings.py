"""The one settings object, read from MNISTLAB_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

RuntimeName = Literal["auto", "onnxruntime", "torch"]  # what answers predictions (service/runtime.py)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MNISTLAB_", extra="ignore")

    home: Path = Field(default=Path("var"), description="State directory: database, checkpoints, data sets.")
    data_dir: Path | None = Field(default=None, description="Data sets; default $MNISTLAB_HOME/datasets.")
    database_url: str | None = Field(default=None, description="Default sqlite:///$MNISTLAB_HOME/mnistlab.db.")
    download: bool = Field(default=True, description="Let torchvision download missing data sets.")
    heartbeat_timeout: float = Field(default=30.0, gt=0, description="Seconds before a silent job is requeued.")
    poll_interval: float = Field(default=0.5, gt=0, description="Seconds an idle worker waits between claims.")
    max_attempts: int = Field(default=3, ge=1, description="Worker crashes a job survives before it fails.")
    max_upload_bytes: int = Field(default=5_000_000, gt=0)
    max_infer_bytes: int = Field(default=16_000_000, gt=0, description="Open Inference Protocol body limit: "
                                 "tensors in JSON are verbose (1,000 images as FP32 JSON are about 5 MB).")
    max_pixels: int = Field(default=40_000_000, gt=0)
    max_sweep_jobs: int = Field(default=256, ge=1, description="The most jobs one sweep may plan.")
    api_key: SecretStr | None = Field(default=None, description="When set, requests need 'Authorization: Bearer KEY'.")
    session_hours: float = Field(default=12.0, gt=0, description="How long a browser stays signed in.")
    cookie_secure: bool = Field(default=False, description="Mark the session cookie Secure even when requests "
                                "arrive over plain HTTP (behind a TLS-terminating proxy).")
    public_predict: bool = Field(default=False, description="With an API key: leave /predict, GET /models and /v2 open.")
    cors_origins: str = Field(default="", description="Comma-separated origins allowed by CORS; empty: CORS off.")
    checkpoints: Path | None = Field(default=None, description="Checkpoint directory, may be a shared mount; "
                                                              "default $MNISTLAB_HOME/checkpoints.")
    events_interval: float = Field(default=0.5, gt=0, description="Seconds between the event broadcaster's looks "
                                   "at the database (one look for all watchers of an API process).")
    events_fallback_interval: float = Field(default=10.0, gt=0, description="On PostgreSQL, where changes are "
                                            "pushed (NOTIFY), seconds between safety looks.")
    max_streams: int = Field(default=1000, ge=1, description="Open event streams per API process; past it 503.")
    runtime: RuntimeName = Field(default="auto", description=(
        "What answers predictions: onnxruntime on each model's ONNX export (auto: when installed), or PyTorch."))
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_json: bool = Field(default=False, description="Log one JSON object per line instead of text.")

    @model_validator(mode="after")
    def _fill_paths(self) -> "Settings":
        self.home = self.home.resolve()
        if self.data_dir is None:
            self.data_dir = self.home / "datasets"
        self.data_dir = self.data_dir.resolve()
        self.checkpoints = (self.checkpoints or self.home / "checkpoints").resolve()
        if not self.database_url:  # unset or empty (compose passes an unset variable as "")
            self.database_url = f"sqlite:///{self.home / 'mnistlab.db'}"
        return self

    @property
    def allowed_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def key(self) -> str | None:
        """The API key, or None when unset or empty."""
        if self.api_key is None:
            return None
        return self.api_key.get_secret_value() or None

    @property
    def checkpoint_dir(self) -> Path:
        assert self.checkpoints is not None
        return self.checkpoints

    @property
    def heartbeat_interval(self) -> float:
        # Several beats fit in one timeout, so one slow beat never looks like a dead worker.
        return min(2.0, self.heartbeat_timeout / 4)

    @property
    def datasets_dir(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir

    @property
    def db_url(self) -> str:
        assert self.database_url is not None
        return self.database_url

    def ensure_dirs(self) -> None:
        for path in (self.home, self.checkpoint_dir, self.datasets_dir):
            path.mkdir(parents=True, exist_ok=True)
