"""A tiny corpus in the WordNet database format, so NLTK's real WordNet reader (and nlpaug's
synonym augmenter on top of it) runs with no download.

The files follow the WordNet 3.0 ``wndb`` layout that ``python -m nltk.downloader wordnet`` installs:
``lexnames``, ``index.<pos>`` (lemma -> synset offsets), ``data.<pos>`` (one synset a line, found
by its byte offset), and the ``<pos>.exc`` exception lists. Only nouns have entries.
"""

from __future__ import annotations

from pathlib import Path

HEADER = "  1 WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.\n"
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}


def write_wordnet(data_dir: Path, synsets: list[list[str]]) -> Path:
    """Write ``synsets`` (each a list of synonymous nouns) as ``data_dir/corpora/wordnet``; returns data_dir."""
    root = Path(data_dir) / "corpora" / "wordnet"
    root.mkdir(parents=True, exist_ok=True)
    (root / "lexnames").write_text("00\tadj.all\t3\n01\tadj.pert\t3\n02\tadv.all\t4\n03\tnoun.Tops\t1\n")
    lines, offsets, position = [], [], len(HEADER.encode())
    for words in synsets:
        offsets.append(position)
        lemmas = " ".join(f"{w} 0" for w in words)
        line = f"{position:08d} 03 n {len(words):02x} {lemmas} 000 | a tiny test synset\n"
        lines.append(line)
        position += len(line.encode())
    (root / "data.noun").write_text(HEADER + "".join(lines))
    index: dict[str, list[int]] = {}
    for words, offset in zip(synsets, offsets):
        for w in words:
            index.setdefault(w.lower(), []).append(offset)
    (root / "index.noun").write_text(HEADER + "".join(
        f"{w} n {len(offs)} 0 {len(offs)} 0 {' '.join(f'{o:08d}' for o in offs)}\n" for w, offs in sorted(index.items())))
    for pos, name in POS_FILES.items():
        if pos != "n":
            (root / f"data.{name}").write_text(HEADER)
            (root / f"index.{name}").write_text(HEADER)
        (root / f"{name}.exc").write_text("")
    (root / "index.sense").write_text("")  # sense keys: none in this corpus
    return Path(data_dir)
