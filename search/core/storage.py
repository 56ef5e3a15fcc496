"""The one module that knows how to open a study storage.

- PostgreSQL (or any SQLAlchemy URL) -> Optuna's RDBStorage with connection checks on checkout
  (`pool_pre_ping`), a connect timeout, heartbeats, and the password percent-encoded (Optuna
  runs `str.format` on the URL, so a `{` in a raw password would break it).
- No URL -> an embedded JournalStorage file: no server, safe for several local processes.

It also masks passwords: every URL hpsearch prints goes through `mask_url`, and a logging filter
scrubs every password this process has seen from every log line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import urllib.parse
import zlib
from dataclasses import dataclass
from typing import Iterator

import optuna
from optuna.storages import BaseStorage

from trainers.filelock import locked

ENV_URL = "HPSEARCH_STORAGE"
ENV_PASSWORD = "HPSEARCH_DB_PASSWORD"
JOURNAL_PREFIX = "journal:"
DEFAULT_HEARTBEAT_SECONDS = 10
STALE_BEATS = 3  # a trial whose heartbeat is older than this many intervals is taken for lost

_SECRETS: set[str] = set()
_LAST_OUTAGE = [float("-inf")]  # monotonic time this process last failed to reach the database


class StorageError(RuntimeError):
    """The storage URL is malformed, or the storage cannot be reached."""

    unreachable = False


def default_embedded_path() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "hpsearch", "studies.journal")


def resolve_url(url: str | None) -> str:
    """The URL to use: the argument, else $HPSEARCH_STORAGE, else the embedded default file."""
    url = url or os.environ.get(ENV_URL) or ""
    return url.strip() or JOURNAL_PREFIX + default_embedded_path()


def is_embedded(url: str) -> bool:
    return url.startswith(JOURNAL_PREFIX) or "://" not in url


def journal_path(url: str) -> str:
    return url[len(JOURNAL_PREFIX) :] if url.startswith(JOURNAL_PREFIX) else url


# ---- passwords ---------------------------------------------------------------------------
def _split_raw_password(url: str) -> tuple[str, str | None]:
    """Accept a raw password with '@', ':', '/' or '{' in it; return (url without password, password).

    The user info ends at the last '@' (host names and database names have none); the password
    starts after the first ':' in it. Percent-encoded passwords are decoded.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url, None
    userinfo, _, hostpart = rest.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not colon:
        return url, None
    return f"{scheme}://{user}@{hostpart}", urllib.parse.unquote(password)


def normalize_url(url: str) -> str:
    """A SQLAlchemy URL with its password percent-encoded; registers the password as a secret."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    bare, password = _split_raw_password(url)
    if password is None and os.environ.get(ENV_PASSWORD):
        password = os.environ[ENV_PASSWORD]
    try:
        parsed = make_url(bare)
    except (ArgumentError, ValueError):
        raise StorageError(f"malformed storage URL {mask_url(url)!r}") from None
    if parsed.drivername == "postgresql":
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; we ship psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg2")
    if password:
        # Scrubbing a 1-3 character password from free text would garble every log line; such
        # passwords are still masked wherever a URL is printed (mask_url).
        if len(password) >= 4:
            _SECRETS.add(password)
            _SECRETS.add(urllib.parse.quote(password, safe=""))
        parsed = parsed.set(password=password)
    return parsed.render_as_string(hide_password=False)


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, whatever its form."""
    return mask_secrets(re.sub(r"(://[^:/@]*:)(.*)@", r"\1***@", url))


def mask_secrets(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


class SecretFilter(logging.Filter):
    """Scrubs known passwords from every record before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            message = mask_secrets(record.getMessage())
            record.msg, record.args = message, None
        return True


# ---- opening -----------------------------------------------------------------------------
@dataclass
class Storage:
    """An opened storage and what hpsearch needs beside it.

    For a database, `optuna` is one `_CachedStorage` kept for the life of the process: Optuna wraps
    an RDBStorage in a fresh, empty cache on every `load_study`, so a worker loading its study
    before each trial would read the study's whole history every time. Passing this one wrapper
    to `load_study` keeps finished trials cached; each read fetches only what changed.
    """

    url: str  # as given (normalised); never print it: use `display`
    optuna: BaseStorage
    heartbeat_seconds: int | None
    backend: BaseStorage | None = None  # the RDBStorage under the cache (its engine), None for files

    @property
    def display(self) -> str:
        return mask_url(self.url)

    @property
    def embedded(self) -> bool:
        return is_embedded(self.url)

    @property
    def stale_seconds(self) -> float | None:
        """How old a heartbeat may be before its trial is taken for lost (None: no heartbeats)."""
        return STALE_BEATS * self.heartbeat_seconds if self.heartbeat_seconds else None

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """An exclusive lock named `key`, across every process on this storage.

        Used for a study's budget ("count the trials, then create one") and for its figures.
        PostgreSQL: a transaction-scoped advisory lock (released on commit, or by the server if
        the holder dies). Files: an flock on a lock file beside the storage, one per key.
        """
        with self._lock(key, blocking=True):
            yield

    @contextlib.contextmanager
    def try_lock(self, key: str) -> Iterator[bool]:
        """Like `lock`, but never waits: yields False at once when another process holds it."""
        with self._lock(key, blocking=False) as held:
            yield held

    @contextlib.contextmanager
    def _lock(self, key: str, *, blocking: bool) -> Iterator[bool]:
        digest = zlib.crc32(f"hpsearch:{key}".encode())
        if self.embedded or self.url.startswith("sqlite"):
            path = journal_path(self.url) if self.embedded else self.url.split("///", 1)[-1]
            with locked(f"{path}.lock-{digest:08x}", blocking=blocking) as held:
                yield held
            return
        if self.url.startswith("postgresql"):
            from sqlalchemy import text

            with self.backend.engine.begin() as conn:
                if blocking:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": digest})
                    yield True
                else:
                    yield bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": digest}).scalar())
            return
        yield True  # other databases: no lock; the budget may then overshoot by a few trials

    def budget_lock(self, study_name: str) -> contextlib.AbstractContextManager[None]:
        return self.lock(f"budget:{study_name}")

    def studies_user_attrs(self) -> dict[str, tuple[int, dict]]:
        """Every study's id and user attrs by name, without its system attrs.

        Optuna's `get_all_studies` also loads every study's system attrs, where optuna-dashboard
        keeps every trial's note and every figure: megabytes on a long study, on each poll of each
        worker. A database answers from two small tables; the journal, replayed in memory already,
        gives its user attrs without copying the rest.
        """
        if isinstance(self.optuna, optuna.storages.JournalStorage):
            # Its public get_all_studies deep-copies every study, system attrs included; read the
            # replayed log under the storage's own lock instead (private, pinned optuna==5.0.0).
            import copy

            journal = self.optuna
            with journal._thread_lock:
                journal._sync_with_backend()
                return {s.study_name: (s._study_id, copy.deepcopy(s.user_attrs))
                        for s in journal._replay_result.get_all_studies()}
        if self.backend is None:
            return {s.study_name: (s._study_id, s.user_attrs) for s in self.optuna.get_all_studies()}
        import json

        from sqlalchemy import text

        with self.backend.engine.connect() as conn:
            rows = conn.execute(text("SELECT s.study_id, s.study_name, a.key, a.value_json FROM studies s "
                                     "LEFT JOIN study_user_attributes a ON a.study_id = s.study_id")).all()
        out: dict[str, tuple[int, dict]] = {}
        for study_id, name, key, value in rows:
            attrs = out.setdefault(name, (study_id, {}))[1]
            if key is not None:
                attrs[key] = json.loads(value)
        return out

    def study_names(self) -> list[str]:
        """Every study's name, oldest first. A database answers from its studies table alone: Optuna's
        `get_all_studies` also reads every study's attributes, the dashboard's note of each trial included."""
        if self.backend is not None:
            from sqlalchemy import text

            with self.backend.engine.connect() as conn:
                return [row[0] for row in conn.execute(text("SELECT study_name FROM studies ORDER BY study_id"))]
        return [s.study_name for s in self.optuna.get_all_studies()]

    def count_states(self, study_id: int) -> dict[str, int]:
        """How many trials of the study are in each state (by TrialState name), in one query.

        A database answers with one GROUP BY, whatever the study's size; the journal file is
        already replayed in memory, so counting there reads no history either.
        """
        if self.backend is not None:
            from sqlalchemy import text

            with self.backend.engine.connect() as conn:
                rows = conn.execute(text("SELECT state, count(*) FROM trials WHERE study_id = :s GROUP BY state"),
                                    {"s": study_id}).all()
            return {getattr(state, "name", str(state)): int(n) for state, n in rows}
        counts: dict[str, int] = {}
        for t in self.optuna.get_all_trials(study_id, deepcopy=False):
            counts[t.state.name] = counts.get(t.state.name, 0) + 1
        return counts

    def trials_with_heartbeat(self, study_id: int) -> set[int]:
        """The ids of the study's RUNNING trials that have a heartbeat (none on a file storage)."""
        if self.backend is None or not self.heartbeat_seconds:
            return set()
        from sqlalchemy import text

        with self.backend.engine.connect() as conn:
            rows = conn.execute(text("SELECT h.trial_id FROM trial_heartbeats h JOIN trials t ON t.trial_id = h.trial_id "
                                     "WHERE t.study_id = :s AND t.state = 'RUNNING'"), {"s": study_id}).all()
        return {int(r[0]) for r in rows}


def open_storage(url: str | None = None, *, heartbeat_seconds: int | None = None, stale_callback=None) -> Storage:
    """Open the storage at `url` (see resolve_url). Creates the tables or file if needed."""
    url = resolve_url(url)
    if is_embedded(url):
        path = journal_path(url)
        if not path:
            raise StorageError("the embedded storage needs a file path, e.g. journal:./studies.journal")
        folder = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(folder, exist_ok=True)
            backend = optuna.storages.journal.JournalFileBackend(path)
        except OSError as exc:
            raise StorageError(f"cannot open embedded storage {path}: {exc.strerror or exc}") from None
        return Storage(url=JOURNAL_PREFIX + path, optuna=optuna.storages.JournalStorage(backend), heartbeat_seconds=None)

    url = normalize_url(url)
    heartbeat = heartbeat_seconds or int(os.environ.get("HPSEARCH_HEARTBEAT", DEFAULT_HEARTBEAT_SECONDS))
    engine_kwargs: dict = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        rdb = optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat,
            grace_period=STALE_BEATS * heartbeat,
            heartbeat_stale_trial_callback=stale_callback,
        )
    except Exception as exc:  # sqlalchemy errors, missing drivers, bad hosts
        error = StorageError(f"cannot open storage {mask_url(url)}: {_first_line(exc)}")
        error.unreachable = is_connection_error(exc)  # worth waiting for (a database still starting)
        raise error from None
    # Optuna's own wrapper (private, pinned with optuna==5.0.0): see Storage's docstring.
    from optuna.storages._cached_storage import _CachedStorage

    return Storage(url=url, optuna=_CachedStorage(rdb), heartbeat_seconds=heartbeat, backend=rdb)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return mask_secrets(text[0] if text else type(exc).__name__)


def is_connection_error(exc: BaseException) -> bool:
    """True for errors that a database restart or network blip causes (worth a retry).

    Optuna wraps SQLAlchemy errors in StorageInternalError, so the whole cause chain is checked.
    """
    from sqlalchemy import exc as sa_exc

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError)):
            return True
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


class Backoff:
    """The waits between retries against an unreachable database: 1 s, doubling, at most 30 s.

    One rule for the worker loop, a worker still waiting for its database, and a trial's writes.
    """

    FIRST, CAP = 1.0, 30.0

    def __init__(self) -> None:
        self.delay = self.FIRST

    def next(self) -> float:
        """The wait before the next try; each call doubles the one after, up to CAP."""
        delay = self.delay
        self.delay = min(delay * 2, self.CAP)
        return delay

    def reset(self) -> None:
        self.delay = self.FIRST


def note_outage() -> None:
    """Record that the database was unreachable just now (heartbeats, retries, the worker loop)."""
    import time

    _LAST_OUTAGE[0] = time.monotonic()


def seconds_since_outage() -> float:
    import time

    return time.monotonic() - _LAST_OUTAGE[0]


def describe_error(exc: BaseException) -> str:
    root = exc
    while root.__cause__ is not None and not str(root).strip():
        root = root.__cause__
    if type(exc).__name__ == "StorageInternalError" and exc.__cause__ is not None:
        root = exc.__cause__
    return _first_line(root)
