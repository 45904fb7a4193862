"""A transformers ``CLIPTokenizer`` derived offline from the BPE vocabulary that open_clip ships.

Stable Diffusion's text encoder uses OpenAI's CLIP BPE: 256 byte symbols, the same 256 with an
end-of-word marker, 48,894 merges, and two special tokens — 49,408 ids in all. open_clip's
``bpe_simple_vocab_16e6.txt.gz`` is that merge list, so ``vocab.json`` and ``merges.txt`` can be rebuilt
from it exactly (tests compare the ids with open_clip's own tokenizer). We write the two files once into
the cache and load them with the ordinary transformers class, so ``ci`` pipelines tokenize for real.
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

from toonlab import atomic
from toonlab.paths import cache_dir

N_MERGES = 49152 - 256 - 2  # what OpenAI's CLIP (and open_clip) keeps of the merge list
START, END = "<|startoftext|>", "<|endoftext|>"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable-character table (the order defines the first 256 ids)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


def clip_bpe_files(out_dir: Path | None = None) -> Path:
    """Write ``vocab.json`` and ``merges.txt`` (idempotent) and return their folder."""
    import open_clip.tokenizer

    out_dir = out_dir or cache_dir("tokenizers", "clip-bpe-49408")
    vocab_path, merges_path = out_dir / "vocab.json", out_dir / "merges.txt"
    if vocab_path.is_file() and merges_path.is_file():
        return out_dir
    lines = gzip.open(open_clip.tokenizer.default_bpe()).read().decode("utf-8").split("\n")
    merges = lines[1 : N_MERGES + 1]  # line 0 is a version header
    symbols = list(_bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges] + [START, END]
    atomic.write_text(vocab_path, json.dumps({token: i for i, token in enumerate(vocab)}, ensure_ascii=False))
    atomic.write_text(merges_path, "#version: 0.2\n" + "\n".join(merges) + "\n")
    return out_dir


@lru_cache(maxsize=4)
def clip_tokenizer(pad_token: str = END, model_max_length: int = 77):
    """The SD 1.x tokenizer (``pad_token="<|endoftext|>"``); SDXL's second tokenizer pads with ``"!"``."""
    from transformers import CLIPTokenizer

    folder = clip_bpe_files()
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), pad_token=pad_token,
                         model_max_length=model_max_length)
