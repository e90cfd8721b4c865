"""Claiming queued jobs: each job to one worker, and on PostgreSQL a claim in progress never holds up another."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from mnistlab import jobs
from mnistlab.spec import JobRequest, JobStatus
from mnistlab.tables import Job
from tests.helpers.jobs import QUICK_JOB
from tests.helpers.postgres import both_databases

CLAIMERS = 8
ROUNDS = 25


def _queue(sessions: sessionmaker, count: int) -> list[int]:
    config = JobRequest.model_validate(QUICK_JOB).resolve(seed=1)
    with sessions.begin() as session:
        rows = [Job.from_config(config, status=JobStatus.queued) for _ in range(count)]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _claim(sessions: sessionmaker, worker: str) -> int | None:
    with sessions.begin() as session:
        job = jobs.claim_next(session, worker_id=worker, devices=["cpu"])
        return None if job is None else job.id


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_claim_not_yet_committed_does_not_hold_up_the_next_claimer(sessions: sessionmaker) -> None:
    """SKIP LOCKED: one worker's claim is still open; another takes the next job at once instead of waiting."""
    first_job, second_job = _queue(sessions, 2)
    with sessions.begin() as holding:
        assert jobs.claim_next(holding, worker_id="slow", devices=["cpu"]).id == first_job  # uncommitted
        with sessions.begin() as other:
            # Waiting on the first claim's row lock for more than 500 ms is an error here, not a delay.
            other.execute(text("SET LOCAL lock_timeout = '500ms'"))
            assert jobs.claim_next(other, worker_id="quick", devices=["cpu"]).id == second_job
    with sessions() as session:
        assert {job.id: job.worker_id for job in session.query(Job)} == {first_job: "slow", second_job: "quick"}


@both_databases
def test_claimers_released_together_take_each_job_exactly_once(sessions: sessionmaker) -> None:
    """Eight claimers behind a barrier, for eight queued jobs, many times over: every job claimed, none twice."""
    with ThreadPoolExecutor(CLAIMERS) as pool:
        for round_number in range(ROUNDS):
            queued = _queue(sessions, CLAIMERS)
            barrier = threading.Barrier(CLAIMERS)

            def claim(worker: int) -> int | None:
                barrier.wait(timeout=30)
                return _claim(sessions, f"worker-{round_number}-{worker}")

            claimed = list(pool.map(claim, range(CLAIMERS)))
            assert sorted(claimed) == queued, f"round {round_number}: {claimed}"  # type: ignore[type-var]
    with sessions() as session:
        assert session.query(Job).filter(Job.attempts != 1).count() == 0
