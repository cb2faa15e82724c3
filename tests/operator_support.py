"""Running the installed ``aidnode`` as a subprocess against real nodes, for the CLI tests.

``aidnode(home, "need", "add", …)`` runs the console script of this virtual environment and
returns its exit code and output; :class:`RunningNode` starts ``aidnode run`` for a home and
stops it (SIGTERM) at the end of the test. Nodes are made with ``--insecure-no-passphrase`` so
no test pays for Argon2id, except those about passphrases (cheap ``--kdf-*`` there).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AIDNODE = str(Path(sys.executable).parent / "aidnode")
CHEAP_KDF = ("--kdf-ops", "1", "--kdf-mem", "8192")


@dataclass(frozen=True, slots=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:  # what pytest shows when an assertion on it fails
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def aidnode(
    home: Path | None,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60,
) -> Result:
    """Run ``aidnode [--home HOME] ARGS``; never raises on a non-zero exit."""
    command = [AIDNODE, *(["--home", str(home)] if home is not None else []), *args]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AIDNODE_")}
    environment.update({"NO_COLOR": "1", "COLUMNS": "200"})
    environment.update(env or {})
    done = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        check=False,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def inproc(home: Path | None, *args: str, env: dict[str, str] | None = None) -> Result:
    """The same command, run in this process through click (no interpreter start-up): for
    test set-up and for matrices of bad input, where the subject is our parsing, not the
    console script. Exit codes and messages are the same (click's standalone mode)."""
    from click.testing import CliRunner

    from node.cli import cli

    environment = {k: None for k in os.environ if k.startswith("AIDNODE_")}
    environment.update({"NO_COLOR": "1", **(env or {})})
    runner = CliRunner()
    result = runner.invoke(
        cli, [*(["--home", str(home)] if home is not None else []), *args], env=environment
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def ok(result: Result) -> Result:
    assert result.code == 0, str(result)
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def init_node(
    root: Path, label: str, name: str, region: str = "CN-HB-WH", port: int | None = None
) -> Path:
    """A new node home ``root/label`` with an unencrypted key (tests only)."""
    home = root / label
    ok(
        inproc(
            home, "init", "--name", name, "--region", region,
            "--listen", f"127.0.0.1:{port or free_port()}", "--insecure-no-passphrase",
        )
    )  # fmt: skip
    return home


def org_of(home: Path) -> str:
    """The org key of the node at ``home`` (from its configuration)."""
    from node.home import Home

    return Home(home).load_config().org


class RunningNode:
    """``aidnode run`` for a home, as a context manager."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> RunningNode:
        pid_file = self.home / "aidnode.pid"
        self.log = (self.home / "run.log").open("wb")
        self.process = subprocess.Popen(
            [AIDNODE, "--home", str(self.home), "run"], stdout=self.log, stderr=self.log
        )
        deadline = time.monotonic() + 20
        while not pid_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.home / "run.log").read_text())
            time.sleep(0.05)
        self.port = int(pid_file.read_text().split()[1])
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def wait_until(predicate: Any, timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something true; that value (AssertionError if not
    in time: a node that does not converge is the failure)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(interval)


@asynccontextmanager
async def serving_node(root: Path, name: str, region: str = "CN-HB-WH") -> AsyncIterator[Any]:
    """A node served in this process (``NodeService`` with the local API), for API tests:
    yields ``(service, base_url, token)``."""
    from node import api  # noqa: F401  # registers the API routes
    from node.home import Home
    from node.runtime import Node, init_home
    from node.service import NodeService

    home = Home(root / name.split()[0].lower())
    init_home(home, name=name, region=region, passphrase=None, listen="127.0.0.1:7420")
    node = await Node.open(home, None)
    service = NodeService(node)
    port = await service.start("127.0.0.1", 0)
    try:
        yield service, f"http://127.0.0.1:{port}", home.token()
    finally:
        await service.stop()
        await node.close()
