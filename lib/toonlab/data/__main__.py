"""``python -m toonlab.data``: regenerate committed manifests, or render a source into the cache.

    python -m toonlab.data manifest emoji|avatars|photos
    python -m toonlab.data materialize emoji --resolution 64 [--limit N] [--seed S]
    python -m toonlab.data list
"""

from __future__ import annotations

import argparse
import sys

from toonlab.data.dataset import materialize
from toonlab.data.manifest import write_manifest
from toonlab.data.registry import get_spec, load_registry


def _build(name: str) -> None:
    spec = get_spec(name)
    if spec.manifest is None:
        sys.exit(f"source {name!r} has no committed manifest (full sources record theirs in the cache)")
    if spec.kind == "emoji":
        from toonlab.data.sources.emoji import build_manifest
    elif spec.kind == "avatars":
        from toonlab.data.sources.avatars import build_manifest
    elif spec.kind == "photos":
        from toonlab.data.sources.photos import build_manifest
    else:
        sys.exit(f"no manifest builder for kind {spec.kind!r}")
    entries = build_manifest()
    write_manifest(spec.manifest, entries)
    print(f"wrote {len(entries)} entries to {spec.manifest}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m toonlab.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="registered sources")
    build = commands.add_parser("manifest", help="regenerate a committed manifest from the installed package")
    build.add_argument("name")
    render = commands.add_parser("materialize", help="render a source into the cache and print the folder")
    render.add_argument("name")
    render.add_argument("--resolution", type=int, default=64)
    render.add_argument("--limit", type=int, default=None)
    render.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, spec in load_registry().items():
            print(f"{name:16s} {spec.profile:4s} {spec.kind:8s} {spec.license}")
    elif args.command == "manifest":
        _build(args.name)
    else:
        print(materialize(args.name, args.resolution, args.limit, args.seed))


if __name__ == "__main__":
    main()
