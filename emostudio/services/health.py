"""Is the studio's background work alive? What the Train page shows about its workers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from emostudio.db.repository import Repository


def worker_status(repo: Repository, stale_seconds: float) -> str:
    """One line per live worker (last heartbeat, what it runs), or why queued jobs wait."""
    now = datetime.now(UTC)
    workers = repo.processes(role="worker", since=timedelta(seconds=stale_seconds))
    if not workers:
        queued = len(repo.list_jobs(status="queued"))
        wait = f": {queued} queued job{'s' if queued != 1 else ''} wait" if queued else ""
        return (
            f"**No worker is running**{wait}. The studio restarts its worker by itself within seconds; "
            "if this line stays, the server log says why."
        )
    lines = []
    for w in workers:
        age = (now - w.heartbeat_at).total_seconds() if w.heartbeat_at else float("nan")
        doing = f"running job {w.job_id}" if w.job_id else "idle"
        lines.append(f"Worker **{w.name}**: alive (heartbeat {age:.0f} s ago), {doing}.")
    return "  \n".join(lines)
