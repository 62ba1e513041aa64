"""``python -m pipeline fetch|build``: the pipeline's command line."""

from __future__ import annotations

import argparse
import logging
import sys

from atlas import settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fetch_p = sub.add_parser("fetch", help="download any missing raw file into ATLAS_RAW_DIR and verify it")
    fetch_p.add_argument("--only", action="append", default=[],
                         help="only files whose path starts with this prefix (repeatable)")
    build_p = sub.add_parser("build", help="build the extracts from ATLAS_RAW_DIR into ATLAS_DATA_DIR")
    build_p.add_argument("--force", action="store_true", help="rebuild even when the inputs are unchanged")
    build_p.add_argument("--publish", action="store_true",
                         help="then upload the build to object storage (ATLAS_STORAGE_URL) with its manifest and "
                              "move the current pointer there: every app host fetches it, checks it and switches")
    args = parser.parse_args(argv)
    try:
        conf = settings.load()
    except settings.SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=conf.log_level, format="%(asctime)s %(levelname)s %(message)s")
    if args.command == "fetch":
        from pipeline import fetch

        return fetch.main(conf, only=args.only)
    from pipeline import build

    return build.main(conf, force=args.force, publish=args.publish)


if __name__ == "__main__":
    sys.exit(main())
