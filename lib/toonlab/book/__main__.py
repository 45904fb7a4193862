"""``python -m toonlab.book``: run chapters, build the book, scaffold a chapter.

    python -m toonlab.book run --profile ci [--chapters 01 03] [--force]
    python -m toonlab.book build [--strict]          # HTML -> _build/html
    python -m toonlab.book latex                     # LaTeX sources -> _build/latex
    python -m toonlab.book pdf                       # report PDF via LaTeX (code hidden) -> _build/latex/toonlab.pdf
    python -m toonlab.book check                     # open _build/html in headless Chromium -> _build/screenshots
    python -m toonlab.book sync                      # notebooks' bootstrap + badge cells from _config.yml
    python -m toonlab.book new 05_inversion "Inversion mappers" [--module inversion]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from toonlab.params import PROFILES, ParameterError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m toonlab.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    run_p = commands.add_parser("run", help="execute chapter notebooks with papermill into book/chapters/")
    run_p.add_argument("--profile", choices=PROFILES, default="ci")
    run_p.add_argument("--chapters", nargs="*", help="chapter numbers or names (default: all)")
    run_p.add_argument("--force", action="store_true", help="re-execute even unchanged chapters")
    run_p.add_argument("--missing", action="store_true",
                       help="only chapters with no executed copy yet (in any profile): what the book build needs")
    run_p.add_argument("--out-dir", type=Path, help="where executed notebooks go (default book/chapters)")
    run_p.add_argument("--cell-timeout", type=int, default=None,
                       help="seconds one cell may run (default: 1800 in ci, 3 hours in the reference profiles)")

    build_p = commands.add_parser("build", help="build the HTML book (Jupyter Book 1.x)")
    build_p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    commands.add_parser("latex", help="build the LaTeX sources of the book")
    commands.add_parser("pdf", help="build the report PDF through LaTeX, code cells hidden (needs TeX: make pdf)")
    check_p = commands.add_parser("check", help="open every page of the built HTML book in headless Chromium")
    check_p.add_argument("--html", type=Path, help="the built book (default _build/html)")
    check_p.add_argument("--screenshots", type=Path, help="where chapter screenshots go (default _build/screenshots)")
    check_p.add_argument("--online", action="store_true", help="also require images from other sites to load")
    commands.add_parser("sync", help="rewrite the notebooks' bootstrap and badge cells from _config.yml's repository")

    new_p = commands.add_parser("new", help="create a chapter notebook with the standard first cells, and its "
                                            "chapter module lib/toonlab/chapters/<name>.py")
    new_p.add_argument("stem", help="NN_name, e.g. 05_inversion")
    new_p.add_argument("title")
    new_p.add_argument("--module", help="the chapter module's name (default: the stem's name, e.g. inversion)")

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from toonlab.paths import repo_root

    try:
        if args.command == "run":
            from toonlab.book.runner import ChapterFailed, run

            try:
                report = run(args.profile, args.chapters, out_dir=args.out_dir, force=args.force,
                             cell_timeout=args.cell_timeout, missing_only=args.missing)
            except ChapterFailed as failure:
                print(f"\nFAILED: {failure}", file=sys.stderr)
                return 1
            print(report.summary())
        elif args.command in {"build", "latex", "pdf"}:
            from toonlab.book.build import build

            builder = {"build": "html", "latex": "latex", "pdf": "pdflatex"}[args.command]
            out = build(builder, strict=getattr(args, "strict", False))
            print(f"built {builder}: {out}")
        elif args.command == "check":
            from toonlab.book.browser import check_book, expected_pages, write_report
            from toonlab.book.repository import repository

            root = repo_root()
            shots = args.screenshots or root / "_build" / "screenshots"
            report = check_book(args.html or root / "_build" / "html", expected_pages(root), repository(root),
                                screenshot_dir=shots, online=args.online)
            print(report.summary())
            print(f"report: {write_report(report, shots / 'report.json')}")
            return 1 if report.problems else 0
        elif args.command == "sync":
            from toonlab.book.scaffold import sync_notebooks

            changed = sync_notebooks(repo_root() / "notebooks")
            print("\n".join(f"rewrote {path}" for path in changed) or "notebooks already match _config.yml")
        elif args.command == "new":
            from toonlab.book.scaffold import chapter_module_name, new_chapter

            chapters_dir = repo_root() / "lib" / "toonlab" / "chapters"
            path = new_chapter(args.stem, args.title, repo_root() / "notebooks", chapters_dir, module=args.module)
            module = chapters_dir / f"{chapter_module_name(args.stem, args.module)}.py"
            print(f"created {path} and {module}; add its parameters to notebooks/params/*.yaml and "
                  f"`- file: book/chapters/{args.stem}` to _toc.yml")
    except (ParameterError, ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
