"""One exception family for everything the client can raise: the server's refusals and a missing server."""

from __future__ import annotations


class MnistlabError(Exception):
    """Anything the client raises on purpose."""


class ApiError(MnistlabError):
    """The server answered with an error: `status` is the HTTP status, `detail` the server's own message."""

    def __init__(self, status: int, detail: str, *, method: str = "", url: str = "") -> None:
        self.status, self.detail, self.method, self.url = status, detail, method, url
        where = f" ({method} {url})" if method else ""
        super().__init__(f"HTTP {status}: {detail}{where}")


class ServerUnavailable(MnistlabError):
    """No answer from the server: `reason` says whether nothing listens there or it stopped answering."""

    def __init__(self, url: str, reason: str) -> None:
        self.url, self.reason = url, reason
        super().__init__(f"{reason} (is `mnistlab serve` running there? set MNISTLAB_URL or --url to another server)")


class JobEnded(MnistlabError):
    """A job ended otherwise than succeeded; `job` is its final state and `detail` the server's message."""

    def __init__(self, job: object, detail: str) -> None:
        self.job, self.detail = job, detail
        super().__init__(detail)


class JobFailed(JobEnded):
    """The job failed (its `error` is in `detail`)."""


class JobCancelled(JobEnded):
    """The job was cancelled, or its sweep's pruner stopped it (`job.status` says which)."""


class WaitTimeout(MnistlabError):
    """`wait(timeout=...)` ran out before the job or sweep ended."""
