"""Write docs/synthface_grid.png, the SynthFace overview shown in the README.

Rows 1-3: twelve identities at the apex of an expression, with their parsing maps.
Row 4: one clip real, then each manipulation kind, with its fake mask.
Usage: python scripts/make_readme_figure.py [--out docs/synthface_grid.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from marlin_lite import viz  # noqa: E402
from marlin_lite.synthface import EXPRESSIONS, MANIPULATIONS, generate_clip  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "synthface_grid.png"))
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    size = args.size
    fig, axes = plt.subplots(4, 8, figsize=(16, 8.6))
    for i in range(12):
        expr = EXPRESSIONS[i % len(EXPRESSIONS)]
        c = generate_clip(i, 0, size=size, num_frames=24, expression=expr)
        t = int(np.argmax(c.per_frame["expression_intensity"])) if expr != "neutral" else 12
        r, col = divmod(i, 4)
        axes[r, 2 * col].imshow(c.frames[t])
        axes[r, 2 * col].set_title(f"identity {i}: {expr}", fontsize=9)
        axes[r, 2 * col + 1].imshow(viz.overlay_parsing(c.frames[t : t + 1], c.parsing[t : t + 1], 0.8)[0])
        axes[r, 2 * col + 1].set_title("parsing", fontsize=9)
    for k, manip in enumerate(MANIPULATIONS):
        c = generate_clip(5, 2, size=size, num_frames=24, expression="happy", manipulation=manip)
        axes[3, 2 * k].imshow(c.frames[14])
        axes[3, 2 * k].set_title("real" if manip == "none" else manip.replace("_", " "), fontsize=9)
        mask = c.fake_mask[14] if c.fake_mask is not None else np.zeros((size, size))
        axes[3, 2 * k + 1].imshow(mask, cmap="magma", vmin=0, vmax=1)
        axes[3, 2 * k + 1].set_title("fake mask", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle("SynthFace: procedural talking faces with parsing maps, expressions and manipulations", fontsize=12)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=64)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
