"""`python -m agtp_runtime --handlers MODULE [--gateway-socket PATH]`: serves a module whose
`app` (or any module-level `Runtime`) is the service, or whose `HANDLERS` maps handler
references to functions."""

import importlib
import logging
import os
import sys
from typing import List, Optional

from .errors import ConfigError
from .runtime import EXIT_USAGE, Runtime
from .settings import parse_args

USAGE = "usage: python -m agtp_runtime --handlers MODULE [--gateway-socket PATH]"


def load(name: str) -> Runtime:
    """The `Runtime` a module defines. `name` is a module (`myapp.handlers`) or a file."""
    if name.endswith(".py") or os.sep in name:
        directory, file = os.path.split(os.path.abspath(name))
        sys.path.insert(0, directory)
        name = os.path.splitext(file)[0]
    elif os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(name)
    app = getattr(module, "app", None)
    if isinstance(app, Runtime):
        return app
    runtimes = [value for value in vars(module).values() if isinstance(value, Runtime)]
    if len(runtimes) == 1:
        return runtimes[0]
    handlers = getattr(module, "HANDLERS", None)
    if isinstance(handlers, dict):
        return Runtime(name=getattr(module, "MODULE_ID", name), version=getattr(module, "MODULE_VERSION", "0.0.0"),
                       handlers=handlers)
    raise ConfigError(f"module `{name}` defines no `app` Runtime and no `HANDLERS` table")


def main(argv: Optional[List[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    try:
        args = parse_args(argv, extra=["--handlers"])
        if "--handlers" not in args:
            raise ConfigError("`--handlers MODULE` is required")
        app = load(args["--handlers"])
    except ConfigError as error:
        print(f"agtp_runtime: {error}\n{USAGE}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    socket_args = [f"--gateway-socket={args['--gateway-socket']}"] if "--gateway-socket" in args else []
    app.run(argv=socket_args)


if __name__ == "__main__":
    main()
