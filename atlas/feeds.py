"""Live feeds: datasets that name a CSV address, pulled on a schedule (``pull_minutes``) into new versions.

- ``pull_due()`` claims each due feed with one atomic UPDATE (``pull_state.next_at`` moved on only if it was
  still due), so two workers, or a worker and ``atlas pull`` from cron, never pull the same feed twice.
- A pull fetches the address through atlas/netguard.py (https; public addresses only, or the hosts of
  ``ATLAS_FEED_ALLOW``; every redirect checked again; connected to the very address checked, so DNS
  rebinding reaches nothing; ``ATLAS_UPLOAD_MAX_BYTES`` at most, ``ATLAS_FEED_TIMEOUT`` seconds) and
  publishes it through the same validation as an upload (atlas/publish.py, ``via="pull"``), acting for the
  dataset's organisation. Content equal to the current version makes no new version.
- A feed's address may hold credentials (``?api_key=...``, ``user:password@``): it is shown to the
  dataset's editors only (``dataset.feed``); a pulled version's note says "pulled from its live feed", and
  failures are recorded without the address (``redact`` gives the address with its secrets masked).
- A failed pull (unreachable, an HTTP error, too large, or rejected by validation) changes nothing: the last
  good version stays current. It is recorded on the dataset (shown to its editors on its page, with the
  count of failures in a row) and in the audit log, and the feed is tried again at its next interval.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa

from atlas import access, audit, db, netguard, publish, settings

__all__ = ["NOTE", "PullError", "fetch", "pull_due", "redact", "start_scheduler"]

log = logging.getLogger(__name__)
NOTE = "pulled from its live feed"
PullError = netguard.Refused


def fetch(url: str, limit: int) -> bytes:
    """The bytes at ``url``, at most ``limit``, by atlas/netguard.py's rules; PullError saying what failed."""
    return netguard.fetch(url, limit)


def redact(url: str | None) -> str:
    """A feed's address with its secrets masked (user:password, every query value): what an editor's page
    may show beside the full address, and what logs may hold."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = ("***@" if parts.username or parts.password else "") + host + (f":{parts.port}" if parts.port else "")
        query = urlencode([(k, "***") for k, _ in parse_qsl(parts.query, keep_blank_values=True)])
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "(an address that is not a valid URL)"


def _claim(data_dir: Path, everything: bool) -> list[tuple[int, str, int]]:
    """Due feeds this process now owns: (dataset id, url, minutes)."""
    url = db.database_url(data_dir=data_dir)
    now = db.now()
    owned = []
    with db.session(url) as s:
        rows = s.execute(sa.select(db.PullState.dataset_id, db.PullState.next_at, db.Dataset.pull_url,
                                   db.Dataset.pull_minutes)
                         .join(db.Dataset, db.Dataset.id == db.PullState.dataset_id)
                         .where(db.Dataset.pull_url.is_not(None))).all()
    for dataset_id, next_at, pull_url, minutes in rows:
        if not everything and next_at > now:
            continue
        minutes = minutes or 1440
        with db.session(url) as s:
            claimed = s.execute(sa.update(db.PullState).where(db.PullState.dataset_id == dataset_id,
                                                              db.PullState.next_at == next_at)
                                .values(next_at=now + timedelta(minutes=minutes), last_attempt=now)).rowcount
        if claimed == 1:
            owned.append((dataset_id, pull_url, minutes))
    return owned


def pull_due(everything: bool = False, data_dir: Path | None = None) -> list[str]:
    """Pull every due live feed (every one with ``everything``); one line per feed saying what happened."""
    from atlas import extracts  # noqa: PLC0415 - the build's areas validate the codes

    data_dir = Path(data_dir or settings.load().data_dir)
    url = db.database_url(data_dir=data_dir)
    if not db.exists(url):
        return []
    s = extracts.current(data_dir)
    out = []
    for dataset_id, pull_url, _ in _claim(data_dir, everything):
        with db.session(url) as sess:
            org_id = sess.get(db.Dataset, dataset_id).org_id
        try:
            body = fetch(pull_url, settings.load().upload_max_bytes)
            result = publish.add_version(None, dataset_id, body, "feed.csv", s, as_of=date.today().isoformat(),
                                         note=NOTE, via="pull", unchanged_ok=True)
        except (PullError, publish.Rejected) as exc:
            reason = exc.report.summary() if isinstance(exc, publish.Rejected) else str(exc)
            with db.session(url) as sess:
                state = sess.get(db.PullState, dataset_id)
                state.failures += 1
                state.last_error = reason[:2000]
            with access.acting_as(access.ANONYMOUS):
                audit.record_now("pull.failed", org_id=org_id, dataset_id=dataset_id, detail=reason, user_id=None,
                                 email="live feed", url=url)
            log.warning("live feed of dataset %s failed: %s", dataset_id, reason)
            out.append(f"ds{dataset_id}: failed ({reason}); the last good version stays current")
            continue
        with db.session(url) as sess:
            state = sess.get(db.PullState, dataset_id)
            state.failures, state.last_error, state.last_success = 0, "", db.now()
        if result.get("unchanged"):
            out.append(f"ds{dataset_id}: unchanged")
        else:
            out.append(f"ds{dataset_id}: version {result['version']}")
    return out


_started: set[int] = set()
_lock = threading.Lock()


def start_scheduler(every: int) -> None:
    """Pull due feeds every ``every`` seconds in a daemon thread of this process (once per process)."""
    import os  # noqa: PLC0415

    if every <= 0:
        return
    with _lock:
        if os.getpid() in _started:
            return
        _started.add(os.getpid())
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                for line in pull_due():
                    log.info("live feed: %s", line)
            except Exception:  # noqa: BLE001 - a scheduler that dies would stop every feed quietly
                log.exception("live feeds: the scheduled pull failed")

    threading.Thread(target=loop, name="atlas-feeds", daemon=True).start()
