"""Build the scaled (GPU track) notebooks from the package: ``pretrain.ipynb`` and ``downstream.ipynb``.

    python notebooks/scaled/build_notebooks.py           # (re)write both notebooks
    python notebooks/scaled/build_notebooks.py --check   # exit 1 if a committed notebook differs from a fresh build

The notebooks are committed without outputs (papermill runs them). Their ``parameters`` cells are
written from :data:`marlin_lite.scaled.PRETRAIN_PARAMETERS` and
:data:`marlin_lite.scaled.DOWNSTREAM_PARAMETERS`, and every other code cell calls a function of
:mod:`marlin_lite.scaled`, so the notebooks hold no logic of their own. Cell ids are fixed, so a
rebuild of unchanged sources gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from marlin_lite.scaled import DOWNSTREAM_PARAMETERS, PRETRAIN_PARAMETERS  # noqa: E402


def literal(value) -> str:
    """A Python literal for a parameter value (strings in double quotes, as papermill writes them)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def parameters_source(table: dict) -> str:
    """The ``parameters`` cell: one ``name = default  # comment`` line per parameter."""
    lines = [f"{name} = {literal(default)}" for name, (default, _) in table.items()]
    width = max(len(line) for line in lines) + 2
    return "\n".join(f"{line:<{width}}# {comment}" for line, (_, comment) in zip(lines, table.values()))


def call_source(function: str, table: dict, target: str) -> str:
    """``target = scaled.function(name=name, ...)`` over every parameter, one per line."""
    args = "".join(f"    {name}={name},\n" for name in table)
    return f"{target} = scaled.{function}(\n{args})"


def _notebook(cells: list) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    return nb


def _params_cell(table: dict):
    return new_code_cell(parameters_source(table), metadata={"tags": ["parameters"]})


def build_pretrain() -> nbformat.NotebookNode:
    """``notebooks/scaled/pretrain.ipynb``."""
    pretrain_args = {k: v for k, v in PRETRAIN_PARAMETERS.items()}
    return _notebook([
        new_markdown_cell(
            "# Scaled pretraining (GPU track)\n\n"
            "MARLIN's masked-autoencoder pretraining at full size, with exactly the code of the lessons: "
            "`marlin_lite.pretrain.train` on the `PretrainConfig` that `load_config(config, **overrides)` builds "
            "(the same object as the command line). Run it with papermill and a parameter file from `configs/`:\n\n"
            "```bash\n"
            "papermill notebooks/scaled/pretrain.ipynb runs/pretrain_smoke.ipynb -f configs/pretrain_tiny_smoke.yaml        # CPU, a minute\n"
            "papermill notebooks/scaled/pretrain.ipynb runs/pretrain_gpu.ipynb -f configs/pretrain_base_synthface_gpu.yaml  # ViT-B, one GPU\n"
            "papermill notebooks/scaled/pretrain.ipynb runs/pretrain_ytf.ipynb -f configs/pretrain_base_ytf.yaml            # MARLIN's recipe, 4 GPUs\n"
            "```\n\n"
            "With `num_gpus > 1` the notebook launches `torchrun` (DDP) and reads the run folder afterwards. "
            "Every cell below calls one function of `marlin_lite.scaled`; `notebooks/scaled/README.md` has the details."
        ),
        _params_cell(PRETRAIN_PARAMETERS),
        new_markdown_cell("## Setup"),
        new_code_cell(
            "%matplotlib inline\n"
            "import json\n\n"
            "import torch\n"
            "from IPython.display import display\n\n"
            "from marlin_lite import scaled\n"
            "from marlin_lite.pretrain import CHECKPOINT, model_from_checkpoint\n\n"
            "gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]\n"
            "print(f\"torch {torch.__version__}; GPUs: {gpus or 'none'}\")"
        ),
        new_markdown_cell(
            "## 1. The run\n\n"
            "Data first (a real data set or a folder of videos is written into a clip store once and reused), "
            "then the config, the schedule and the equivalent command lines."
        ),
        new_code_cell(call_source("plan_pretraining", pretrain_args, "plan") + "\nprint(plan.describe())"),
        new_markdown_cell(
            "## 2. Train\n\n"
            "In this kernel with `num_gpus <= 1`; with more, the torchrun command above runs as a subprocess "
            "(its output is also saved to `torchrun.log` in the run folder). `resume=True` continues from the "
            "run folder's checkpoint and ends with exactly the weights of an uninterrupted run."
        ),
        new_code_cell(
            "outcome = scaled.run_pretraining(plan)\n"
            "print(f\"{outcome.launched}: step {outcome.step} of {plan.cfg.max_steps} in {outcome.seconds:.1f} s\")"
        ),
        new_markdown_cell(
            "## 3. Loss curves and throughput\n\n"
            "From `metrics.jsonl` (one line per `log_every` steps, all runs of a resumed run). Throughput is the "
            "median over logging windows, the first one (start-up, compilation) left out."
        ),
        new_code_cell(
            "rows = scaled.read_metrics(plan.out_dir)\n"
            "if rows:\n"
            "    fig = scaled.training_figure(rows)\n"
            "    fig.savefig(plan.out_dir / \"loss_curve.png\", dpi=80)\n"
            "    display(fig)\n"
            "    speed = scaled.throughput(rows)\n"
            "    print(f\"loss {rows[0]['loss']:.4f} -> {rows[-1]['loss']:.4f} over {int(rows[-1]['step'])} steps; \"\n"
            "          f\"{speed['clips_per_s']:.1f} clips/s ({speed['tflops']:.2f} TFLOP/s) on {plan.cfg.batch_size} clips per process\")\n"
            "else:\n"
            "    print(\"no metrics yet: the run has not been launched here\")"
        ),
        new_markdown_cell(
            "## 4. Reconstructions\n\n"
            "MAE's four panels (original, masked, reconstruction, reconstruction + visible) on a clip the model "
            "did not train on when the data allow (SynthFace: the validation people), masked with the run's strategy."
        ),
        new_code_cell(
            "if outcome.trained:\n"
            "    model = outcome.model if outcome.model is not None else model_from_checkpoint(plan.out_dir / CHECKPOINT)\n"
            "    fig = scaled.reconstruction_sample(model, plan.cfg)\n"
            "    fig.savefig(plan.out_dir / \"reconstruction.png\", dpi=80)\n"
            "    display(fig)"
        ),
        new_markdown_cell("## 5. Summary\n\n`summary.json` in the run folder: steps, losses, throughput, device, commands and the full config."),
        new_code_cell(
            "if outcome.trained:\n"
            "    summary = scaled.write_summary(plan, outcome)\n"
            "    print(json.dumps({k: summary[k] for k in (\"steps\", \"finished\", \"final\", \"throughput\", \"device\", \"wall_seconds\")}, indent=1))\n"
            "    print(\"written:\", plan.out_dir / scaled.SUMMARY)"
        ),
    ])


def build_downstream() -> nbformat.NotebookNode:
    """``notebooks/scaled/downstream.ipynb``."""
    return _notebook([
        new_markdown_cell(
            "# Scaled downstream evaluation (GPU track)\n\n"
            "One pretrained encoder on one of MARLIN's tasks: facial attributes (`far`, CelebV-HQ), expressions "
            "(`fer`, CMU-MOSEI), deepfake detection (`dfd`, FaceForensics++) or lip sync (`ls`, LRS2) - or "
            "any of them on SynthFace. The baselines are those of the lessons "
            "(`marlin_lite.tasks.run_baselines`): a random-init encoder with a linear probe, the same architecture "
            "trained from scratch, the pretrained encoder with a linear probe or fine-tuned, over label fractions "
            "and seeds. Lip sync trains a sync expert and Wav2Lip-style generators whose face encoder is random, "
            "trained from scratch or pretrained (`marlin_lite.tasks.lipsync.run_lipsync`); on LRS2 its clips are "
            "face crops of the official train and test utterances with their log-mel spectrograms "
            "(`marlin_lite.tasks.lipsync_data`, settings in `lipsync_data`).\n\n"
            "```bash\n"
            "papermill notebooks/scaled/downstream.ipynb runs/downstream_smoke.ipynb -f configs/downstream_smoke.yaml\n"
            "papermill notebooks/scaled/downstream.ipynb runs/far_celebvhq.ipynb -f configs/downstream_far_celebvhq.yaml\n"
            "papermill notebooks/scaled/downstream.ipynb runs/ls_lrs2.ipynb -f configs/downstream_ls_lrs2.yaml\n"
            "```\n\n"
            "The table is written to `results.json` and `results.md` in `out_dir`, with `run.json` (parameters, "
            "encoder, data, device)."
        ),
        _params_cell(DOWNSTREAM_PARAMETERS),
        new_markdown_cell("## Setup"),
        new_code_cell(
            "%matplotlib inline\n"
            "import json\n\n"
            "import torch\n"
            "from IPython.display import Markdown, display\n\n"
            "from marlin_lite import scaled\n\n"
            "gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]\n"
            "print(f\"torch {torch.__version__}; GPUs: {gpus or 'none'}\")"
        ),
        new_markdown_cell(
            "## 1. Run the baselines\n\n"
            "Frozen encoders' features are computed once per (encoder, split) and cached in `out_dir/features` "
            "(or `cache_dir`); a rerun with more seeds or fractions reuses them."
        ),
        new_code_cell(call_source("run_downstream", DOWNSTREAM_PARAMETERS, "result")),
        new_markdown_cell("## 2. Results\n\nMean and standard deviation over seeds (just the value for one seed)."),
        new_code_cell(
            "display(Markdown(result.table.to_markdown()))\n"
            "print(\"written:\", *result.paths.values(), sep=\"\\n  \")"
        ),
        new_code_cell(
            "fig = scaled.results_figure(result.table)\n"
            "fig.savefig(result.paths[\"json\"].with_name(\"results.png\"), dpi=80)\n"
            "display(fig)"
        ),
        new_code_cell("print(json.dumps({k: result.info[k] for k in (\"encoder\", \"data\", \"methods\", \"device\", \"seconds\")}, indent=1))"),
    ])


NOTEBOOKS = {"pretrain.ipynb": build_pretrain, "downstream.ipynb": build_downstream}


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + ("" if nbformat.writes(nb).endswith("\n") else "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare the committed notebooks with a fresh build")
    args = p.parse_args(argv)
    stale = []
    for name, build in NOTEBOOKS.items():
        text = render(build())
        path = HERE / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)}")
    if stale:
        print(f"out of date: {stale}; run python notebooks/scaled/build_notebooks.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
