"""Real SFTP (OpenSSH ``sshd``) and SMB (Samba ``smbd``) servers on loopback for the files tests.

Use it as a plugin: ``pytest_plugins = ["tests.file_servers"]`` in a test module (or in
tests/conftest.py), and import its types only under ``TYPE_CHECKING`` (importing the module
before pytest loads it as a plugin stops pytest rewriting its asserts). Every module then
shares one set of servers.

- ``file_servers`` (session): a per-session temp folder under /tmp (0755, so the server-side
  user can reach it), one per-session Unix user (``dsr`` + 8 hex digits, password and keys of
  its own), and the servers, each started on first use on 127.0.0.1 at a free port:
  ``file_servers.sshd()`` / ``file_servers.smbd()``. At the end of the session the servers
  this module started are stopped by pid (with the session processes they forked), the user
  is removed and the folder deleted.
- ``make_share(kind, dedicated=False)`` (function): a fresh, empty share of kind ``"local"``,
  ``"sftp"`` or ``"smb"``: a folder on disk that the server serves, its URL and the
  ``[[systems]]`` entry or ``SystemConfig`` that reaches it. ``dedicated=True`` starts a server
  for that share alone, which the test may kill (``share.server.kill()``) or freeze so it
  keeps connections open but answers nothing (``share.server.freeze()``).
- ``share`` (function, parametrised over ``FILE_TRANSPORTS``): ``make_share(kind)``.

Share: ``kind``, ``path``, ``url`` (no password), ``options`` (what it needs: sftp
``key_file`` + ``known_hosts``, smb ``password = "${DSR_TEST_FILES_PASSWORD}"``), ``owner``
(the ServerUser: ``name``, ``password``, ``client_key``, ``locked_key`` + ``key_passphrase``),
``server`` (port, pid, ``known_hosts``, ``log()``), ``entry(name, **options)`` (a
``[[systems]]`` table; an option set to None is removed), ``system(name, **options)`` (the
SystemConfig the agent builds from it). Samba serves with ``follow symlinks = no``.

Files made on disk by the test (which runs as root) must belong to the server-side user so
the server can rename and delete them: use ``share.write``/``mkdir``/``symlink``, which hand
what they make over, or call ``share.own()`` after making files another way.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.config import SystemConfig, config_from_dict

SSHD = "/usr/sbin/sshd"
SMBD = "/usr/sbin/smbd"
SMBPASSWD = "/usr/bin/smbpasswd"
FILE_TRANSPORTS = ("local", "sftp", "smb")
SMB_SHARE = "dsr"
# The share password reaches configurations as ${DSR_TEST_FILES_PASSWORD}, as a user's would.
PASSWORD_ENV = "DSR_TEST_FILES_PASSWORD"
_STARTUP_SECONDS = 20.0


def _need(binary: str) -> None:
    if not os.access(binary, os.X_OK):
        pytest.fail(f"{binary} is missing: run the README's test command, which installs "
                    "openssh-server and samba from Debian when they are absent", pytrace=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(command: list[str], what: str, stdin: str | None = None) -> None:
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60,
                          check=False)
    if done.returncode != 0:
        output = (done.stderr + done.stdout).strip()[-500:]
        raise RuntimeError(f"{what} failed ({done.returncode}): {output}")


# --------------------------------------------------------------------------- processes


def _ppids() -> dict[int, int]:
    """pid -> parent pid for every live process."""
    out: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces or brackets, so split after it
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            out[int(entry)] = int(fields[1])
    return out


def _tree(pid: int) -> list[int]:
    """``pid`` and every live descendant of it."""
    parents = _ppids()
    found, frontier = [pid] if pid in parents else [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _alive(pid: int) -> bool:
    return pid in _ppids()


def _stop_tree(pid: int, grace: float = 5.0, sig: int = signal.SIGTERM) -> None:
    """Stop ``pid`` and the processes it forked (sshd and smbd fork one per client)."""
    pids = _tree(pid)
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, sig)
            os.kill(p, signal.SIGCONT)  # a frozen process handles SIGTERM only once resumed
    deadline = time.monotonic() + grace
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for p in pids:
        if _alive(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)


def _read_pid(pid_file: Path, marker: str, deadline: float) -> int:
    """The daemon's pid from its pid file, checked against its command line (pid reuse)."""
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, IndexError):  # IndexError: being written
            pid = int(pid_file.read_text().split()[0])
            if marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                return pid
        time.sleep(0.05)
    raise RuntimeError(f"no pid in {pid_file}")


def _still(pid: int, marker: str) -> None:
    try:
        alive = marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        alive = False
    if not alive or not _alive(pid):
        raise RuntimeError("the server exited after starting (port taken?)")


def _stop_stray(pid_file: Path, marker: str) -> None:
    """After a failed start: stop the daemon if it did start (its pid file names it)."""
    with contextlib.suppress(RuntimeError):
        _stop_tree(_read_pid(pid_file, marker, time.monotonic() + 1.0))


def _wait_port(port: int, deadline: float, banner: bytes | None = None) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if banner is None or sock.recv(64).startswith(banner):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port}")


# --------------------------------------------------------------------------- servers


@dataclass
class ServerUser:
    """The per-session Unix account the servers log in as (never root)."""

    name: str
    password: str
    client_key: Path  # ed25519, no passphrase
    locked_key: Path  # ed25519, passphrase ``key_passphrase``
    key_passphrase: str

    @property
    def uid(self) -> int:
        return _uid(self.name)


def _uid(name: str) -> int:
    import pwd

    return pwd.getpwnam(name).pw_uid


@dataclass
class Server:
    kind: str  # "sftp" | "smb"
    port: int
    folder: Path  # the server's own files: config, keys, pid, log
    pid: int
    marker: str  # a string of the command line that proves the pid is still ours
    known_hosts: Path | None = None  # sftp: a known_hosts file holding this server's key

    def kill(self) -> None:
        """SIGKILL the server and the sessions it forked (a crash, not a shutdown)."""
        if self.running():
            _stop_tree(self.pid, grace=2.0, sig=signal.SIGKILL)

    def stop(self) -> None:
        if self.running():
            _stop_tree(self.pid)

    def freeze(self) -> None:
        """SIGSTOP the server and its sessions: connections stay open, nothing answers
        (a hung server, or a network that drops packets). stop()/kill() still end it."""
        for pid in _tree(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def running(self) -> bool:
        try:
            return self.marker in Path(f"/proc/{self.pid}/cmdline").read_bytes().decode(
                errors="replace") and _alive(self.pid)
        except OSError:
            return False

    def log(self) -> str:
        name = "sshd.log" if self.kind == "sftp" else "smb.log"
        path = self.folder / name
        return path.read_text(errors="replace") if path.exists() else ""


def _sshd_config(folder: Path, port: int, user: ServerUser) -> str:
    return "\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {folder}/host_key",
        f"PidFile {folder}/sshd.pid", f"AuthorizedKeysFile {folder}/authorized_keys",
        "PubkeyAuthentication yes", "PasswordAuthentication yes",
        "KbdInteractiveAuthentication no", "UsePAM no", "PermitRootLogin no",
        f"AllowUsers {user.name}", "Subsystem sftp internal-sftp", "ForceCommand internal-sftp",
        "StrictModes no", "MaxStartups 100", "LogLevel VERBOSE", "",
    ])


def start_sshd(folder: Path, user: ServerUser) -> Server:
    """OpenSSH on 127.0.0.1 at a free port, keys and known_hosts in ``folder``."""
    _need(SSHD)
    folder.mkdir(parents=True, exist_ok=True)
    for old in ("host_key", "host_key.pub"):
        (folder / old).unlink(missing_ok=True)  # ssh-keygen would ask before replacing
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host_key")],
         "ssh-keygen")
    keys = [Path(f"{user.client_key}.pub").read_text(), Path(f"{user.locked_key}.pub").read_text()]
    (folder / "authorized_keys").write_text("".join(keys))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation folder
    last: Exception | None = None
    for _ in range(3):  # a free port may be taken by someone else before sshd binds it
        port = _free_port()
        config = folder / "sshd_config"
        config.write_text(_sshd_config(folder, port, user))
        (folder / "sshd.pid").unlink(missing_ok=True)
        deadline = time.monotonic() + _STARTUP_SECONDS
        try:
            _run([SSHD, "-f", str(config), "-E", str(folder / "sshd.log")], "sshd")
            pid = _read_pid(folder / "sshd.pid", str(config), deadline)
            _wait_port(port, deadline, banner=b"SSH-")
            _still(pid, str(config))  # the answer was ours, not another session's server
        except Exception as exc:  # never leave a half-started daemon behind
            last = exc
            _stop_stray(folder / "sshd.pid", str(config))
            continue
        host_key = (folder / "host_key.pub").read_text().split()
        known = folder / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
        return Server("sftp", port, folder, pid, str(config), known_hosts=known)
    raise RuntimeError(f"sshd did not start: {last}")


def _smb_config(folder: Path, port: int, shares: Path, user: ServerUser) -> str:
    return "\n".join([
        "[global]", "server role = standalone server", "interfaces = 127.0.0.1",
        "bind interfaces only = yes", f"smb ports = {port}", f"pid directory = {folder}",
        f"lock directory = {folder}", f"state directory = {folder}",
        f"cache directory = {folder}", f"private dir = {folder}/private",
        f"ncalrpc dir = {folder}/ncalrpc", f"log file = {folder}/smb.log",
        "map to guest = never", "disable netbios = yes", "server min protocol = SMB2_02",
        "load printers = no", "printing = bsd", "printcap name = /dev/null",
        "disable spoolss = yes",
        # Samba resolves links itself and never shows them to clients; "no" hides them, so
        # a link cannot lead out of a base folder below the share (see docs/configuration.md)
        f"[{SMB_SHARE}]", f"path = {shares}", "read only = no", "follow symlinks = no",
        f"valid users = {user.name}",
        "",
    ])


def start_smbd(folder: Path, shares: Path, user: ServerUser) -> Server:
    """Samba on 127.0.0.1 at a free port, serving ``shares`` as ``\\\\127.0.0.1\\dsr``."""
    _need(SMBD)
    (folder / "private").mkdir(parents=True, exist_ok=True)
    last: Exception | None = None
    for _ in range(3):
        port = _free_port()
        config = folder / "smb.conf"
        config.write_text(_smb_config(folder, port, shares, user))
        (folder / "smbd.pid").unlink(missing_ok=True)
        _run([SMBPASSWD, "-c", str(config), "-s", "-a", user.name], "smbpasswd",
             stdin=f"{user.password}\n{user.password}\n")
        deadline = time.monotonic() + _STARTUP_SECONDS
        try:
            _run([SMBD, "-D", "-s", str(config)], "smbd")
            pid = _read_pid(folder / "smbd.pid", str(config), deadline)
            _wait_port(port, deadline)
            time.sleep(0.2)  # smbd binds after forking: a failed bind shows as its exit
            _still(pid, str(config))
        except Exception as exc:  # never leave a half-started daemon behind
            last = exc
            _stop_stray(folder / "smbd.pid", str(config))
            continue
        return Server("smb", port, folder, pid, str(config))
    raise RuntimeError(f"smbd did not start: {last}")


def _add_user(name: str, home: Path, password: str) -> None:
    for attempt in range(20):  # useradd fails while another process holds /etc/passwd's lock
        done = subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh", name],
                              capture_output=True, text=True, check=False)
        if done.returncode == 0:
            break
        if attempt == 19:
            raise RuntimeError(f"useradd {name} failed: {done.stderr.strip()}")
        time.sleep(0.2)
    for attempt in range(20):  # chpasswd, likewise, while /etc/shadow is locked
        try:
            _run(["chpasswd"], "chpasswd", stdin=f"{name}:{password}\n")
            return
        except RuntimeError:
            if attempt == 19:
                raise
            time.sleep(0.2)


def _remove_user(name: str) -> None:
    for _ in range(20):
        done = subprocess.run(["userdel", "-f", name], capture_output=True, check=False)
        if done.returncode in (0, 6):  # 6: no such user
            return
        time.sleep(0.2)


# --------------------------------------------------------------------------- the session


class FileServers:
    """The session's folder, user and servers; servers start on first use."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="dsr-files-"))
        self.base.chmod(0o755)  # the server-side user must reach its shares
        self.shares = self.base / "shares"
        self.shares.mkdir(mode=0o755)
        self._user: ServerUser | None = None
        self._servers: dict[str, Server] = {}
        self._failed: dict[str, str] = {}
        self._added: list[str] = []
        self._dedicated: list[Server] = []
        self._counter = 0

    @property
    def user(self) -> ServerUser:
        if self._user is None:
            name = f"dsr{secrets.token_hex(4)}"
            keys = self.base / "client"
            shutil.rmtree(keys, ignore_errors=True)  # left by a failed attempt
            keys.mkdir(mode=0o700)
            passphrase = secrets.token_urlsafe(12)
            for key, phrase in (("client_key", ""), ("locked_key", passphrase)):
                _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", phrase, "-f", str(keys / key)],
                     "ssh-keygen")
            password = secrets.token_urlsafe(16)
            self._added.append(name)  # removed at the end even if setting it up fails
            _add_user(name, self.base / "home", password)
            self._user = ServerUser(name, password, keys / "client_key", keys / "locked_key",
                                    passphrase)
            os.chown(self.shares, self._user.uid, -1)
            os.environ[PASSWORD_ENV] = password
        return self._user

    def sshd(self) -> Server:
        return self._shared("sftp", lambda: start_sshd(self.base / "sshd", self.user))

    def smbd(self) -> Server:
        return self._shared("smb", lambda: start_smbd(self.base / "smbd", self.shares,
                                                      self.user))

    def _shared(self, kind: str, start: Callable[[], Server]) -> Server:
        """The session's server of ``kind``; a failed start is not retried by every test."""
        if kind in self._failed:
            pytest.fail(self._failed[kind], pytrace=False)
        if kind not in self._servers:
            try:
                self._servers[kind] = start()
            except RuntimeError as exc:
                self._failed[kind] = f"the {kind} server did not start: {exc}"
                raise
        return self._servers[kind]

    def dedicated(self, kind: str) -> Server:
        """A server of its own (the test may kill it); stopped at the end of the session."""
        self._counter += 1
        folder = self.base / f"{kind}-{self._counter}"
        server = (start_sshd(folder, self.user) if kind == "sftp"
                  else start_smbd(folder, self.shares, self.user))
        self._dedicated.append(server)
        return server

    def new_folder(self, kind: str) -> Path:
        self._counter += 1
        folder = self.shares / f"{kind}{self._counter}"
        folder.mkdir(mode=0o755)
        if kind != "local":
            os.chown(folder, self.user.uid, -1)
        return folder

    def close(self) -> None:
        for server in [*self._dedicated, *self._servers.values()]:
            server.stop()
        self._dedicated.clear()
        self._servers.clear()
        for name in self._added:
            _remove_user(name)
        self._added.clear()
        self._user = None
        shutil.rmtree(self.base, ignore_errors=True)


# One per process, so importing the fixtures into several modules shares the servers.
_SESSION: FileServers | None = None


def _session() -> FileServers:
    global _SESSION
    if _SESSION is None:
        _SESSION = FileServers()
        atexit.register(_close_session)  # also when pytest dies before the fixture ends
    return _SESSION


def _close_session() -> None:
    global _SESSION
    if _SESSION is not None:
        _SESSION.close()
        _SESSION = None


# --------------------------------------------------------------------------- shares


@dataclass
class Share:
    """An empty folder on disk and how a ``files`` system reaches it over ``kind``."""

    kind: str  # "local" | "sftp" | "smb"
    path: Path  # the folder on disk that ``url`` names
    url: str  # no password in it
    options: dict[str, Any] = field(default_factory=dict)  # the transport options it needs
    owner: ServerUser | None = None  # who must own files the server changes (None: local)
    server: Server | None = None

    @property
    def password(self) -> str | None:
        return self.owner.password if self.owner else None

    def entry(self, name: str = "share", **extra: Any) -> dict[str, Any]:
        """A ``[[systems]]`` table; ``extra`` adds or overrides options (None removes one)."""
        table: dict[str, Any] = {"name": name, "connector": "files", "url": self.url,
                                 **self.options}
        for key, value in extra.items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
        return table

    def system(self, name: str = "share", **extra: Any) -> SystemConfig:
        """The SystemConfig the agent would build from ``entry(name, **extra)``."""
        return config_from_dict({"systems": [self.entry(name, **extra)]},
                                base_dir=self.path).systems[0]

    def write(self, relative: str, data: bytes | str) -> Path:
        target = self.path / relative
        self.mkdir(str(Path(relative).parent))
        target.write_bytes(data.encode() if isinstance(data, str) else data)
        self._hand_over(target)
        return target

    def mkdir(self, relative: str) -> Path:
        target = self.path / relative
        made = [p for p in [target, *target.parents] if not p.exists()]
        target.mkdir(parents=True, exist_ok=True)
        for folder in made:
            self._hand_over(folder)
        return target

    def symlink(self, relative: str, points_to: str | Path) -> Path:
        target = self.path / relative
        self.mkdir(str(Path(relative).parent))
        target.symlink_to(points_to)
        self._hand_over(target)
        return target

    def own(self) -> None:
        """Hand everything under the share to the server-side user (links not followed)."""
        if self.owner is None:
            return
        for root, dirs, files in os.walk(self.path):
            for name in [*dirs, *files]:
                self._hand_over(Path(root) / name)

    def _hand_over(self, path: Path) -> None:
        if self.owner is not None:
            os.lchown(path, self.owner.uid, -1)


def _make(servers: FileServers, kind: str, dedicated: bool) -> Share:
    if kind not in FILE_TRANSPORTS:
        raise ValueError(f"unknown share kind {kind!r}; known: {FILE_TRANSPORTS}")
    folder = servers.new_folder(kind)
    if kind == "local":
        return Share("local", folder, folder.as_uri())
    user = servers.user
    if kind == "sftp":
        server = servers.dedicated("sftp") if dedicated else servers.sshd()
        return Share("sftp", folder, f"sftp://{user.name}@127.0.0.1:{server.port}{folder}",
                     {"key_file": str(user.client_key), "known_hosts": str(server.known_hosts)},
                     user, server)
    server = servers.dedicated("smb") if dedicated else servers.smbd()
    return Share("smb", folder,
                 f"smb://{user.name}@127.0.0.1:{server.port}/{SMB_SHARE}/{folder.name}",
                 {"password": f"${{{PASSWORD_ENV}}}"}, user, server)


@pytest.fixture(scope="session")
def file_servers() -> Iterator[FileServers]:
    yield _session()
    _close_session()


@pytest.fixture
def make_share(file_servers: FileServers) -> Iterator[Callable[..., Share]]:
    """``make_share(kind, dedicated=False)``: a fresh empty share, removed afterwards."""
    made: list[Share] = []

    def make(kind: str, dedicated: bool = False) -> Share:
        share = _make(file_servers, kind, dedicated)
        made.append(share)
        return share

    yield make
    for share in made:
        if share.server is not None and share.server in file_servers._dedicated:
            share.server.stop()
        shutil.rmtree(share.path, ignore_errors=True)


@pytest.fixture(params=FILE_TRANSPORTS)
def share(request: pytest.FixtureRequest, make_share: Callable[..., Share]) -> Share:
    """An empty share over each transport in turn."""
    return make_share(request.param)
