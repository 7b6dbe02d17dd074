"""The MLMD connection from ``pipeline.metadata``: SQLite by default, MySQL by config, the
password from the environment only."""

import pytest

from recsys.config import ConfigError, MetadataConfig, load_config
from recsys.pipeline.metadata_config import check, metadata_connection_config


def test_sqlite_is_the_default(tmp_path):
    config = metadata_connection_config(load_config(None).pipeline.metadata, str(tmp_path / "m.db"))
    assert config.WhichOneof("config") == "sqlite"
    assert config.sqlite.filename_uri == str(tmp_path / "m.db")


def test_mysql_connection_from_the_config_and_the_password_from_the_environment():
    cfg = load_config(None, ["pipeline.metadata.backend=mysql", "pipeline.metadata.host=db.internal",
                             "pipeline.metadata.port=3307", "pipeline.metadata.database=mlmd",
                             "pipeline.metadata.user=tfx"])
    config = metadata_connection_config(cfg.pipeline.metadata, "/unused.db",
                                        environ={"RECSYS_MLMD_PASSWORD": "s3cret"})
    assert config.WhichOneof("config") == "mysql"
    m = config.mysql
    assert (m.host, m.port, m.database, m.user, m.password) == ("db.internal", 3307, "mlmd", "tfx", "s3cret")
    assert metadata_connection_config(cfg.pipeline.metadata, "", environ={}).mysql.password == ""


def test_mysql_without_its_settings_names_each_one():
    with pytest.raises(ConfigError) as e:
        check(MetadataConfig(backend="mysql", host="db"))
    assert e.value.problems == [
        "config pipeline.metadata.database: ''; expected a value for backend 'mysql'",
        "config pipeline.metadata.user: ''; expected a value for backend 'mysql'"]
    with pytest.raises(ConfigError, match=r"pipeline.metadata.port: '0'; expected an integer >= 1"):
        load_config(None, ["pipeline.metadata.port=0"])
