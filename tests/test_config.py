"""agent.toml: loading, ${ENV_VAR} secrets, and errors that name the file and the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.config import (
    DEFAULT_CONFIG,
    config_from_dict,
    find_config_path,
    load_config,
    mask_url,
)
from agent.errors import EXIT_USER_ERROR, ConfigError, PluginError

SECRET = "s3cr3t-Pa55-w0rd"  # made up for these tests

VALID = """
[agent]
state = "sqlite:///state/dsr.sqlite"
hmac_key = "keys/hmac.key"
max_depth = 2
workers = 4
log_level = "DEBUG"

[[systems]]
name = "crm"
url = "postgresql+psycopg://dsr:${DSR_TEST_CRM_PASSWORD}@127.0.0.1:5432/test"
description = "the CRM"
timeout = 30
schema = "public"

[systems.references]
contact_id = "crm.contacts.id"

[[systems]]
name = "shop"
connector = "sql"
url = "sqlite:///shop.sqlite"
enabled = false

[[systems]]
name = "share"
url = "file:///srv/share"
"""


def write(tmp_path: Path, text: str, name: str = "agent.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.exit_code == EXIT_USER_ERROR
    assert str(path) in str(err), "the error names the file"
    return err


@pytest.fixture
def crm_password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DSR_TEST_CRM_PASSWORD", SECRET)
    return SECRET


# --------------------------------------------------------------------------- loading

def test_valid_config_loads(tmp_path: Path, crm_password: str) -> None:
    cfg = load_config(write(tmp_path, VALID))
    assert cfg.path == tmp_path / "agent.toml"
    assert (cfg.max_depth, cfg.workers, cfg.log_level) == (2, 4, "debug")
    assert [s.name for s in cfg.systems] == ["crm", "shop", "share"]
    crm, shop, share = cfg.systems
    assert crm.connector == "sql"  # inferred from the URL scheme
    assert share.connector == "files"
    assert crm.url == f"postgresql+psycopg://dsr:{SECRET}@127.0.0.1:5432/test"
    assert crm.options == {"schema": "public"}
    assert crm.references == {"contact_id": "crm.contacts.id"}
    assert crm.timeout == 30.0 and crm.description == "the CRM"
    assert shop.enabled is False and shop.timeout == 60.0
    assert cfg.system("shop") is shop


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path, crm_password: str,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    cfg = load_config(Path("..") / write(tmp_path, VALID).name)
    assert cfg.hmac_key_path == tmp_path.resolve() / "keys" / "hmac.key"
    assert cfg.hmac_key_path.is_absolute()
    assert cfg.state_url == f"sqlite:///{(tmp_path.resolve() / 'state' / 'dsr.sqlite').as_posix()}"
    assert all(s.base_dir == tmp_path.resolve() for s in cfg.systems)


def test_absolute_hmac_key_is_kept(tmp_path: Path) -> None:
    key = tmp_path / "secure" / "hmac.key"
    cfg = load_config(write(tmp_path, f'[agent]\nhmac_key = "{key.as_posix()}"\n'))
    assert cfg.hmac_key_path == key


def test_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""))
    assert cfg.systems == []
    assert (cfg.max_depth, cfg.workers, cfg.log_level) == (3, 8, "info")
    assert cfg.state_url.startswith("sqlite:///")
    assert cfg.state_url.endswith("dsr-state.sqlite")
    assert cfg.hmac_key_path == tmp_path.resolve() / "keys" / "hmac.key"


def test_config_from_dict() -> None:
    cfg = config_from_dict({"systems": [{"name": "crm", "url": "sqlite:///:memory:"}]})
    assert cfg.path is None
    assert cfg.systems[0].connector == "sql"


def test_discovery_settings_and_their_bounds() -> None:
    cfg = config_from_dict({"discovery": {"values_per_column": 500, "text_bytes": 4096,
                                          "objects_per_prefix": 7}})
    assert (cfg.discovery.values_per_column, cfg.discovery.text_bytes,
            cfg.discovery.objects_per_prefix) == (500, 4096, 7)
    assert config_from_dict({}).discovery.values_per_column == 10_000
    with pytest.raises(ConfigError, match=r"discovery\.values_per_column"):
        config_from_dict({"discovery": {"values_per_column": 0}})
    with pytest.raises(ConfigError, match="unknown key"):
        config_from_dict({"discovery": {"rows": 5}})


def test_unknown_system_name_lists_the_known_ones(tmp_path: Path, crm_password: str) -> None:
    cfg = load_config(write(tmp_path, VALID))
    with pytest.raises(ConfigError, match="known: crm, shop, share"):
        cfg.system("billing")


# --------------------------------------------------------------------------- finding the file

def test_find_config_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DSR_CONFIG", raising=False)
    assert find_config_path(None) == Path(DEFAULT_CONFIG)
    monkeypatch.setenv("DSR_CONFIG", str(tmp_path / "from-env.toml"))
    assert find_config_path(None) == tmp_path / "from-env.toml"
    assert find_config_path("explicit.toml") == Path("explicit.toml")  # --config wins


def test_dsr_config_is_honoured_by_load_config(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    path = write(tmp_path, '[agent]\nworkers = 3\n', name="custom.toml")
    monkeypatch.setenv("DSR_CONFIG", str(path))
    assert load_config().workers == 3


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(missing) in str(info.value)
    assert "dsr init" in str(info.value)
    monkeypatch.delenv("DSR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_config(required=False).systems == []


# --------------------------------------------------------------------------- secrets

def test_env_secrets_are_recorded_and_masked(tmp_path: Path, crm_password: str) -> None:
    cfg = load_config(write(tmp_path, VALID))
    crm = cfg.systems[0]
    assert SECRET in cfg.secrets
    assert SECRET not in crm.display_url
    assert crm.display_url == "postgresql+psycopg://dsr:***@127.0.0.1:5432/test"
    assert SECRET not in str(crm.public())
    assert SECRET not in repr(cfg)


def test_secret_in_an_option_is_masked_wherever_it_lands(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("DSR_TEST_TOKEN", "tok-9f8e7d")
    monkeypatch.setenv("DSR_TEST_URL", "sftp://agent@files.example.com:2222/tok-9f8e7d/share")
    cfg = load_config(write(tmp_path, """
[[systems]]
name = "share"
url = "${DSR_TEST_URL}"
token = "Bearer ${DSR_TEST_TOKEN}"
paths = ["/a", "${DSR_TEST_TOKEN}"]
"""))
    share = cfg.systems[0]
    assert share.options == {"token": "Bearer tok-9f8e7d", "paths": ["/a", "tok-9f8e7d"]}
    assert {"tok-9f8e7d", "sftp://agent@files.example.com:2222/tok-9f8e7d/share"} <= cfg.secrets
    assert "tok-9f8e7d" not in share.display_url
    assert share.display_url.startswith("sftp://agent@files.example.com:2222/")


def test_url_passwords_written_in_the_file_are_secrets(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """
[agent]
state = "postgresql+psycopg://dsr:st%40te-pw@127.0.0.1/dsr"
[[systems]]
name = "crm"
url = "mysql+pymysql://root:plain-pw@127.0.0.1:3306/test"
"""))
    assert {"plain-pw", "st%40te-pw", "st@te-pw"} <= cfg.secrets
    assert cfg.systems[0].display_url == "mysql+pymysql://root:***@127.0.0.1:3306/test"


def test_missing_env_var_names_file_key_and_variable(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DSR_TEST_CRM_PASSWORD", raising=False)
    err = config_error(tmp_path, VALID)
    assert "DSR_TEST_CRM_PASSWORD" in str(err)
    assert err.key == "systems.crm.url"
    assert "[systems.crm.url]" in str(err)


def test_missing_env_var_in_an_option_names_the_option(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DSR_TEST_NOPE", raising=False)
    err = config_error(tmp_path, """
[[systems]]
name = "share"
url = "file:///srv"
auth = { password = "${DSR_TEST_NOPE}" }
""")
    assert err.key == "systems.share.auth.password"
    assert "DSR_TEST_NOPE" in str(err)


def test_env_error_never_shows_a_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the first reference resolves, the second is missing: the message names only the missing
    monkeypatch.setenv("DSR_TEST_USER", "svc-user-77")
    monkeypatch.delenv("DSR_TEST_NOPE", raising=False)
    err = config_error(tmp_path, """
[[systems]]
name = "crm"
url = "postgresql+psycopg://${DSR_TEST_USER}:${DSR_TEST_NOPE}@127.0.0.1/test"
""")
    assert "svc-user-77" not in str(err)
    assert "DSR_TEST_NOPE" in str(err)


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql+psycopg://dsr:pw@127.0.0.1:5432/test",
     "postgresql+psycopg://dsr:***@127.0.0.1:5432/test"),
    ("mysql+pymysql://root:p@ss#w/rd@127.0.0.1/test", "mysql+pymysql://root:***@127.0.0.1/test"),
    ("mssql+pymssql://sa:pw@db.example.com/crm?charset=utf8",
     "mssql+pymssql://sa:***@db.example.com/crm?charset=utf8"),
    ("smb://agent:pw@files.example.com/share/path", "smb://agent:***@files.example.com/share/path"),
    ("postgresql+psycopg://dsr@127.0.0.1/test", "postgresql+psycopg://dsr@127.0.0.1/test"),
    ("sftp://agent@127.0.0.1:2222/srv", "sftp://agent@127.0.0.1:2222/srv"),
    ("sqlite:///C:/data/crm.sqlite", "sqlite:///C:/data/crm.sqlite"),
    ("s3://bucket/prefix", "s3://bucket/prefix"),
])
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_url_masks_given_secrets() -> None:
    assert mask_url("s3://bucket/tok123/x", {"tok123"}) == "s3://bucket/***/x"


def test_mask_url_masks_credential_parameters() -> None:
    assert mask_url("s3://bucket/p?sas_token=abc&region=eu&X-Amz-Signature=f00") == (
        "s3://bucket/p?sas_token=***&region=eu&X-Amz-Signature=***")
    assert mask_url("mssql+pymssql://db/crm?password=pw&charset=utf8") == (
        "mssql+pymssql://db/crm?password=***&charset=utf8")


def test_a_url_that_is_wholly_a_secret_still_shows_its_host() -> None:
    url = "postgresql+psycopg://dsr:pw-77@db.example.com/crm"
    assert mask_url(url, {url}) == "postgresql+psycopg://dsr:***@db.example.com/crm"


# --------------------------------------------------------------------------- errors

def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    err = config_error(tmp_path, "[agent\nworkers = 3\n")
    assert "not valid TOML" in str(err)


def test_unknown_section(tmp_path: Path) -> None:
    err = config_error(tmp_path, "[sytems]\nname = 'crm'\n")
    assert "sytems" in str(err)


def test_unknown_agent_key(tmp_path: Path) -> None:
    err = config_error(tmp_path, "[agent]\nworker = 3\n")
    assert err.key == "agent"
    assert "worker" in str(err) and "workers" in str(err)  # says what is known


@pytest.mark.parametrize(("body", "key"), [
    ('[agent]\nworkers = "8"\n', "agent.workers"),
    ("[agent]\nworkers = 0\n", "agent.workers"),
    ("[agent]\nmax_depth = 99\n", "agent.max_depth"),
    ("[agent]\nmax_depth = true\n", "agent.max_depth"),
    ('[agent]\nlog_level = "loud"\n', "agent.log_level"),
    ("[agent]\nlog_level = 3\n", "agent.log_level"),
    ('[agent]\nstate = "dsr.sqlite"\n', "agent.state"),
    ("[agent]\nhmac_key = 5\n", "agent.hmac_key"),
    ("agent = 3\n", "agent"),
    ('[systems]\nname = "crm"\n', "systems"),
    ("systems = [3]\n", "systems[0]"),
    ('[[systems]]\nurl = "sqlite:///crm.sqlite"\n', "systems[0].name"),
    ('[[systems]]\nname = "9crm"\nurl = "sqlite:///crm.sqlite"\n', "systems[0].name"),
    ('[[systems]]\nname = "crm"\n', "systems.crm.url"),
    ('[[systems]]\nname = "crm"\nurl = ""\n', "systems.crm.url"),
    ('[[systems]]\nname = "crm"\nurl = "ftp://x/y"\n', "systems.crm.connector"),
    ('[[systems]]\nname = "crm"\nurl = "sqlite:///x"\nconnector = 3\n', "systems.crm.connector"),
    ('[[systems]]\nname = "crm"\nurl = "sqlite:///x"\ntimeout = "soon"\n', "systems.crm.timeout"),
    ('[[systems]]\nname = "crm"\nurl = "sqlite:///x"\ntimeout = -1\n', "systems.crm.timeout"),
    ('[[systems]]\nname = "crm"\nurl = "sqlite:///x"\nenabled = "yes"\n', "systems.crm.enabled"),
    ('[[systems]]\nname = "crm"\nurl = "sqlite:///x"\ndescription = 1\n',
     "systems.crm.description"),
    ('[[systems]]\nname = "crm"\nurl = "sqlite:///x"\nreferences = { contact_id = "contacts" }\n',
     "systems.crm.references"),
])
def test_bad_values_name_file_and_key(tmp_path: Path, body: str, key: str) -> None:
    err = config_error(tmp_path, body)
    assert err.key == key
    assert f"[{key}]" in str(err)


def test_duplicate_system_names(tmp_path: Path) -> None:
    err = config_error(tmp_path, """
[[systems]]
name = "crm"
url = "sqlite:///a.sqlite"
[[systems]]
name = "crm"
url = "sqlite:///b.sqlite"
""")
    assert err.key == "systems[1].name"
    assert "duplicate" in str(err) and "crm" in str(err)


def test_errors_never_echo_secret_values(tmp_path: Path, crm_password: str) -> None:
    # a later error in a file whose earlier system resolved a secret
    err = config_error(tmp_path, VALID + '\n[[systems]]\nname = "crm"\nurl = "sqlite:///x"\n')
    assert SECRET not in str(err)
    assert os.environ["DSR_TEST_CRM_PASSWORD"] == SECRET


def test_relative_sqlite_system_url_is_relative_to_the_config(tmp_path):
    from agent.config import load_config
    folder = tmp_path / "conf"
    folder.mkdir()
    path = folder / "agent.toml"
    path.write_text('[[systems]]\nname = "crm"\nurl = "sqlite:///data/crm.sqlite"\n'
                    '[[systems]]\nname = "abs"\nurl = "sqlite+pysqlite:////srv/crm.sqlite"\n')
    cfg = load_config(path)
    assert cfg.system("crm").url == f"sqlite:///{folder.resolve().as_posix()}/data/crm.sqlite"
    assert cfg.system("abs").url == "sqlite+pysqlite:////srv/crm.sqlite"


def test_shipped_example_config_is_valid(monkeypatch):
    from pathlib import Path

    from agent.config import load_config
    from connectors.files.options import parse_options as files_options
    from connectors.recordings.options import parse_options as recordings_options
    from connectors.s3.options import parse_options as s3_options
    from connectors.sql.options import parse_options as sql_options
    for var in ("CRM_DB_PASSWORD", "REPORTING_DB_PASSWORD", "SALES_SHARE_PASSWORD",
                "EXPORTS_KEY_ID", "EXPORTS_SECRET", "CDR_DB_PASSWORD"):
        monkeypatch.setenv(var, "example-secret")
    cfg = load_config(Path(__file__).parent.parent / "config" / "agent.toml")
    assert [s.name for s in cfg.systems] == ["crm", "reporting", "sales-share", "exports",
                                             "phones"]
    parse = {"crm": sql_options, "reporting": sql_options, "sales-share": files_options,
             "exports": s3_options, "phones": recordings_options}
    for system in cfg.systems:
        parse[system.name](system)
        assert "example-secret" not in system.display_url


def test_policy_is_found_beside_named_or_inline(tmp_path):
    import shutil
    from pathlib import Path

    from agent.config import load_config
    from agent.errors import ConfigError
    example = Path(__file__).parent.parent / "config" / "policy.toml"
    folder = tmp_path / "beside"
    folder.mkdir()
    (folder / "agent.toml").write_text("[agent]\n")
    assert load_config(folder / "agent.toml").policy is None
    shutil.copy(example, folder / "policy.toml")
    beside = load_config(folder / "agent.toml").policy
    assert beside is not None and beside.rule_for("crm", "invoices") is not None

    named = tmp_path / "named"
    named.mkdir()
    shutil.copy(example, named / "rules.toml")
    (named / "agent.toml").write_text('[agent]\npolicy = "rules.toml"\n')
    assert load_config(named / "agent.toml").policy is not None
    (named / "agent.toml").write_text('[agent]\npolicy = "missing.toml"\n')
    with pytest.raises(ConfigError, match=r"agent\.policy.*not found"):
        load_config(named / "agent.toml")

    import tomllib

    from agent.config import config_from_dict
    data = tomllib.loads(example.read_text())
    assert config_from_dict({"policy": data}, base_dir=tmp_path).policy is not None
    with pytest.raises(ConfigError, match="not both"):
        config_from_dict({"policy": data, "agent": {"policy": "x.toml"}}, base_dir=tmp_path)


def test_a_plugin_connectors_url_scheme_names_it(tmp_path: Path) -> None:
    from agent.registry import Registry
    from tests.support.memory_connector import MemoryConnector

    class Tickets(MemoryConnector):
        name = "tickets"
        url_schemes = ("tickets",)

    class Rival(MemoryConnector):
        name = "rival"
        url_schemes = ("tickets", "rival")

    registry = Registry()
    registry.add("connectors", Tickets, "tickets-plugin")
    path = tmp_path / "agent.toml"
    path.write_text('[[systems]]\nname = "desk"\nurl = "tickets://helpdesk.example.com"\n')
    assert load_config(path, schemes=registry.url_schemes()).systems[0].connector == "tickets"
    with pytest.raises(ConfigError, match="does not name one"):
        load_config(path)  # without the plugin's schemes
    # a second claim of a scheme stops start-up, naming both
    with pytest.raises(PluginError, match="claims URL scheme 'tickets', already claimed by "
                                          "connector 'tickets' of plugin 'tickets-plugin'"):
        registry.add("connectors", Rival, "rival-plugin")
