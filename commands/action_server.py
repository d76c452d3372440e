"""The Rasa action server in one process: rasa_sdk's own app (its webhook,
health check and action list, unchanged), served by Sanic in single-process
mode.

    python -m commands.action_server --actions actions --port 5055

`python -m rasa_sdk` always starts Sanic's worker manager: the manager
process imports the actions (and with them the readers: spaCy, the word
lists, the taxonomy) and then spawns one worker that imports them all again
to do the work. Measured on this machine: about 200 MB for the manager, 200
MB for the worker and 20 MB of helpers, for one worker's work. Here the one
process serves. Every option of rasa_sdk's command is accepted (it is the
same parser); `SANIC_HOST` sets the interface, as for rasa_sdk.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)


def command(port: int) -> list[str]:
    """This action server on this port, serving the `actions` package (it
    listens on the host in the environment's SANIC_HOST)."""
    return [
        sys.executable,
        "-m",
        "commands.action_server",
        "--actions",
        "actions",
        "--port",
        str(port),
    ]


def main(argv: list[str] | None = None) -> None:
    # Here, not at the top: the runner imports `command` without loading Sanic.
    from rasa_sdk import utils
    from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME, DEFAULT_ENDPOINTS_PATH
    from rasa_sdk.endpoint import create_app_for_serve, create_argument_parser, create_ssl_config
    from rasa_sdk.executor import ActionExecutor
    from sanic import Sanic

    parser = create_argument_parser()
    parser.prog = "python -m commands.action_server"
    parser.description = __doc__.split("\n\n")[0]
    args = parser.parse_args(argv)
    if args.grpc:
        parser.error("--grpc is not served here; use `python -m rasa_sdk --grpc`")
    if args.auto_reload:
        parser.error("--auto-reload needs Sanic's worker manager; use `python -m rasa_sdk`")
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(
        logging.getLogger(APPLICATION_ROOT_LOGGER_NAME),
        args.log_file,
        args.loglevel,
        args.logging_config_file,
    )
    utils.update_sanic_log_level()

    # rasa_sdk reads only `tracing:` from it. Its default (./endpoints.yml)
    # need not exist: without it tracing is off, and rasa_sdk's ERROR that it
    # could not be read would mislead whoever reads the log.
    endpoints = args.endpoints if os.path.isfile(args.endpoints) else None
    if endpoints is None and args.endpoints != DEFAULT_ENDPOINTS_PATH:
        parser.error(f"--endpoints {args.endpoints}: no such file")

    executor = ActionExecutor()
    executor.register_package(args.actions_module or args.actions)  # loads the readers
    from feedbot.heap import freeze_loaded

    freeze_loaded("action server")
    app = create_app_for_serve(executor, cors_origins=args.cors, endpoints=endpoints)
    host = os.environ.get("SANIC_HOST", "0.0.0.0")
    ssl = create_ssl_config(args.ssl_certificate, args.ssl_keyfile, args.ssl_password)
    log.info(
        "action server (one process, pid %d) on %s://%s:%d",
        os.getpid(),
        "https" if ssl else "http",
        host,
        args.port,
    )
    app.prepare(host=host, port=args.port, ssl=ssl, single_process=True)
    Sanic.serve_single(primary=app)


if __name__ == "__main__":
    main()
