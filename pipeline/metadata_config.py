"""The ML Metadata connection from the typed ``pipeline.metadata`` config: SQLite under the run's
output directory (default), or a MySQL server that runs on several machines share.

TFX's own helpers build the protos (``sqlite_metadata_connection_config``,
``mysql_metadata_connection_config``); this only chooses one and checks the settings first.
"""

from __future__ import annotations

import os

from recsys.config import ConfigError, MetadataConfig


def check(metadata: MetadataConfig) -> None:
    """``ConfigError`` naming each setting the chosen backend lacks (no TFX import: runs before
    any work)."""
    if metadata.backend == "mysql":
        problems = [f"config pipeline.metadata.{name}: ''; expected a value for backend 'mysql'"
                    for name in ("host", "database", "user") if not getattr(metadata, name)]
        if problems:
            raise ConfigError(problems)


def metadata_connection_config(metadata: MetadataConfig, sqlite_path: str,
                               environ: dict[str, str] | None = None):
    """A ``metadata_store_pb2.ConnectionConfig``; ``sqlite_path`` is used for the SQLite backend.
    The MySQL password comes from the environment variable ``metadata.password_env`` (unset:
    an empty password), so no secret is written into a config file or a compiled pipeline."""
    from tfx import v1 as tfx

    check(metadata)
    if metadata.backend == "sqlite":
        return tfx.orchestration.metadata.sqlite_metadata_connection_config(sqlite_path)
    environ = os.environ if environ is None else environ
    return tfx.orchestration.metadata.mysql_metadata_connection_config(
        host=metadata.host, port=metadata.port, database=metadata.database,
        username=metadata.user, password=environ.get(metadata.password_env, ""))
