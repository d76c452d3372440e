"""Write feedbot/understanding/word_classes.yml: classes of English nouns
(foods, drinks, …) taken from WordNet 3.0, for themes.yml's `word_classes`.

    apt-get install wordnet-base      # Debian's copy of Princeton's WordNet 3.0
    .venv/bin/python tools/wordnet_word_classes.py [--wordnet /usr/share/wordnet]

Run by a developer when the classes below change; the product reads only the
written file (nothing is downloaded or looked up at run time). A class is
every noun below its root synsets (hyponyms, all the way down) whose **most
frequent sense** is one of them: "salmon" is a food, "course" (a race course
first) and "service" (work done first) are not. WordNet lists each word's
senses most frequent first (index.noun).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "feedbot" / "understanding" / "word_classes.yml"

# class: root synsets, named as "word.n.NN" (the word's NN-th noun sense).
CLASSES = {
    "food": ["food.n.01", "food.n.02", "foodstuff.n.02", "dish.n.02", "course.n.07"],
    "drink": ["beverage.n.01"],
}

NOTICE = """\
# Written by tools/wordnet_word_classes.py from WordNet 3.0; edits are lost.
# Each class: the nouns whose most frequent sense lies below its root synsets.
#
# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.
# THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY
# MAKES NO REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED. BY WAY OF
# EXAMPLE, BUT NOT LIMITATION, PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS
# OR WARRANTIES OF MERCHANTABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE OR
# THAT THE USE OF THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT
# INFRINGE ANY THIRD PARTY PATENTS, COPYRIGHTS, TRADEMARKS OR OTHER RIGHTS.
# The name of Princeton University or Princeton may not be used in
# advertising or publicity pertaining to distribution of the software and/or
# database. Title to copyright in this software, database and any associated
# documentation shall at all times remain with Princeton University.
# (Licence: https://wordnet.princeton.edu/license-and-commercial-use)
"""


class WordNet:
    """The noun half of a WordNet 3.0 database directory (index.noun, data.noun)."""

    def __init__(self, directory: Path) -> None:
        self.senses: dict[str, list[int]] = {}  # word -> synset offsets, most frequent first
        for line in _lines(directory / "index.noun"):
            parts = line.split()
            pointer_count = int(parts[3])
            synset_count = int(parts[2])
            offsets = parts[6 + pointer_count : 6 + pointer_count + synset_count]
            self.senses[parts[0]] = [int(o) for o in offsets]
        self.words: dict[int, list[str]] = {}
        self.hyponyms: dict[int, list[int]] = {}
        for line in _lines(directory / "data.noun"):
            fields = line.split(" | ", 1)[0].split()
            offset, word_count = int(fields[0]), int(fields[3], 16)
            self.words[offset] = [fields[4 + 2 * i].lower() for i in range(word_count)]
            at = 4 + 2 * word_count
            pointers = int(fields[at])
            self.hyponyms[offset] = [
                int(fields[at + 1 + 4 * i + 1])
                for i in range(pointers)
                if fields[at + 1 + 4 * i] in ("~", "~i") and fields[at + 1 + 4 * i + 2] == "n"
            ]

    def synset(self, name: str) -> int:
        word, pos, number = name.rsplit(".", 2)
        assert pos == "n", name
        return self.senses[word][int(number) - 1]

    def below(self, roots: list[int]) -> set[int]:
        seen, todo = set(), list(roots)
        while todo:
            offset = todo.pop()
            if offset not in seen:
                seen.add(offset)
                todo += self.hyponyms.get(offset, [])
        return seen

    def word_class(self, roots: list[str]) -> list[str]:
        synsets = self.below([self.synset(r) for r in roots])
        words = set()
        for offset in synsets:
            for word in self.words[offset]:
                word = word.split("(")[0]  # adjective markers such as "(p)"
                first = self.senses.get(word)
                if first and first[0] in synsets and len(word) > 2:
                    words.add(word.replace("_", " "))
        return sorted(words)


def _lines(path: Path) -> Iterator[str]:
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line and not line.startswith("  "):  # the licence header lines start with two spaces
            yield line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    args = parser.parse_args()
    if not (args.wordnet / "index.noun").exists():
        raise SystemExit(f"no WordNet at {args.wordnet}: apt-get install wordnet-base")
    wordnet = WordNet(args.wordnet)
    classes = {name: wordnet.word_class(roots) for name, roots in CLASSES.items()}
    body = yaml.safe_dump({"roots": CLASSES, "classes": classes}, sort_keys=False, width=100)
    OUT.write_text(NOTICE + body, encoding="utf-8")
    print(", ".join(f"{name}: {len(words)} words" for name, words in classes.items()), "->", OUT)


if __name__ == "__main__":
    main()
