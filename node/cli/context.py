"""What every command shares: the node home, the passphrase, ``--json``, and the one place
where errors become exit codes.

Exit codes (docs/operators.md): 0 ok; 1 operational failure, with one line on stderr saying
why; 2 usage error (click prints the usage and the problem).

The global options ``--home``, ``--passphrase-file`` and ``--json`` are accepted before the
command (``aidnode --json list``) and after it (``aidnode list --json``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

from crypto import (
    AidError,
    KeyMaterialError,
    SigningIdentity,
    WrongPassphraseError,
    decode_key,
    key_file_info,
    read_key_file,
)
from node.cli.local import RemoteNode, RunningNode, running_node
from node.clock import SystemClock
from node.home import Home, NodeConfig, resolve_home
from node.inputs import InputError
from node.operations import Done
from node.presentation import dumps
from node.runtime import Node
from node.storage import Store
from node.trust import TrustKeeper

__all__ = [
    "PASSPHRASE_ENV",
    "Context",
    "emit",
    "fail",
    "node_options",
    "pass_context",
    "report",
    "run_async",
    "warn",
]

P = ParamSpec("P")
T = TypeVar("T")

PASSPHRASE_ENV = "AIDNODE_PASSPHRASE"  # noqa: S105  # the variable's name, not a secret


class Context:
    """The global options, resolved lazily (they may also come after the command)."""

    def __init__(self, home: str | None, passphrase_file: str | None, as_json: bool) -> None:
        self.home_option = home
        self.passphrase_file = passphrase_file
        self.json = as_json
        self._passphrase: tuple[str | None] | None = None  # cached once asked
        self.clock = SystemClock()

    @property
    def home(self) -> Home:
        return Home(resolve_home(self.home_option))

    def config(self) -> NodeConfig:
        return self.home.load_config()

    # -- the passphrase -------------------------------------------------------------------------

    def key_unencrypted(self) -> bool:
        path = self.home.key_path
        try:
            return path.exists() and not key_file_info(path).encrypted
        except KeyMaterialError:
            return False

    def passphrase_without_prompt(self) -> tuple[str | None] | None:
        """The passphrase if it can be had without asking: (value,), else None."""
        if self._passphrase is not None:
            return self._passphrase
        if self.key_unencrypted():
            return (None,)
        if self.passphrase_file:
            try:
                text = Path(self.passphrase_file).read_text(encoding="utf-8")
            except OSError as exc:
                fail(f"cannot read the passphrase file {self.passphrase_file}: {exc.strerror}")
            return (text.rstrip("\r\n"),)
        env = os.environ.get(PASSPHRASE_ENV)
        if env is not None:
            return (env,)
        return None

    def passphrase(self, *, confirm: bool = False, prompt: str = "Passphrase") -> str | None:
        """From --passphrase-file, $AIDNODE_PASSPHRASE, or a prompt on the terminal. None for
        a key file created with --insecure-no-passphrase."""
        found = self.passphrase_without_prompt()
        if found is None:
            if not sys.stdin.isatty():
                fail(
                    "a passphrase is needed: use --passphrase-file FILE or set "
                    f"{PASSPHRASE_ENV} (there is no terminal to ask on)"
                )
            found = (str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)),)
        self._passphrase = found
        return found[0]

    def signer_if_available(self, *, may_prompt: bool) -> SigningIdentity | None:
        """The org's current key, to open sealed fields, if the passphrase is at hand (or
        ``may_prompt`` and there is a terminal). None otherwise; a wrong passphrase fails."""
        found = self.passphrase_without_prompt()
        if found is None and not (may_prompt and sys.stdin.isatty()):
            return None
        passphrase = found[0] if found is not None else self.passphrase()
        return read_key_file(self.home.key_path, passphrase).current_identity()

    # -- opening the node -----------------------------------------------------------------------

    def running(self) -> RunningNode | None:
        """The ``aidnode run`` process serving this home, if there is one."""
        return running_node(self.home, self.config())

    @asynccontextmanager
    async def node(self) -> AsyncIterator[Node]:
        """The node with its keys (asks for the passphrase): for commands that sign.

        While ``aidnode run`` serves this home, it is the database's only writer: what this
        command signs is stored (and pushed) by it, through its local API (see
        :class:`~node.cli.local.RemoteNode`); otherwise the command opens the node itself.
        """
        config = self.config()  # "no node here" before asking for a passphrase
        running = running_node(self.home, config)
        if running is not None:
            node: Node = await RemoteNode.open(self.home, self.passphrase(), running, self.clock)
        else:
            node = await Node.open(self.home, self.passphrase())
        try:
            yield node
            if node.trust is not None:
                # What this command signed (an endorsement, a delegation) may admit authors
                # waiting in quarantine: promote them now, as a running node would at once.
                await node.trust.refresh()
        finally:
            await node.close()

    @asynccontextmanager
    async def store(self) -> AsyncIterator[tuple[NodeConfig, Store]]:
        """The configuration and the database only: reading needs no passphrase."""
        config = self.config()
        store = await Store.open(
            self.home.db_path, clock=self.clock, horizon_days=config.horizon_days
        )
        try:
            yield config, store
        finally:
            await store.close()

    async def trust(self, config: NodeConfig, store: Store) -> TrustKeeper:
        """This node's trust decisions over ``store``, installed as its admission policy (so
        events ingested here wait in quarantine like those from the network)."""
        return await TrustKeeper.attach(store, decode_key(config.org), config, self.clock)


def fail(message: str) -> NoReturn:
    """Operational failure: one line on stderr, exit status 1."""
    click.echo(f"aidnode: {message}", err=True)
    sys.exit(1)


def warn(message: str) -> None:
    click.echo(f"aidnode: warning: {message}", err=True)


def _friendly(exc: AidError) -> str:
    if isinstance(exc, WrongPassphraseError):
        return "wrong passphrase for the key file"
    return str(exc)


def run_async(function: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Run an async command body; map our errors to exit codes once, here."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return asyncio.run(function(*args, **kwargs))
        except InputError as exc:
            raise click.UsageError(str(exc), click.get_current_context(silent=True)) from None
        except AidError as exc:
            fail(_friendly(exc))
        except KeyboardInterrupt:
            fail("interrupted")

    return wrapper


def emit(ctx: Context, data: Any, text: Callable[[], None]) -> None:
    """``--json``: the documented shape on stdout; else the human rendering."""
    if ctx.json:
        click.echo(dumps(data))
    else:
        text()


def pass_context(function: Callable[..., Any]) -> Callable[..., Any]:
    """``click.pass_obj`` for our :class:`Context`."""
    return click.pass_obj(function)


def _set_home(click_ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    if value is not None:
        click_ctx.ensure_object(Context).home_option = value


def _set_passphrase_file(click_ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    if value is not None:
        click_ctx.ensure_object(Context).passphrase_file = value


def _set_json(click_ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if value:
        click_ctx.ensure_object(Context).json = True


HOME_HELP = "The node's home directory (default: $AIDNODE_HOME, else your user data directory)."
PASSPHRASE_HELP = "Read the key passphrase from FILE (else $AIDNODE_PASSPHRASE, else a prompt)."  # noqa: S105  # help text
JSON_HELP = "Machine-readable output (the stable shapes of docs/operators.md)."


def node_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Accept the global options after the command too (``aidnode list --json``)."""
    options = [
        click.option(
            "--home", metavar="DIR", expose_value=False, callback=_set_home, help=HOME_HELP
        ),
        click.option(
            "--passphrase-file",
            metavar="FILE",
            type=click.Path(dir_okay=False),
            expose_value=False,
            callback=_set_passphrase_file,
            help=PASSPHRASE_HELP,
        ),
        click.option(
            "--json", is_flag=True, expose_value=False, callback=_set_json, help=JSON_HELP
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def report(ctx: Context, done: Done, sentence: str) -> None:
    """The common ending of every command that signs one statement."""
    for warning in done.warnings:
        warn(warning)
    emit(ctx, done.as_dict(), lambda: click.echo(sentence))
