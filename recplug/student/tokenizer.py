"""The student's tokenizer: a WordPiece tokenizer (Hugging Face `tokenizers`) whose vocabulary is
learned from the dataset's own text when no pretrained folder is given, or one loaded from a local
folder. Never downloads.

Why the vocabulary is counted here rather than by `WordPieceTrainer`: the trainer breaks frequency
ties in hash-map order, so two runs on the same data learn different vocabularies and a resumed or
repeated run would not reproduce. Counting words with the library's own normaliser and pre-tokeniser
and keeping the most frequent (ties by spelling), plus every character as a fallback piece, is
deterministic and covers the vocabulary of item text well.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
from tokenizers.processors import TemplateProcessing
from transformers import AutoTokenizer, PreTrainedTokenizerFast

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4000) -> PreTrainedTokenizerFast:
    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words: Counter[str] = Counter()
    for text in texts:
        words.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for w in words for c in w})
    pieces = SPECIAL + chars + [f"##{c}" for c in chars]
    budget = max(vocab_size - len(pieces), 0)
    frequent = [w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1][:budget]
    vocab = {t: i for i, t in enumerate(pieces + frequent)}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece()
    tok.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def load_tokenizer(folder: str | Path) -> PreTrainedTokenizerFast:
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: tokenizer folder does not exist")
    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as e:
        raise ValueError(f"{folder}: not a tokenizer folder ({e})") from None
