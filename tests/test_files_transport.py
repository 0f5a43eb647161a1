"""The files connector's transports against a folder, a real sshd and a real smbd.

Each test runs over local, SFTP and SMB where the behaviour is shared (``share``), or on
the transports a behaviour belongs to. Servers: tests/file_servers.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import structlog.testing

from agent.config import config_from_dict
from agent.errors import ConfigError, ConnectorError
from connectors.files.transport import Entry, FileUnavailable, Skipped, Transport, UnsafePath
from connectors.files.transports import (
    TRANSPORT_KEYS,
    LocalSettings,
    SftpSettings,
    SmbSettings,
    open_transport,
    parse_transport,
)

if TYPE_CHECKING:
    from tests.file_servers import FileServers, Share

# the servers' fixtures (share, make_share, file_servers), shared by every module using them
pytest_plugins = ["tests.file_servers"]

REPO = Path(__file__).resolve().parents[1]
MakeShare = Callable[..., "Share"]


@contextlib.contextmanager
def opened(shared: Share, **extra: Any) -> Iterator[Transport]:
    transport = open_transport(shared.system(**extra))
    try:
        yield transport
    finally:
        transport.close()


@pytest.fixture
def transport(share: Share) -> Iterator[Transport]:
    with opened(share) as transport:
        yield transport


def _files(items: list[Entry | Skipped]) -> dict[str, int]:
    return {i.path: i.size for i in items if isinstance(i, Entry)}


def _skipped(items: list[Entry | Skipped]) -> dict[str, str]:
    return {i.path: i.reason for i in items if isinstance(i, Skipped)}


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if ".dsr-" in p.name]


def _read(transport: Transport, path: str) -> bytes:
    with transport.open_read(path) as stream:
        return stream.read()


# --------------------------------------------------------------------------- walk


def test_walk_lists_files_sorted_with_sizes(share: Share, transport: Transport) -> None:
    share.write("b/d/e.csv", "email\njane@example.com\n")
    share.write("b/c.txt", "x" * 1000)
    share.write("a.txt", "hello")
    share.write("B.txt", "")
    share.write("b-2.txt", "12")
    share.mkdir("empty/folder")
    items = list(transport.walk())
    assert [(i.path, getattr(i, "size", None)) for i in items] == [
        ("B.txt", 0), ("a.txt", 5), ("b/c.txt", 1000), ("b/d/e.csv", 23), ("b-2.txt", 2)]
    assert all(isinstance(i, Entry) for i in items)  # sorted folder by folder, depth first
    assert abs(items[1].mtime - (share.path / "a.txt").stat().st_mtime) < 2
    assert _files(list(transport.walk("b"))) == {"b/c.txt": 1000, "b/d/e.csv": 23}
    assert _files(list(transport.walk("./b/d/"))) == {"b/d/e.csv": 23}
    assert list(transport.walk("a.txt")) == [items[1]]
    assert list(transport.walk("missing")) == [Skipped("missing", "not found")]
    assert transport.stat("b/c.txt") == items[2]
    assert transport.stat("gone.txt") is None


def test_walk_never_follows_links(share: Share, transport: Transport) -> None:
    share.write("a.txt", "inside")
    share.write("sub/b.txt", "b")
    share.symlink("out_file", "/etc/passwd")
    share.symlink("out_dir", "/etc")
    share.symlink("in_file", "a.txt")
    share.symlink("sub/in_dir", "..")
    items = list(transport.walk())
    assert _files(items) == {"a.txt": 6, "sub/b.txt": 1}
    if share.kind == "smb":
        # Samba resolves links itself; with follow symlinks = no it never shows them
        assert _skipped(items) == {}
    else:
        assert _skipped(items) == {"in_file": "symbolic link", "out_dir": "symbolic link",
                                   "out_file": "symbolic link", "sub/in_dir": "symbolic link"}
    for path in ("out_file", "in_file", "out_dir/passwd", "sub/in_dir/a.txt"):
        with pytest.raises((UnsafePath, FileUnavailable)) as caught:
            transport.open_read(path)
        assert share.kind == "smb" or isinstance(caught.value, UnsafePath), path
    expected = "not found" if share.kind == "smb" else "symbolic link"
    assert list(transport.walk("out_dir")) == [Skipped("out_dir", expected)]


@pytest.mark.parametrize("kind", ["local", "sftp"])
def test_special_files_and_unsafe_names_are_skipped(make_share: MakeShare, kind: str) -> None:
    shared = make_share(kind)
    shared.write("ok.txt", "1")
    shared.write("back\\slash.txt", "2")  # legal on Unix; would read as a folder elsewhere
    os.mkfifo(shared.path / "pipe")
    shared.mkdir("odd")
    os.close(os.open(os.fsencode(shared.path / "odd") + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY))
    shared.own()
    with opened(shared) as transport:
        items = list(transport.walk())
        assert _files(items) == {"ok.txt": 1}
        odd = ({"odd/caf\ufffd.txt": "name is not valid UTF-8"} if kind == "local"
               else {"odd": "holds a name that is not valid UTF-8"})  # paramiko decodes names
        assert _skipped(items) == {"back\\slash.txt": "unsafe name", "pipe": "not a regular file",
                                   **odd}
        with pytest.raises(FileUnavailable, match="not a regular file"):
            transport.open_read("pipe")  # refused at once, never waiting for a writer


@pytest.mark.parametrize("kind", ["sftp", "smb"])
def test_permission_denied_is_reported_not_raised(make_share: MakeShare, kind: str) -> None:
    """The server logs in as an ordinary user: a root-owned 000 folder is closed to it."""
    shared = make_share(kind)
    shared.write("a.txt", "a")
    shared.write("locked/inside.txt", "secret")
    shared.write("z/closed.txt", "secret")
    for path in ("locked", "z/closed.txt"):
        os.chown(shared.path / path, 0, 0)
        (shared.path / path).chmod(0)
    with opened(shared) as transport:
        items = list(transport.walk())
        assert _files(items) == {"a.txt": 1, "z/closed.txt": 6}
        assert _skipped(items) == {"locked": "permission denied"}
        with pytest.raises(FileUnavailable, match="permission denied") as caught:
            transport.open_read("z/closed.txt")
        assert caught.value.path == "z/closed.txt"
        assert _read(transport, "a.txt") == b"a"  # the connection is still good


def test_local_permission_denied_without_root_privileges(make_share: MakeShare) -> None:
    """Tests run as root, who reads everything: the walk runs in a child process that has
    dropped CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (setpriv), as a service account would
    be, so the EACCES it meets is the kernel's own."""
    shared = make_share("local")
    shared.write("a.txt", "a")
    shared.write("locked/inside.txt", "secret")
    shared.write("closed.txt", "secret")
    (shared.path / "locked").chmod(0)
    (shared.path / "closed.txt").chmod(0)
    child = (
        "import json, sys\n"
        "from agent.config import config_from_dict\n"
        "from connectors.files.transports import open_transport\n"
        "system = config_from_dict({'systems': [{'name': 's', 'url': sys.argv[1]}]}).systems[0]\n"
        "t = open_transport(system)\n"
        "out = [[type(i).__name__, i.path, getattr(i, 'reason', i.__dict__.get('size'))]\n"
        "       for i in t.walk()]\n"
        "try:\n"
        "    t.open_read('closed.txt')\n"
        "except Exception as exc:\n"
        "    out.append([type(exc).__name__, exc.path, str(exc)])\n"
        "print(json.dumps(out))\n")
    drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps", "-all"]
    command = [*(drop if os.geteuid() == 0 else []), sys.executable, "-c", child, shared.url]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        ["Entry", "a.txt", 1], ["Entry", "closed.txt", 6],
        ["Skipped", "locked", "permission denied"],
        ["FileUnavailable", "closed.txt", "permission denied"]]


# --------------------------------------------------------------------------- paths


UNSAFE = ["../x", "/etc/passwd", "a/../../b", "a\x00b", "C:/Windows/win.ini", "..\\x"]


def test_unsafe_paths_are_refused_everywhere(share: Share, transport: Transport) -> None:
    share.write("a.txt", "a")
    calls: list[Callable[[str], Any]] = [
        transport.stat, transport.open_read, transport.delete, lambda p: list(transport.walk(p)),
        lambda p: transport.write_atomic(p, io.BytesIO(b"x")),
        lambda p: transport.move("a.txt", p), lambda p: transport.move(p, "b.txt")]
    for path in UNSAFE:
        for call in calls:
            with pytest.raises(UnsafePath):
                call(path)
    assert _read(transport, "a.txt") == b"a"
    assert sorted(p.name for p in share.path.iterdir()) == ["a.txt"]


# --------------------------------------------------------------------------- reading


def test_open_read_streams_a_file_within_its_size(share: Share, transport: Transport) -> None:
    data = secrets.token_bytes(3 * 1024 * 1024 + 17)
    target = share.write("big.bin", data)
    with transport.open_read("big.bin") as stream:
        assert stream.read(10) == data[:10]
        with target.open("ab") as grow:  # grows after opening: never read past the old end
            grow.write(b"more")
        parts = [stream.read(65536)]
        while chunk := stream.read(1 << 20):
            parts.append(chunk)
        assert data[:10] + b"".join(parts) == data
        stream.seek(len(data) - 5)
        assert stream.read() == data[-5:]
    with transport.open_read("big.bin") as stream:
        assert stream.read() == data + b"more"


# --------------------------------------------------------------------------- writing


def test_write_atomic_replaces_the_file(share: Share, transport: Transport) -> None:
    target = share.write("lists/people.csv", "email\njane@example.com\njo@example.com\n")
    target.chmod(0o640)
    with transport.open_read("lists/people.csv") as before:
        if share.kind == "smb":  # Windows semantics: no replacing a file open elsewhere
            with pytest.raises(FileUnavailable, match="open in another program"):
                transport.write_atomic("lists/people.csv", io.BytesIO(b"x"))
        else:
            transport.write_atomic("lists/people.csv", io.BytesIO(b"email\njo@example.com\n"))
        # a reader that opened the old file reads the old file, whole
        assert before.read() == b"email\njane@example.com\njo@example.com\n"
    if share.kind == "smb":
        assert _leftovers(share.path) == []
        transport.write_atomic("lists/people.csv", io.BytesIO(b"email\njo@example.com\n"))
    assert target.read_bytes() == b"email\njo@example.com\n"
    assert _read(transport, "lists/people.csv") == b"email\njo@example.com\n"
    if share.kind != "smb":  # SMB files take their folder's permissions
        assert target.stat().st_mode & 0o777 == 0o640
    transport.write_atomic("lists/new.txt", io.BytesIO(b"new"))
    assert (share.path / "lists/new.txt").read_bytes() == b"new"
    assert _leftovers(share.path) == []


class _Failing(io.RawIOBase):
    """A source that gives one chunk and then fails, as a broken rewrite would."""

    def __init__(self) -> None:
        self.calls = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("rewrite failed")
        buffer[:3] = b"new"
        return 3


def test_a_failing_write_leaves_the_old_file(share: Share, transport: Transport) -> None:
    target = share.write("notes.txt", "old content")
    with pytest.raises(RuntimeError, match="rewrite failed"):
        transport.write_atomic("notes.txt", io.BufferedReader(_Failing()))
    assert target.read_bytes() == b"old content"
    assert _leftovers(share.path) == []
    with pytest.raises(FileUnavailable, match="not found"):
        transport.write_atomic("no/such/folder.txt", io.BytesIO(b"x"))


def test_sftp_replace_without_posix_rename(make_share: MakeShare) -> None:
    """A server without posix-rename@openssh.com: remove, then rename."""
    shared = make_share("sftp")
    target = shared.write("a.txt", "old")
    with opened(shared) as transport:
        transport._posix_rename = False  # type: ignore[attr-defined]
        transport.write_atomic("a.txt", io.BytesIO(b"new"))
    assert target.read_bytes() == b"new"
    assert _leftovers(shared.path) == []


def test_delete_and_move(share: Share, transport: Transport) -> None:
    share.write("in/a.txt", "a")
    share.write("in/b.txt", "b")
    share.write("quarantine/2024/b.txt", "older b")
    assert transport.delete("in/a.txt") is True
    assert transport.delete("in/a.txt") is False
    assert not (share.path / "in/a.txt").exists()
    transport.move("in/b.txt", "quarantine/2026-11/x/b.txt")  # folders made on the way
    assert (share.path / "quarantine/2026-11/x/b.txt").read_bytes() == b"b"
    assert transport.stat("in/b.txt") is None
    share.write("in/b.txt", "new b")
    share.own()
    with pytest.raises(FileUnavailable, match="already exists"):
        transport.move("in/b.txt", "quarantine/2024/b.txt")
    assert (share.path / "quarantine/2024/b.txt").read_bytes() == b"older b"
    with pytest.raises(FileUnavailable, match="not found"):
        transport.move("in/gone.txt", "quarantine/gone.txt")
    with pytest.raises(FileUnavailable):
        transport.delete("quarantine")  # a folder is not a file


# --------------------------------------------------------------------------- key and password


def test_sftp_logins(make_share: MakeShare, file_servers: FileServers) -> None:
    shared = make_share("sftp")
    shared.write("a.txt", "a")
    user = file_servers.user
    with opened(shared, key_file=str(user.locked_key), key_passphrase=user.key_passphrase) as t:
        assert _read(t, "a.txt") == b"a"
    with opened(shared, key_file=None, password=user.password) as t:
        assert _read(t, "a.txt") == b"a"
    in_url = shared.url.replace("@", f":{user.password}@", 1)
    entry = {**shared.entry(key_file=None), "url": in_url}
    system = config_from_dict({"systems": [entry]}).systems[0]
    with contextlib.closing(open_transport(system)) as t:
        assert _read(t, "a.txt") == b"a"
    with pytest.raises(ConfigError, match="key_passphrase"):
        open_transport(shared.system(key_file=str(user.locked_key), key_passphrase="wrong"))


@pytest.mark.parametrize("kind", ["sftp", "smb"])
def test_wrong_password(make_share: MakeShare, kind: str) -> None:
    shared = make_share(kind)
    wrong = "Wr0ng-" + secrets.token_hex(6)
    started = time.monotonic()
    with pytest.raises(ConnectorError) as caught:
        open_transport(shared.system(key_file=None, password=wrong))
    message = str(caught.value)
    assert "authentication failed" in message
    assert "'share'" in message and f"127.0.0.1:{shared.server.port}" in message
    assert wrong not in message and shared.password not in message
    assert time.monotonic() - started < 15


def test_sftp_host_keys(make_share: MakeShare, tmp_path: Path) -> None:
    shared = make_share("sftp")
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(ConnectorError) as caught:
        open_transport(shared.system(known_hosts=str(empty)))
    assert "unknown host key" in str(caught.value)
    assert "SHA256:" in str(caught.value) and "host_key_check" in str(caught.value)
    assert "unknown host key" in str(_connect_error(shared, known_hosts=str(tmp_path / "none")))
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, key = (tmp_path / "other_key.pub").read_text().split()[:2]
    changed = tmp_path / "changed"
    changed.write_text(f"[127.0.0.1]:{shared.server.port} {kind} {key}\n")
    message = str(_connect_error(shared, known_hosts=str(changed), key_file=None,
                                 password=shared.password))
    assert "host key changed" in message and shared.password not in message
    with structlog.testing.capture_logs() as logs, \
            opened(shared, known_hosts=str(empty), host_key_check=False) as transport:
        assert list(transport.walk()) == []
    assert [log["event"] for log in logs] == ["files.sftp.host_key_not_checked"]
    assert logs[0]["host_key"].startswith("ssh-ed25519 SHA256:")


def _connect_error(shared: Share, **extra: Any) -> ConnectorError:
    with pytest.raises(ConnectorError) as caught:
        open_transport(shared.system(**extra))
    return caught.value


@pytest.mark.parametrize("kind", ["sftp", "smb"])
def test_unreachable_server(make_share: MakeShare, kind: str) -> None:
    shared = make_share(kind)
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    url = shared.url.replace(f":{shared.server.port}/", f":{port}/")
    started = time.monotonic()
    with pytest.raises(ConnectorError) as caught:
        open_transport(config_from_dict({"systems": [{**shared.entry(), "url": url}]}).systems[0])
    assert f"127.0.0.1:{port}: unreachable" in str(caught.value)
    assert time.monotonic() - started < 10


# --------------------------------------------------------------------------- dropped servers


@pytest.mark.parametrize("kind", ["sftp", "smb"])
def test_server_killed_mid_walk_and_mid_read(make_share: MakeShare, kind: str) -> None:
    shared = make_share(kind, dedicated=True)
    for n in range(30):
        shared.write(f"f{n:02}/a.txt", "a")
    shared.write("big.bin", secrets.token_bytes(4 << 20))
    with opened(shared) as walker, opened(shared) as reader:
        items = walker.walk()
        assert next(items) == Entry("big.bin", 4 << 20, next(iter(walker.walk("big.bin"))).mtime)
        stream = reader.open_read("big.bin")
        stream.read(1000)
        shared.server.kill()
        started = time.monotonic()
        with pytest.raises(ConnectorError) as walk_failure:
            list(items)
        with pytest.raises(ConnectorError) as read_failure:
            while stream.read(1 << 20):
                pass
        assert time.monotonic() - started < 10
        for failure in (walk_failure.value, read_failure.value):
            assert "connection lost" in str(failure) and "'share'" in str(failure)
            assert not isinstance(failure, FileUnavailable)
        with pytest.raises(ConnectorError, match="connection lost"):
            walker.stat("big.bin")  # no silent reconnection
        stream.close()


@pytest.mark.parametrize("kind", ["sftp", "smb"])
def test_a_silent_server_times_out(make_share: MakeShare, kind: str) -> None:
    """A server that keeps the connection open but answers nothing (frozen)."""
    shared = make_share(kind, dedicated=True)
    shared.write("f1/a.txt", "a")
    shared.write("f2/a.txt", "a")
    with opened(shared, io_timeout=1) as transport:
        items = transport.walk()
        next(items)
        shared.server.freeze()
        started = time.monotonic()
        with pytest.raises(ConnectorError, match=r"timed out|connection lost"):
            list(items)
        assert time.monotonic() - started < 8


# --------------------------------------------------------------------------- options


def _system(url: str, **options: Any) -> Any:
    return config_from_dict({"systems": [{"name": "docs", "connector": "files", "url": url,
                                          **options}]},
                            base_dir=Path("/srv/config")).systems[0]


def _config_error(url: str, **options: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_transport(_system(url, **options))
    return caught.value


def test_urls_and_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_transport(_system("file:///srv/share/base")) == LocalSettings(
        "docs", Path("/srv/share/base"))
    assert parse_transport(_system("file://localhost/srv/a%20b")).root == Path("/srv/a b")
    assert parse_transport(_system("file:shares/docs")).root == Path("/srv/config/shares/docs")
    key = tmp_path / "id"
    key.write_text("not checked until connecting")
    monkeypatch.setenv("DOCS_PW", "s3cret-pw")
    sftp = parse_transport(_system("sftp://svc@files.example.com:2222/~/docs", key_file=str(key),
                                   known_hosts="kh", io_timeout=5))
    assert isinstance(sftp, SftpSettings)
    assert (sftp.host, sftp.port, sftp.user, sftp.base, sftp.key_file, sftp.known_hosts,
            sftp.io_timeout, sftp.host_key_check) == (
        "files.example.com", 2222, "svc", "/~/docs", key, Path("/srv/config/kh"), 5.0, True)
    smb = parse_transport(_system("smb://svc@fs01/Shared/Sales%20Docs/2024",
                                  password="${DOCS_PW}", domain="CORP", encrypt=True))
    assert isinstance(smb, SmbSettings)
    assert (smb.share, smb.base, smb.port, smb.domain, smb.encrypt, smb.password) == (
        "Shared", "Sales Docs/2024", 445, "CORP", True, "s3cret-pw")
    assert "s3cret-pw" not in repr(smb)
    assert {"password", "key_file", "known_hosts", "host_key_check", "domain",
            "encrypt", "io_timeout", "connect_timeout"} <= TRANSPORT_KEYS

    cases = [
        (("ftp://host/x",), {}, "systems.docs.url"),
        (("file://fileserver/share",), {}, "systems.docs.url"),
        (("sftp://host/x",), {"password": "p"}, "systems.docs.url"),  # no user
        (("sftp://svc@host/x",), {}, "systems.docs.key_file"),  # no way to log in
        (("sftp://svc@host/x",), {"key_file": "missing"}, "systems.docs.key_file"),
        (("sftp://svc@host:99999/x",), {"password": "p"}, "systems.docs.url"),
        (("sftp://svc:pw-in-url@host/x",), {"password": "p"}, "systems.docs.password"),
        (("sftp://svc@host/x",), {"password": "p", "host_key_check": "no"},
         "systems.docs.host_key_check"),
        (("sftp://svc@host/x",), {"password": "p", "io_timeout": -1}, "systems.docs.io_timeout"),
        (("sftp://svc@host/x",), {"password": "p", "domain": "CORP"}, "systems.docs.domain"),
        (("smb://svc@host/",), {"password": "p"}, "systems.docs.url"),  # no share
        (("smb://svc@host/share",), {}, "systems.docs.password"),
        (("smb://svc@host/share",), {"password": "p", "key_file": str(key)},
         "systems.docs.key_file"),
        (("smb://svc@host/share",), {"password": "p", "auth_protocol": "basic"},
         "systems.docs.auth_protocol"),
        (("smb://svc@host/share?x=1",), {"password": "p"}, "systems.docs.url"),
    ]
    for (url,), options, key_name in cases:
        error = _config_error(url, **options)
        assert error.key == key_name, (url, options, str(error))
        assert "pw-in-url" not in str(error) and "s3cret" not in str(error)


def test_a_missing_local_root_is_a_connector_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match="not found"):
        open_transport(_system((tmp_path / "absent").as_uri()))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConnectorError, match="not a folder"):
        open_transport(_system((tmp_path / "file").as_uri()))


def test_remote_base_folder_must_exist(make_share: MakeShare) -> None:
    for kind in ("sftp", "smb"):
        shared = make_share(kind)
        url = shared.url + "/absent"
        with pytest.raises(ConnectorError, match="base folder not found"):
            open_transport(config_from_dict(
                {"systems": [{**shared.entry(), "url": url}]}).systems[0])
