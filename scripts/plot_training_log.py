"""Plot one or more training CSV logs (`train_log.csv`, concatenated in order) as a loss-curve PNG.

    python scripts/plot_training_log.py OUT.png LOG.csv [LOG.csv ...]
"""

from __future__ import annotations

import csv
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for log in argv[1:]:
        with open(log, newline="") as handle:
            rows.extend(csv.DictReader(handle))
    rows.sort(key=lambda row: int(row["step"]))
    samples = [int(row["samples_seen"]) / 1e6 for row in rows]
    figure, axes = plt.subplots(figsize=(8, 5), dpi=100)
    for term, label in (("total", "total loss"), ("hole", "L1 hole"), ("valid", "L1 valid"), ("tv", "TV")):
        axes.plot(samples, [float(row[term]) for row in rows], label=label, linewidth=1)
    finetune = next((s for s, row in zip(samples, rows) if row["finetuning"] == "1"), None)
    if finetune is not None:
        axes.axvline(finetune, color="grey", linestyle="--", linewidth=1, label="fine-tuning (lr 5e-5, encoder BN frozen)")
    axes.set_yscale("log")
    axes.set_xlabel("training samples seen (millions, 256x256 crops)")
    axes.set_ylabel("loss (log scale)")
    axes.set_title("PConv U-Net 'compact' training on photos256/train")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    figure.tight_layout()
    figure.savefig(argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
