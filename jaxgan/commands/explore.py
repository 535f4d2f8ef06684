"""``jaxgan explore OUT_DIR``: build the static HTML explorer over a results folder.

Writes ``OUT_DIR/explorer/index.html`` (open it directly, no server needed). ``--serve``
also serves ``OUT_DIR`` on 127.0.0.1 (never other interfaces) until Ctrl-C.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jaxgan.commands.base import Command, UsageError


def _explore_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out_dir", metavar="OUT_DIR",
                   help="results folder to scan (manifests explorer.json, training runs, images)")
    p.add_argument("--serve", action="store_true",
                   help="also serve OUT_DIR on http://127.0.0.1:PORT until Ctrl-C")
    p.add_argument("--port", type=int, default=0, help="port for --serve (default 0: a free one)")
    p.add_argument("--open-browser", choices=["yes", "no"], default="no",
                   help="open the page in the default browser (default no)")
    p.add_argument("--strict", action="store_true",
                   help="fail on an invalid manifest instead of showing it as an error")


def _explore_run(args: argparse.Namespace) -> int:
    from jaxgan.viz.explorer import build_explorer_results, make_server  # noqa: PLC0415
    out = Path(args.out_dir)
    if not out.is_dir():
        raise UsageError(f"OUT_DIR {args.out_dir}: folder does not exist")
    if not 0 <= args.port < 65536:
        raise UsageError(f"--port must be in [0, 65535], got {args.port}")
    if args.port and not args.serve:
        raise UsageError("--port applies only with --serve")
    index, results = build_explorer_results(out, strict=args.strict)
    bad = sum(r["error"] is not None for r in results)
    print(f"explorer with {len(results)} result(s)" + (f", {bad} invalid" if bad else "")
          + f": {index}", file=sys.stderr)
    print(index)
    url = index.resolve().as_uri()
    server = None
    if args.serve:
        try:
            server, url = make_server(out, args.port)
        except OSError as e:
            raise UsageError(f"--serve: cannot listen on 127.0.0.1:{args.port} ({e})") from None
        print(f"serving on {url} (Ctrl-C to stop)", flush=True)
    if args.open_browser == "yes":
        import webbrowser  # noqa: PLC0415
        webbrowser.open(url)
    if server is not None:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return 0


COMMANDS = (
    Command("explore", "build a static HTML explorer of the results under a folder "
            "(optionally serve it on localhost)", _explore_arguments, _explore_run),
)
