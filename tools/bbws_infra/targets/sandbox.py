"""The embedded AWS sandbox: a moto server on 127.0.0.1, shared by every command until `down`.

The server is moto's own, started through bbws_infra.targets.sandbox_server, which first adds
the AWS Backup operations moto lacks (bbws_infra.targets.moto_backup: UpdateBackupPlan and the
backup selections), so the sandbox runs the modules with exactly the settings AWS gets.

Each environment gets an IAM access key created inside its own account id, so the emulator
answers as that account (moto maps keys to accounts) and `allowed_account_ids` and the
account check behave exactly as they do against AWS.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bbws_infra.core.errors import OperationError
from bbws_infra.core.paths import file_lock, work_dir
from bbws_infra.core.registry import Environment
from bbws_infra.core.untyped import Client
from bbws_infra.engine import interrupts, timings

# boto3 (0.25 s) loads at the first client, not with the command's modules: on a fresh
# sandbox that is while the emulator boots in its own process (warm_clients, below).
if TYPE_CHECKING:
    import boto3

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
OPERATOR_USER = "bbws-sandbox-operator"
# Services the modules and the state backend call, by the provider's endpoint names; every one
# is pointed at the emulator.
SERVICES = ("s3", "dynamodb", "iam", "sts", "backup", "kms", "sns", "cloudwatch",
            "cloudwatchevents", "budgets")


@dataclass
class SandboxServer:
    pid: int
    port: int
    started_at: float
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)  # account id -> key

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"


def _dir(work: Path | None = None, create: bool = True) -> Path:
    path = (work or work_dir()) / "sandbox"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def _record_path(work: Path | None = None, create: bool = True) -> Path:
    return _dir(work, create) / "server.json"


def _locked() -> contextlib.AbstractContextManager[None]:
    """Serialise sandbox start/stop across concurrent commands."""
    return file_lock(_dir() / "lock")


def _read_record(work: Path | None = None) -> SandboxServer | None:
    try:
        # a read creates nothing (the bench reads other work directories' records)
        return SandboxServer(**json.loads(_record_path(work, create=False).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def _write_record(server: SandboxServer) -> None:
    tmp = _record_path().with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(server), indent=2))
    tmp.replace(_record_path())


# What the command line of our emulator holds: the module below, or (a sandbox started before
# it existed) moto_server.
SERVER_MODULE = "bbws_infra.targets.sandbox_server"
# "sandbox_server" also matches a server started before the module moved into targets/, so an
# upgrade does not declare a running sandbox (and everything in it) gone.
_OURS = (b"sandbox_server", b"moto")


def _is_ours(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return any(marker in cmdline for marker in _OURS)


def _answers(port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"GET /moto-api/ HTTP/1.0\r\nHost: localhost\r\n\r\n")
            return sock.recv(12).startswith(b"HTTP/")
    except OSError:
        return False


def recorded_server(work: Path | None = None) -> tuple[int, int] | None:
    """The (pid, port) of the emulator this work directory (or `work`) records, without asking
    it."""
    server = _read_record(work)
    return None if server is None else (server.pid, server.port)


def is_alive(server: SandboxServer) -> bool:
    return _is_ours(server.pid) and _answers(server.port)


def status() -> tuple[SandboxServer | None, str]:
    """The recorded server and a sentence about it."""
    server = _read_record()
    if server is None:
        return None, "The sandbox is not running."
    if is_alive(server):
        return server, (f"The sandbox is running at {server.endpoint} (pid {server.pid}), "
                        f"up {time.time() - server.started_at:.0f} s, "
                        f"{len(server.credentials)} account(s) set up.")
    # Not "the next command starts a fresh one": plan and apply report a dead record first
    # (ensure_running), so that nobody mistakes the fresh, empty emulator for the old one.
    return None, (f"The sandbox recorded at {server.endpoint} (pid {server.pid}) is not "
                  "answering, so everything in it is gone; invoke sandbox.up starts a fresh "
                  "one.")


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        # as the server binds: a port left in TIME_WAIT by a stopped sandbox is free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _moto_command(port: int) -> list[str]:
    """moto's server with the Backup operations it lacks, taking moto_server's arguments."""
    # Found, not imported: moto's package takes 0.15 s to import, before the server can start.
    moto = importlib.util.find_spec("moto")
    if moto is None or not any(Path(folder, "server.py").is_file()
                               for folder in moto.submodule_search_locations or ()):
        raise OperationError("moto_server is not installed; run pip install -e '.[dev]'.")
    return [sys.executable, "-m", SERVER_MODULE, "-H", HOST, "-p", str(port)]


def _server_env() -> dict[str, str]:
    # AWS managed policies (e.g. AWSBackupServiceRolePolicyForBackup) exist in every account.
    # The invoking environment passes through, BBWS_SANDBOX_WAIT_SECONDS included (AWS's
    # CREATING/ENABLING waits, bbws_infra.targets.moto_waits; read once, when the server starts).
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    # moto's request recorder (off until /moto-api/recorder/start-recording) writes here, not
    # into whatever directory the server was started from.
    env["MOTO_RECORDER_FILEPATH"] = str(_dir() / "recording.jsonl")
    # The server module comes from this same tree (a repository copy runs its own code).
    tools = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [tools, env.get("PYTHONPATH")]))
    return env


def _preferred_port() -> int:
    """The same port for every sandbox of this work directory while it is free: the backend
    settings then stay the same, so a fresh sandbox needs no new `terraform init`."""
    digest = hashlib.sha256(str(_dir().resolve()).encode()).digest()
    port = 20000 + int.from_bytes(digest[:4], "big") % 10000
    return _free_port() if _port_taken(port) else port


# How often a start or a stop looks whether the emulator is there, or gone: a refused connection
# or a waitpid costs microseconds, and each look saved shortens every start and stop (the
# emulator boots in about 0.7 s and, with nothing to collect at exit, ends in 0.02 s).
_POLL_S = 0.02


def _start(port: int | None = None) -> SandboxServer:
    with timings.timed("sandbox start"):
        return _start_server(port)


def _start_server(port: int | None) -> SandboxServer:
    port = port or _preferred_port()
    if _port_taken(port):
        raise OperationError(f"Port {port} on {HOST} is already in use by another program.")
    log = (_dir() / "moto.log").open("ab")
    # Own session: Ctrl-C in the terminal must not kill a server that outlives this command.
    process = subprocess.Popen(_moto_command(port), stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True,
                               env=_server_env())
    try:
        interrupts.checkpoint("sandbox")
        # The emulator takes a second or more to boot in its own process: meanwhile load the
        # AWS models of the first calls every command makes (its key, the state backend).
        warm_clients(f"http://{HOST}:{port}")
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(port, timeout=0.5):
            if process.poll() is not None:
                tail = (_dir() / "moto.log").read_text(errors="replace").strip().splitlines()[-1:]
                raise OperationError(
                    f"The sandbox emulator exited while starting on {HOST}:{port}: "
                    f"{tail[0] if tail else 'no output'}")
            if time.monotonic() > deadline:
                raise OperationError(f"The sandbox emulator did not answer on {HOST}:{port} "
                                     f"within {START_TIMEOUT_S:.0f} s.")
            time.sleep(_POLL_S)
    except BaseException:
        # Includes KeyboardInterrupt: never leave a half-started emulator behind.
        process.kill()
        process.wait()
        raise
    server = SandboxServer(pid=process.pid, port=port, started_at=time.time())
    _write_record(server)
    return server


def up(port: int | None = None) -> tuple[SandboxServer, bool]:
    """Start the server unless a live one is recorded. Returns (server, started_now)."""
    with _locked():
        server = _read_record()
        if server and is_alive(server):
            return server, False
        return _start(port), True


def ensure_running() -> SandboxServer:
    """The live server; a dead recorded one is an error (its resources are gone), a missing one
    is started."""
    with _locked():
        server = _read_record()
        if server is None:
            return _start()
        if is_alive(server):
            return server
        _record_path().unlink(missing_ok=True)
    raise OperationError(
        f"The sandbox emulator recorded at {server.endpoint} (pid {server.pid}) is not "
        "answering, so everything in it is gone; run the command again to start a fresh one.")


def forget_dead() -> None:
    """Drop the record of an emulator that stopped answering, so the next command starts a
    fresh one instead of reporting the dead one again."""
    with _locked():
        server = _read_record()
        if server is not None and not is_alive(server):
            _record_path().unlink(missing_ok=True)


def down() -> bool:
    """Stop the server and forget its record. Returns whether one was running."""
    with _locked():
        server = _read_record()
        _record_path().unlink(missing_ok=True)
        if server is None or not _is_ours(server.pid):
            return False
        os.kill(server.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _is_ours(server.pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(server.pid, os.WNOHANG)
            time.sleep(_POLL_S)
        if _is_ours(server.pid):
            os.kill(server.pid, signal.SIGKILL)
        return True


# One boto3 session for every sandbox client of this process, and the clients made from it,
# by (endpoint, key, service, region): a client is made once (each costs tens of milliseconds
# of model loading, and the checks ask for hundreds), under a lock, as boto3 sessions are not
# safe to make clients from in parallel threads. Clients themselves are thread-safe.
_client_lock = threading.Lock()
_clients: dict[tuple[str, str, str, str], Client] = {}
_boto_session: list[boto3.Session] = []


def _shared_session() -> boto3.Session:
    import boto3

    with _client_lock:
        if not _boto_session:
            _boto_session.append(boto3.Session())
        return _boto_session[0]


def _client(endpoint: str, access_key: str, secret_key: str, service: str, region: str
            ) -> Client:
    from botocore.config import Config

    key = (endpoint, access_key, service, region)
    session = _shared_session()
    with _client_lock:
        found = _clients.get(key)
        if found is None:
            found = _clients[key] = session.client(
                service, endpoint_url=endpoint, region_name=region,
                aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                config=Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"}))
        return found


# What every command calls first on a fresh sandbox: IAM (the operator key), S3 and DynamoDB
# (the state backend and the ledger).
_FIRST_SERVICES = ("iam", "s3", "dynamodb")


def warm_clients(endpoint: str) -> None:
    """Load the models of the first services into the shared boto3 session (a client made
    and dropped: the session keeps what it loaded)."""
    session = _shared_session()
    for service in _FIRST_SERVICES:
        session.client(service, endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="warm-up", aws_secret_access_key="warm-up")


class SandboxSession:
    """The slice of boto3.Session the tools use, bound to the emulator and one account."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str) -> None:
        self.endpoint = endpoint
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region

    def client(self, service: str, region_name: str | None = None) -> Client:
        return _client(self.endpoint, self.access_key, self.secret_key, service,
                       region_name or self.region)


def _create_operator_key(endpoint: str, account_id: str) -> dict[str, str]:
    # its own client (never shared: it carries the account header below)
    iam = _shared_session().client("iam", endpoint_url=endpoint, region_name="us-east-1",
                                   aws_access_key_id="bootstrap",
                                   aws_secret_access_key="bootstrap")
    # moto creates the user inside the account this header names.
    iam.meta.events.register(
        "before-sign.iam.*",
        lambda request, **_: request.headers.__setitem__("x-moto-account-id", account_id))
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName=OPERATOR_USER)
    key = iam.create_access_key(UserName=OPERATOR_USER)["AccessKey"]
    return {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}


def session_for(env: Environment) -> tuple[SandboxServer, SandboxSession, list[str]]:
    """Running server, a session in the env's account, and what had to be created for it:
    the operator key the first time, then the state bucket and lock table when missing."""
    from bbws_infra.state.state_backend import ensure_state_backend

    server = ensure_running()
    created: list[str] = []
    with _locked():
        server = _read_record() or server
        if env.account_id not in server.credentials:
            server.credentials[env.account_id] = _create_operator_key(server.endpoint,
                                                                      env.account_id)
            _write_record(server)
            created.append(f"operator key in account {env.account_id}")
    key = server.credentials[env.account_id]
    session = SandboxSession(server.endpoint, key["access_key"], key["secret_key"], env.region)
    created += ensure_state_backend(session, env)
    return server, session, created


def shell_exports(env: Environment) -> str:
    """`export` lines that point the AWS CLI and boto3 at the sandbox as the env's account."""
    server, session, _ = session_for(env)
    lines = {
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": session.access_key,
        "AWS_SECRET_ACCESS_KEY": session.secret_key,
        "AWS_REGION": env.region,
        "AWS_DEFAULT_REGION": env.region,
    }
    exports = [f"export {k}={v}" for k, v in lines.items()]
    return "\n".join(["unset AWS_PROFILE AWS_SESSION_TOKEN", *exports])
