"""Where a study's files live (trained models, images): an Optuna artifact store.

A location is a folder (`FileSystemArtifactStore`; a folder every host mounts, for several
hosts) or `s3://bucket/prefix` (`Boto3ArtifactStore`, the `s3` extra). Launch records it in the
study's spec, so every worker and `hpsearch dashboard` find it without flags. With none given,
an embedded storage keeps its files beside its journal (`studies.journal` -> `studies-artifacts/`)
and a database study in this user's data folder, which only this host sees.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from search.core.storage import Storage, default_embedded_path, journal_path

S3_PREFIX = "s3://"


class ArtifactError(ValueError):
    """An artifact location that cannot be used, or an artifact that is not there."""


def default_location(storage: Storage) -> str:
    """Where a study launched without --artifacts keeps its files (an absolute folder)."""
    if storage.embedded:
        path = os.path.abspath(journal_path(storage.url))
        stem = os.path.splitext(os.path.basename(path))[0]
        return os.path.join(os.path.dirname(path), f"{stem}-artifacts")
    return os.path.join(os.path.dirname(default_embedded_path()), "artifacts")


def normalize_location(location: str) -> str:
    """An absolute folder, or an s3:// URL checked for its bucket; raise ArtifactError otherwise."""
    location = location.strip()
    if not location:
        raise ArtifactError("--artifacts needs a folder or s3://bucket/prefix")
    if location.startswith(S3_PREFIX):
        bucket = location[len(S3_PREFIX):].split("/", 1)[0]
        if not bucket:
            raise ArtifactError(f"artifact location {location!r} names no bucket; use s3://bucket/prefix")
        return location.rstrip("/")
    if "://" in location:
        raise ArtifactError(f"artifact location {location!r}: use a folder or s3://bucket/prefix")
    return os.path.abspath(os.path.expanduser(location))


def open_store(location: str):
    """The Optuna artifact store at `location` (a folder is created when missing)."""
    location = normalize_location(location)
    if location.startswith(S3_PREFIX):
        bucket, _, prefix = location[len(S3_PREFIX):].partition("/")
        try:
            from optuna.artifacts import Boto3ArtifactStore
        except ImportError:  # optuna imports boto3 inside
            raise ArtifactError("an s3:// artifact store needs boto3: pip install 'hpsearch[s3]'") from None
        try:
            store = Boto3ArtifactStore(bucket)
        except ImportError:
            raise ArtifactError("an s3:// artifact store needs boto3: pip install 'hpsearch[s3]'") from None
        return PrefixedStore(store, prefix) if prefix else store
    from optuna.artifacts import FileSystemArtifactStore

    try:
        os.makedirs(location, exist_ok=True)
    except OSError as exc:
        raise ArtifactError(f"cannot create artifact folder {location}: {exc.strerror or exc}") from None
    return FileSystemArtifactStore(location)


class PrefixedStore:
    """An artifact store whose ids live under a key prefix (Boto3ArtifactStore has no prefix of its own)."""

    def __init__(self, store, prefix: str):
        self.store, self.prefix = store, prefix.strip("/") + "/"

    def open_reader(self, artifact_id: str) -> BinaryIO:
        return self.store.open_reader(self.prefix + artifact_id)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self.store.write(self.prefix + artifact_id, content_body)

    def remove(self, artifact_id: str) -> None:
        self.store.remove(self.prefix + artifact_id)


class UnionStore:
    """Several studies' stores as one, for optuna-dashboard, which serves a single store.

    Reads and removals go to the store that holds the artifact; the dashboard's uploads go to
    the first one.
    """

    def __init__(self, stores: list):
        self.stores = stores

    def _holder(self, artifact_id: str):
        from optuna.artifacts.exceptions import ArtifactNotFound

        for store in self.stores:
            try:
                store.open_reader(artifact_id).close()
                return store
            except ArtifactNotFound:
                continue
        raise ArtifactNotFound(f"artifact {artifact_id} is in none of the studies' stores")

    def open_reader(self, artifact_id: str) -> BinaryIO:
        return self._holder(artifact_id).open_reader(artifact_id)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self.stores[0].write(artifact_id, content_body)

    def remove(self, artifact_id: str) -> None:
        self._holder(artifact_id).remove(artifact_id)
