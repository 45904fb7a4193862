"""The inversion frontier: seconds per image and LPIPS for every method on one generator, and the issue's bars.

On one generator of a profile (chapter 05's settings for it, from ``notebooks/params/<profile>.yaml``) and
``--n-test`` held-out images (≥ 256 for a recorded run): per-image optimisation (``--optimize-steps``,
default 500), the pSp-style encoder, the hybrid (encoder + ``--hybrid-steps``) and the source mappers.
The learned networks come from chapter 05's run folders (trained there, or here with the same settings
and training images: the two share checkpoints; other images start fresh runs, see ``chapter.fingerprint``).
Prints the table and the ratios, checks the bars

* the mapper / encoder is ≥ 100x faster than optimisation (per image);
* the hybrid closes ≥ 50 % of the LPIPS gap between encoder and optimisation,
* at ≤ 10 % of optimisation's time per image,

writes the output to ``results/<profile>/05_inversion/benchmark_frontier.txt`` (the chapter shows it) and
exits non-zero when a bar is missed.

    python benchmarks/inversion_frontier.py --profile cpu                       # the recorded run
    python benchmarks/inversion_frontier.py --profile ci --n-test 8 --optimize-steps 20 --no-record  # smoke
"""

from __future__ import annotations

import argparse
import io
import sys
from contextlib import redirect_stdout

from toonlab.chapters import inversion as chapter
from toonlab.params import profile_params
from toonlab.paths import repo_root

FAST = {"fastgan": ("pSp encoder (z)", "optimisation (z)", "hybrid (z)"),
        "stylegan2": ("pSp encoder (W+)", "optimisation (W+)", "hybrid (W+)")}
MAPPERS = {"fastgan": ("PopYou mapper",),
           "stylegan2": ("ToyHollyWood mapper (as released)", "ToyHollyWood mapper (CLIP grad fixed)", "CSLA mapper (W+)")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=("ci", "cpu", "gpu", "full"))
    parser.add_argument("--generator", default="stylegan2", choices=chapter.KINDS)
    parser.add_argument("--n-test", type=int, default=256, help="held-out images (>= 256 for a recorded run)")
    parser.add_argument("--optimize-steps", type=int, default=500)
    parser.add_argument("--hybrid-steps", type=int, default=0, help="0: the profile's hybrid_steps")
    parser.add_argument("--no-record", action="store_true", help="do not write results/<profile>/05_inversion/")
    args = parser.parse_args(argv)

    params = profile_params(args.profile, chapter.CHAPTER, repo_root() / "notebooks" / "params")
    kind, device = args.generator, chapter.device()
    source, resolution, data = (params[f"{kind}_source"], params[f"{kind}_resolution"], params[f"{kind}_data"])
    if not source:
        raise SystemExit(f"profile {args.profile} has no {kind} generator (05_inversion: {kind}_source is empty)")
    out = io.StringIO()
    with redirect_stdout(out):
        generator = chapter.load_generator(kind, source, resolution=resolution, profile=args.profile, data=data,
                                           seed=params["seed"], device=device)
        # the chapter's own split (so its trained networks are reused), plus held-out images after the
        # training ones up to --n-test
        held_out = min(params["n_test"], args.n_test)
        images = chapter.load_images(data, resolution=resolution, limit=params["n_train"] + args.n_test,
                                     seed=params["seed"], progress=False)
        train_set, test = chapter.split(images, params["n_train"], held_out, extra_test=args.n_test - held_out)
        models = chapter.build_models(args.profile, device, seed=params["seed"])
        settings = chapter.TrainSettings(
            steps=params["train_steps"], batch_size=params["batch_size"], simclr_steps=params["simclr_steps"],
            csla_steps=params["csla_steps"], encoder_steps=params["encoder_steps"], widths=tuple(params["widths"]),
            log_every=params["log_every"], checkpoint_every=params["checkpoint_every"])
        trained = chapter.train_methods(generator, train_set, models, settings, profile=args.profile, data=data,
                                        seed=params["seed"], device=device, progress=False)
        inverters = chapter.build_inverters(generator, trained, models, optimize_steps=args.optimize_steps,
                                            hybrid_steps=args.hybrid_steps or params["hybrid_steps"],
                                            optimize_lr=params.get("optimize_lr", 0.1), seed=params["seed"])
        wanted = (*MAPPERS[kind], *FAST[kind])
        inverters = {name: inverters[name] for name in wanted}
        evaluation = chapter.evaluate(inverters, test, models, trained, device=device)
        table = chapter.results_table(evaluation, models)
    quality = models.labels["lpips"]
    rows = {r["method"]: r for r in table.to_dict("records")}
    optimisation = rows[FAST[kind][1]]
    hybrid_steps = args.hybrid_steps or params["hybrid_steps"]
    lines = [f"inversion frontier — profile {args.profile}, {generator.label}, {len(test)} held-out {data} images, "
             f"device {device}, optimisation {args.optimize_steps} steps, hybrid {hybrid_steps} steps",
             "", f"{'method':40s} {quality:>12s} {'MSE':>8s} {'s/image':>10s} {'x faster than optimisation':>28s}"]
    for name, row in rows.items():
        lines.append(f"{name:40s} {row[quality]:12.4f} {row['MSE']:8.4f} {row['s/image']:10.4f} "
                     f"{optimisation['s/image'] / max(row['s/image'], 1e-12):28.1f}")
    lines.append("")
    bars = chapter.frontier_bars(table, quality, *FAST[kind])
    for name in MAPPERS[kind]:  # every mapper must be as fast as the encoder bar asks
        speed = optimisation["s/image"] / max(rows[name]["s/image"], 1e-12)
        bars.append(chapter.Bar(f"speed-up of {name} over {FAST[kind][1]}", speed, 100.0))
    for bar in bars:
        sign = "≥" if bar.higher_is_better else "≤"
        lines.append(f"{'MET ' if bar.met else 'MISSED'} {bar.name}: {bar.value:.3g} (bar {sign} {bar.threshold:g})")
    if len(test) < 256:
        lines.append(f"note: {len(test)} held-out images; a recorded run needs >= 256")
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        from toonlab.recorded import record

        print(f"\nwritten to {record(text, args.profile, chapter.CHAPTER, chapter.BENCHMARK_FILE)}")
    return 0 if all(bar.met for bar in bars) else 1


if __name__ == "__main__":
    sys.exit(main())
