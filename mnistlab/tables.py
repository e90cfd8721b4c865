"""Database tables: jobs, their per-epoch metrics, live workers and default-model choices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Enum,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from mnistlab.db import Base, UTCDateTime, utcnow
from mnistlab.spec import JobConfig, JobStatus, SweepStatus

# 64-bit keys (the API accepts ids up to 2**63-1); SQLite's INTEGER already is, and must stay the rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    status: Mapped[JobStatus] = mapped_column(Enum(JobStatus, native_enum=False, length=16), index=True)
    dataset: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(16))
    hidden: Mapped[int | None] = mapped_column(Integer)
    optimizer: Mapped[str] = mapped_column(String(16))
    lr: Mapped[float] = mapped_column(Float)
    # The optimizer's knobs (momentum, nesterov, weight_decay, ...): one JSON column, so that a new
    # knob in mnistlab/spec.py needs no migration.
    optimizer_params: Mapped[dict] = mapped_column(JSON, default=dict)
    epochs: Mapped[int] = mapped_column(Integer)
    batch_size: Mapped[int] = mapped_column(Integer)
    device: Mapped[str] = mapped_column(String(16))
    seed: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    ran_on: Mapped[str | None] = mapped_column(String(128))
    # Live progress inside the current epoch, written by the heartbeat.
    progress_epoch: Mapped[int] = mapped_column(Integer, default=0)
    progress_fraction: Mapped[float] = mapped_column(Float, default=0.0)
    eta_seconds: Mapped[float | None] = mapped_column(Float)
    # What is on disk: the epochs whose checkpoints are the last and the best.
    last_epoch: Mapped[int | None] = mapped_column(Integer)
    best_epoch: Mapped[int | None] = mapped_column(Integer)
    best_test_accuracy: Mapped[float | None] = mapped_column(Float)
    init_hash: Mapped[str | None] = mapped_column(String(64))
    lr_schedule: Mapped[str] = mapped_column(String(16), default="constant")
    early_stopping: Mapped[dict | None] = mapped_column(JSON)
    stopped_early: Mapped[str | None] = mapped_column(Text)  # why a job ended before its last epoch
    augmentation: Mapped[dict | None] = mapped_column(JSON)  # spec.Augmentation's fields; null: none
    label_smoothing: Mapped[float] = mapped_column(Float, default=0.0)
    # What reproduces it beside its config: the versions and the data (set by the worker that trains it).
    environment: Mapped[dict | None] = mapped_column(JSON)
    sweep_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sweeps.id", ondelete="CASCADE"), index=True)
    trial: Mapped[int | None] = mapped_column(Integer)  # its number in the sweep (Optuna's, for a search)
    # POST /jobs with an Idempotency-Key: the key, and a hash of the request it was first used with.
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))

    # The columns above that describe the job itself are exactly JobConfig's fields.
    @classmethod
    def from_config(cls, config: JobConfig, **state: object) -> "Job":
        return cls(**config.as_dict(), **state)

    @property
    def config(self) -> JobConfig:
        return JobConfig(**{name: getattr(self, name) for name in JobConfig.__dataclass_fields__})


class Sweep(Base):
    """A grid or a search over job settings; its trials are jobs with its id (mnistlab/sweeps.py)."""

    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # grid | search
    request: Mapped[dict] = mapped_column(JSON)  # the SweepRequest as posted
    planned: Mapped[int] = mapped_column(Integer)
    status: Mapped[SweepStatus] = mapped_column(Enum(SweepStatus, native_enum=False, length=16),
                                                default=SweepStatus.running)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EpochMetric(Base):
    __tablename__ = "epoch_metrics"
    __table_args__ = (UniqueConstraint("job_id", "epoch"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(BigId, ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    loss: Mapped[float] = mapped_column(Float)
    train_accuracy: Mapped[float] = mapped_column(Float)
    test_accuracy: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    images_per_second: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkerRecord(Base):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    devices: Mapped[list[str]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class DefaultModel(Base):
    """A data set's default model when an operator picked a job's; absent means the shipped one."""

    __tablename__ = "default_models"

    dataset: Mapped[str] = mapped_column(String(32), primary_key=True)
    job_id: Mapped[int] = mapped_column(BigId, ForeignKey("jobs.id", ondelete="CASCADE"))


class SignInAttempts(Base):
    """Sign-in attempts per client address in its current minute: one count for every API process and host."""
    __tablename__ = "sign_in_attempts"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[float] = mapped_column(Float)  # Unix seconds, which every process and host shares
    attempts: Mapped[int] = mapped_column(Integer)
