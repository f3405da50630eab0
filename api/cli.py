"""The `linli` command. Configuration comes from LINLI_* environment variables; flags override a few."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from api.calendar_commands import add_calendar_commands
from core.codec import PayloadKey, PayloadKeyError
from core.logging import configure_logging
from core.settings import Settings

EPILOG = """configuration (environment):
  LINLI_DATA_DIR            where embedded state lives (default ~/.local/share/linli)
  LINLI_DATABASE_URL        read model: sqlite:///path.db (default, in the data dir) or postgresql://...
  LINLI_TEMPORAL_ADDRESS    Temporal frontend (default localhost:7233)
  LINLI_TEMPORAL_NAMESPACE  (default "default")
  LINLI_TASK_QUEUE          (default linli-cases)
  LINLI_SLA_FILE            JSON policy overriding the SLA table (see README)
  LINLI_SLA_SCALE           multiplies every SLA duration (e.g. 0.0001 for demos)
  LINLI_TEMPORAL_CLI        path to the `temporal` binary (else PATH, cache, or built with Go)
  LINLI_COMMAND_TIMEOUT     seconds the API waits for a worker to apply a command before a 503 (default 30)
  LINLI_TOKEN_CACHE_SECONDS how long the API trusts a checked token; revocation takes this long (default 5)
  LINLI_WORKFLOW_SANDBOX    run workflow code in the SDK's sandbox in the worker (default false; see README)
  LINLI_MAX_BODY_BYTES      largest request body the API reads; larger is a 413 (default 1048576, 1 MiB)
  LINLI_MAX_HISTORY_BYTES   the same for an uploaded history, POST /v1/audit/replay (default 33554432, 32 MiB)
  LINLI_CURSOR_SECRET       signs pagination cursors (16+ characters); every API machine must have the same
                            one (default: one kept in the data dir, shared by this machine's processes)
  LINLI_PAYLOAD_KEYS        id:key,... encrypting what Temporal stores, the encrypting key first (see
                            `linli payload-key generate`); default: one key kept in the data dir
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="linli",
        description="linli: residents' issues as durable cases (compound → community → town).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run the dev server, a worker and the API in the foreground")
    up.add_argument("--data-dir", type=Path, help="state directory (default $LINLI_DATA_DIR)")
    up.add_argument("--port", type=int, default=8000, help="API port (default 8000)")
    up.add_argument("--temporal-port", type=int, default=7233, help="Temporal gRPC port (default 7233)")
    up.add_argument("--ui-port", type=int, default=8233, help="Temporal Web UI port (default 8233)")

    sub.add_parser("worker", help="run a worker (workflows and activities) against $LINLI_TEMPORAL_ADDRESS")

    api = sub.add_parser("api", help="run the HTTP API")
    api.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    api.add_argument("--port", type=int, default=8000, help="port (default 8000)")

    dev = sub.add_parser("dev-server", help="run only the Temporal dev server, persisted in the data dir")
    dev.add_argument("--data-dir", type=Path)
    dev.add_argument("--port", type=int, default=7233)
    dev.add_argument("--ui-port", type=int, default=8233)

    token = sub.add_parser("token", help="issue or revoke API tokens").add_subparsers(dest="action", required=True)
    issue = token.add_parser("issue", help="print a new token (and nothing else)")
    issue.add_argument("--role", required=True, help="resident | caseworker | supervisor | auditor | admin")
    issue.add_argument("--unit", help="jurisdiction: this unit and everything under it")
    issue.add_argument("--name", required=True, help="who the token is for (recorded as the actor)")
    revoke = token.add_parser("revoke", help="revoke a token")
    revoke.add_argument("token", nargs="?", help="the token itself")
    revoke.add_argument("--id", dest="principal_id", help="or the principal id")

    db = sub.add_parser("db", help="the read-model database").add_subparsers(dest="action", required=True)
    db.add_parser("init", help="create the tables if they are missing (run once before starting many processes)")

    units = sub.add_parser("units", help="manage the jurisdiction tree").add_subparsers(dest="action", required=True)
    imp = units.add_parser("import", help="add units from a JSON file (a tree or a list of trees)")
    imp.add_argument("file", type=Path)

    add_calendar_commands(sub)

    payload_key = sub.add_parser("payload-key", help="keys that encrypt what Temporal stores (LINLI_PAYLOAD_KEYS)")
    payload_key.add_subparsers(dest="action", required=True).add_parser(
        "generate",
        help="print a new id:key, to put first in LINLI_PAYLOAD_KEYS (and nothing else)",
        description=PAYLOAD_KEY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    audit = sub.add_parser("audit", help="replay case histories on this code and check the read model")
    replay_all = audit.add_subparsers(dest="action", required=True).add_parser(
        "replay-all",
        help="replay every case; exit 1 on any non-determinism or read-model mismatch",
        description=REPLAY_ALL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay_all.add_argument(
        "--since", type=_since, metavar="DATE", help="only cases filed on or after DATE (YYYY-MM-DD or ISO time, UTC)"
    )
    replay_all.add_argument(
        "--status", choices=("open", "closed", "all"), default="all", help="open or closed cases only (default: all)"
    )
    replay_all.add_argument(
        "--report", type=Path, metavar="FILE", help="where to write the JSON report (default ./linli-audit-<time>.json)"
    )
    return p


REPLAY_ALL_HELP = """Replay every case's Temporal history (all its runs) on this code, with the worker's data converter
and sandbox, and compare each replayed case with the read model. Run it before deploying new workflow
code: a change that would break running or finished cases shows up here as non-determinism.

Progress goes to stderr, a one-line summary to stdout, the details (per case: runs, error, mismatches)
to the JSON report. Exit status: 0 all deterministic and consistent, 1 otherwise, 2 bad usage.
Cases are those of LINLI_TASK_QUEUE in LINLI_TEMPORAL_NAMESPACE, and those in LINLI_DATABASE_URL."""


PAYLOAD_KEY_HELP = """Print a new payload key as id:key (32 random bytes, base64url). To rotate, put it first in
LINLI_PAYLOAD_KEYS on every worker and API process and keep the older keys after it: new payloads are
encrypted under the first key, and each older key still decrypts what was encrypted under it. Drop an
old key only once every history encrypted under it is past the namespace's retention (README: Payload
encryption). On one machine the default key is the data dir's payload-keys file; to rotate it:
  LINLI_PAYLOAD_KEYS="$(linli payload-key generate),$(cat ~/.local/share/linli/payload-keys)"
"""


def _since(value: str) -> datetime:
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD) or an ISO time") from None
    return since if since.tzinfo else since.replace(tzinfo=UTC)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it is installed (it comes with uvicorn[standard] on Linux and macOS), else asyncio's own.

    Measured on the lifecycle benchmark: the worker and the API each spent about a fifth less CPU per
    command on uvloop, and commands per second rose by about a tenth.
    """
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "payload-key":
        # Needs no configuration, so it works while a bad LINLI_PAYLOAD_KEYS is being replaced.
        print(PayloadKey.generate())
        return 0
    try:
        settings = Settings(**({"data_dir": args.data_dir} if getattr(args, "data_dir", None) else {}))
    except ValidationError as error:
        sys.stderr.write(f"linli: bad configuration:\n{error}\n")
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            return runner.run(_run(args, settings))
    except (CliError, PayloadKeyError) as error:
        sys.stderr.write(f"linli: {error}\n")
        return 2


class CliError(Exception):
    pass


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from api import serve

    match args.command:
        case "up":
            await serve.serve_up(settings, port=args.port, temporal_port=args.temporal_port, ui_port=args.ui_port)
        case "worker":
            await serve.serve_worker(settings)
        case "api":
            if not await serve.serve_api(settings, args.host, args.port):
                raise CliError(f"the API could not start on {args.host}:{args.port} (see the log above)")
        case "db":
            await _init_db(settings)
        case "dev-server":
            from core.devserver import DevServer

            db_file = settings.data_dir / "temporal.db"
            await serve.serve_dev_server(
                DevServer(port=args.port, ui_port=args.ui_port, db_file=db_file, binary=settings.temporal_cli)
            )
        case "token":
            await _token(args, settings)
        case "units":
            await _import_units(args.file, settings)
        case "calendar":
            from api.calendar_commands import run_calendar
            from core.calendar import CalendarError

            try:
                print(await run_calendar(args, settings))
            except CalendarError as error:
                raise CliError(str(error)) from None
        case "audit":
            from audit.replay_all import replay_all

            report = args.report or Path(f"linli-audit-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json")
            return await replay_all(settings, since=args.since, status=args.status, report=report)
    return 0


async def _token(args: argparse.Namespace, settings: Settings) -> None:
    from api.services.tokens import TokenError, issue_token, revoke_token
    from core.db import create_engine, upgrade_schema

    engine = create_engine(settings.db_url)
    try:
        await upgrade_schema(engine)
        if args.action == "issue":
            token, _ = await issue_token(engine, role=args.role, name=args.name, unit=args.unit)
            print(token)
        else:
            revoked = await revoke_token(engine, token=args.token, principal_id=args.principal_id)
            if not revoked:
                raise CliError("no such active token")
            print(f"revoked {revoked} token(s)")
    except TokenError as error:
        raise CliError(str(error)) from None
    finally:
        await engine.dispose()


async def _init_db(settings: Settings) -> None:
    from core.db import create_engine, upgrade_schema

    engine = create_engine(settings.db_url)
    try:
        await upgrade_schema(engine)
    finally:
        await engine.dispose()
    print("database ready")


async def _import_units(file: Path, settings: Settings) -> None:
    from api.services.units import UnitError, UnitTree, import_trees
    from core.db import create_engine, upgrade_schema

    try:
        data: Any = json.loads(file.read_text(encoding="utf-8"))
        trees = [UnitTree.model_validate(t) for t in (data if isinstance(data, list) else [data])]
    except (OSError, ValueError) as error:
        raise CliError(f"{file}: {error}") from None
    engine = create_engine(settings.db_url)
    try:
        await upgrade_schema(engine)
        created = await import_trees(engine, trees)
    except UnitError as error:
        raise CliError(str(error)) from None
    finally:
        await engine.dispose()
    print(f"imported {len(created)} units from {file}")


if __name__ == "__main__":
    raise SystemExit(main())
