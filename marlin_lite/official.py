"""Official MARLIN weights in MARLIN-lite: names, layouts, the release files and a parity check.

The official code names its layers differently (``patch_embedding.projection`` for our
``patch_embed.proj`` ...) and ships three layouts: an encoder-only release (``*.encoder.pt``), a
full release with decoder and critic (``*.full.pt``) and Lightning checkpoints (``state_dict``).

* :func:`from_official` / :func:`to_official`: a state dict from / to official names (a
  :class:`LoadReport` says what matched), :func:`config_from_official` infers the size;
* :func:`load_pretrained`: a release by name (:data:`OFFICIAL_WEIGHTS`, cached, downloaded only
  when asked) or a local file;
* :func:`official_parity`: the shipped tiny model built with the official code
  (``data_samples/official/``) reproduced, output by output.
"""

from __future__ import annotations

import math
import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from marlin_lite.model import MarlinAutoencoder, MarlinConfig, get_config
from marlin_lite.utils import atomic_file, progress_bar, sha256_file

# Where official names and ours differ: (official part, MARLIN-lite part) of a key. Each part
# is unique to its side, so one table renames both ways by substring replacement.
_NAME_PAIRS = [
    ("encoder.patch_embedding.projection.", "encoder.patch_embed.proj."),
    (".pos_embedding.emb", ".pos_embed"),
    (".mlp.layers.0.linear.", ".mlp.fc1."),
    (".mlp.layers.1.linear.", ".mlp.fc2."),
    ("discriminator.layers.0.linear.", "discriminator.fc1."),
    ("discriminator.layers.1.linear.", "discriminator.fc2."),
]
_OFFICIAL_TO_LITE = _NAME_PAIRS
_LITE_TO_OFFICIAL = [(lite, official) for official, lite in _NAME_PAIRS]

_ANCHOR = "encoder.patch_embedding.projection.weight"
_ENC_ONLY_ANCHOR = "patch_embedding.projection.weight"


def _rename(key: str, rules: list[tuple[str, str]]) -> str:
    for old, new in rules:
        if old in key:
            return key.replace(old, new)
    return key


def _strip_prefix(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], bool]:
    """Remove a wrapper prefix (``model.``, ``module.`` ...) and say whether the dict is encoder-only.

    Keys come back as the official release names them (``encoder.*``, ``enc_dec_proj.*``,
    ``decoder.*``, ``discriminator.*``). Encoder-only is decided as the official ``Marlin.from_file``
    decides it: no key starts with ``decoder.`` (the release's ``*.encoder.pt`` keeps the
    ``encoder.`` prefix). A bare encoder dict (``patch_embedding...``, what
    ``model.encoder.state_dict()`` gives under official names) is read too.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"state_dict must be a dict of parameter name -> tensor (torch.load(path, weights_only=True)), got "
            f"{type(state_dict).__name__}; to load a file use load_pretrained(path)"
        )
    for key in state_dict:
        if isinstance(key, str) and key.endswith(_ANCHOR):
            prefix = key[: -len(_ANCHOR)]
            sd = _tensors_only({k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)})
            return sd, not any(k.startswith("decoder.") for k in sd)
    for key in state_dict:
        if isinstance(key, str) and key.endswith(_ENC_ONLY_ANCHOR):
            prefix = key[: -len(_ENC_ONLY_ANCHOR)]
            return _tensors_only({"encoder." + k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}), True
    raise ValueError(
        f"not an official MARLIN state dict: no key ending in {_ANCHOR!r} (full model) or "
        f"{_ENC_ONLY_ANCHOR!r} (encoder only); first keys: {list(state_dict)[:5]}"
    )


def _layout(sd: Mapping[str, torch.Tensor], encoder_only: bool) -> str:
    """The layout name of a state dict :func:`_strip_prefix` returned."""
    if encoder_only:
        return "encoder"
    return "full+discriminator" if any(k.startswith("discriminator.") for k in sd) else "full"


def official_layout(state_dict: dict[str, torch.Tensor]) -> str:
    """Which official layout a state dict has: ``"encoder"`` (the release's ``*.encoder.pt``),
    ``"full"`` (``*.full.pt``: encoder, ``enc_dec_proj``, decoder) or ``"full+discriminator"``
    (a training checkpoint's ``state_dict``, as a Lightning ``*.ckpt`` holds it)."""
    return _layout(*_strip_prefix(state_dict))


def _tensors_only(sd: dict[str, Any]) -> dict[str, torch.Tensor]:
    """``sd`` unchanged if every value is a tensor, else a ValueError naming the first that is not."""
    for key, value in sd.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(
                f"state dict entry {key!r} holds {type(value).__name__}, not a tensor; convert arrays with "
                "torch.from_numpy, or pass the weights as torch.load(path, weights_only=True) returns them"
            )
    return sd


def _need(sd: dict[str, torch.Tensor], key: str, dims: int) -> torch.Tensor:
    """``sd[key]`` checked to have ``dims`` dimensions, else a ValueError saying to pass a config."""
    value = sd.get(key)
    if value is None or value.dim() != dims:
        got = "is missing" if value is None else f"has shape {tuple(value.shape)}"
        raise ValueError(
            f"cannot infer the model size: the official state dict's {key!r} {got} ({dims}-D expected); "
            "it is incomplete or not MARLIN's: pass config= (a preset name or a MarlinConfig)"
        )
    return value


def config_from_official(
    state_dict: dict[str, torch.Tensor], *, num_frames: int | None = None, enc_heads: int | None = None, dec_heads: int | None = None
) -> MarlinConfig:
    """Infer a :class:`MarlinConfig` from an official state dict's shapes.

    Head counts are not visible in the weights: they default to ``width / 64`` (MARLIN's
    ViT-S/B/L all use 64-dimensional heads); pass them for other models. ``num_frames``
    defaults to 16 (MARLIN's clip length) and sets the image size from the position table.
    """
    sd, encoder_only = _strip_prefix(state_dict)
    w = _need(sd, _ANCHOR, 5)
    enc_dim, in_chans, tubelet, patch, _ = w.shape
    if "encoder.pos_embedding.emb" not in sd:
        raise ValueError("the state dict has no encoder.pos_embedding.emb; pass a config explicitly")
    n_tokens = _need(sd, "encoder.pos_embedding.emb", 3).shape[1]
    frames = num_frames or 16
    side2 = n_tokens // (frames // tubelet)
    side = int(round(math.sqrt(side2)))
    if side * side * (frames // tubelet) != n_tokens:
        raise ValueError(
            f"{n_tokens} tokens do not fit num_frames={frames} with tubelet {tubelet}; pass the clip length as "
            "num_frames= (config_from_official, from_official) or the whole model as config= (from_official, load_pretrained)"
        )
    depth = lambda part: len({k.split(".")[2] for k in sd if k.startswith(f"{part}.blocks.")})  # noqa: E731
    dec_dim = _need(sd, "decoder.mask_token", 3).shape[-1] if not encoder_only else 64
    qkv_bias = "encoder.blocks.0.attn.q_bias" in sd
    heads = lambda dim, given: given or max(1, dim // 64)  # noqa: E731
    mlp_hidden = _need(sd, "encoder.blocks.0.mlp.layers.0.linear.weight", 2).shape[0]
    return MarlinConfig(
        img_size=side * patch,
        patch_size=patch,
        num_frames=frames,
        tubelet_size=tubelet,
        in_chans=in_chans,
        enc_dim=enc_dim,
        enc_depth=depth("encoder"),
        enc_heads=heads(enc_dim, enc_heads),
        dec_dim=dec_dim,
        dec_depth=depth("decoder") if not encoder_only else 1,
        dec_heads=heads(dec_dim, dec_heads),
        mlp_ratio=mlp_hidden / enc_dim,
        qkv_bias=qkv_bias,
        name="official",
    )


@dataclass
class LoadReport:
    """What :func:`from_official` / :func:`load_pretrained` did with each key."""

    loaded: list[str]
    missing: list[str]  # MARLIN-lite keys with no official counterpart in the file
    unexpected: list[str]  # official keys MARLIN-lite has no place for
    encoder_only: bool
    layout: str = ""  # official_layout(): "encoder", "full" or "full+discriminator"

    def __str__(self) -> str:
        s = f"loaded {len(self.loaded)} tensors ({self.layout or ('encoder only' if self.encoder_only else 'full model')})"
        if self.missing:
            s += f"; missing {len(self.missing)}: {self.missing[:4]}"
        if self.unexpected:
            s += f"; unexpected {len(self.unexpected)}: {self.unexpected[:4]}"
        return s


def from_official(
    state_dict: dict[str, torch.Tensor],
    config: MarlinConfig | str | None = None,
    *,
    strict: bool = True,
    **infer_kwargs: Any,
) -> tuple[MarlinAutoencoder, LoadReport]:
    """Build a :class:`MarlinAutoencoder` from an official MARLIN state dict.

    Reads the three layouts the official release and training code write, with or without a
    wrapper prefix (:func:`official_layout`): the encoder-only ``*.encoder.pt`` (keys
    ``encoder.*``; the model gets no discriminator and its decoder stays at its initialisation,
    listed in ``report.missing``), the full ``*.full.pt`` (encoder, ``enc_dec_proj``, decoder: no
    discriminator) and a training checkpoint's state dict with ``discriminator.*`` too. Every key
    is accounted for: with ``strict`` any unexpected key, or a missing one the file's layout
    should have, raises; a shape mismatch always raises with both shapes. Returns the model and
    a :class:`LoadReport`.
    """
    sd, encoder_only = _strip_prefix(state_dict)
    cfg = get_config(config) if config is not None else config_from_official(state_dict, **infer_kwargs)
    has_disc = any(k.startswith("discriminator.") for k in sd)
    model = MarlinAutoencoder(cfg, discriminator=has_disc)
    own = model.state_dict()
    loaded, unexpected, converted = [], [], {}
    for key, value in sd.items():
        lite = _rename(key, _OFFICIAL_TO_LITE)
        if lite not in own:
            unexpected.append(key)
            continue
        if tuple(own[lite].shape) != tuple(value.shape):
            raise ValueError(
                f"shape mismatch for {key!r} -> {lite!r}: file has {tuple(value.shape)}, the "
                f"{cfg.name} config expects {tuple(own[lite].shape)}; pass the matching config"
            )
        converted[lite] = value
        loaded.append(lite)
    missing = [k for k in own if k not in converted]
    allowed_missing = [k for k in missing if encoder_only and not k.startswith("encoder.")]
    hard_missing = [k for k in missing if k not in allowed_missing]
    if strict and (unexpected or hard_missing):
        raise ValueError(f"official state dict does not fit: unexpected keys {unexpected[:8]}, missing keys {hard_missing[:8]}")
    model.load_state_dict(converted, strict=False)
    return model, LoadReport(loaded, missing, unexpected, encoder_only, _layout(sd, encoder_only))


def to_official(model: MarlinAutoencoder, *, encoder_only: bool = False, discriminator: bool = True) -> dict[str, torch.Tensor]:
    """The model's weights under official MARLIN key names.

    ``encoder_only``: the release's ``*.encoder.pt`` layout (``encoder.*`` keys only);
    ``discriminator=False``: the ``*.full.pt`` layout (encoder, ``enc_dec_proj``, decoder); the
    default keeps the discriminator too (a training checkpoint's ``state_dict``) when the model has one.
    """
    out = {}
    for key, value in model.state_dict().items():
        name = _rename(key, _LITE_TO_OFFICIAL)
        if encoder_only and not name.startswith("encoder."):
            continue
        if not discriminator and name.startswith("discriminator."):
            continue
        out[name] = value.detach().clone()
    return out


#: The official reference shipped with the course: a tiny model built with the official MARLIN
#: modules, its input, visible mask and every output (``data_samples/official/README.md``).
OFFICIAL_REFERENCE = Path(__file__).resolve().parents[1] / "data_samples" / "official" / "marlin_official_tiny.pt"


def load_official_reference(path: str | os.PathLike[str] = OFFICIAL_REFERENCE) -> tuple[MarlinConfig, dict[str, Any]]:
    """The official reference file (:data:`OFFICIAL_REFERENCE`) and the :class:`MarlinConfig` its
    ``config`` entry describes: ``(cfg, ref)``, ``ref`` as ``torch.load(path, weights_only=True)``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: it ships with the course in data_samples/official/; restore it with git checkout -- {path.name}"
        )
    ref = torch.load(path, map_location="cpu", weights_only=True)
    c = ref["config"]
    cfg = MarlinConfig(img_size=c["img"], patch_size=c["patch"], num_frames=c["frames"], tubelet_size=c["tubelet"],
                       enc_dim=c["enc"][0], enc_depth=c["enc"][1], enc_heads=c["enc"][2], dec_dim=c["dec"][0],
                       dec_depth=c["dec"][1], dec_heads=c["dec"][2], qkv_bias=c["qkv_bias"], name="official_tiny")
    return cfg, ref


def official_parity(path: str | os.PathLike[str] = OFFICIAL_REFERENCE) -> tuple[dict[str, float], LoadReport]:
    """Load the official reference file into MARLIN-lite and compare every output with it.

    Returns ``(diffs, report)``: for each of ``encoder_visible_tokens``, ``decoder_masked_predictions``,
    ``features_seq``, ``features_mean`` and ``discriminator_scores``, the largest absolute difference
    between MARLIN-lite's output and the official one (fp32: expect about 1e-6), and the
    :class:`LoadReport` of reading the official state dict.
    """
    cfg, ref = load_official_reference(path)
    model, report = from_official(ref["state_dict"], cfg)
    model.eval()
    x, visible = ref["x"], ref["visible"]
    with torch.no_grad():
        ours = {
            "encoder_visible_tokens": model.encoder(x, visible),
            "decoder_masked_predictions": model(x, visible),
            "features_seq": model.encoder.extract_features(x, keep_seq=True),
            "features_mean": model.encoder.extract_features(x),
            "discriminator_scores": model.discriminator(ref["decoder_masked_predictions"]),
        }
    return {k: float((v - ref[k]).abs().max()) for k, v in ours.items()}, report


#: Official pretrained weights (YouTube Faces), as released: ``<name>.encoder.pt`` (the encoder
#: only, keys ``encoder.*``) and ``<name>.full.pt`` (encoder, ``enc_dec_proj`` and decoder, no
#: discriminator). ``<name>`` loads the encoder file, ``<name>.full`` the full one. Files are
#: large; they are fetched only on request.
OFFICIAL_WEIGHTS: dict[str, dict[str, Any]] = {
    f"marlin_vit_{preset}_ytf{suffix}": {"preset": preset, "file": f"marlin_vit_{preset}_ytf.{part}.pt", "sha256": None}
    for preset in ("small", "base", "large")
    for suffix, part in (("", "encoder"), (".full", "full"))
}
#: Where the official release files are published (GitHub release assets of the official repo).
OFFICIAL_URL = "https://github.com/ControlNet/MARLIN/releases/download/model_v1/{file}"


def default_cache_dir() -> Path:
    """``$MARLIN_LITE_CACHE`` or ``~/.cache/marlin_lite``."""
    return Path(os.environ.get("MARLIN_LITE_CACHE", Path.home() / ".cache" / "marlin_lite"))


def _download(url: str, dest: Path, sha256: str | None) -> None:
    """Download ``url`` to ``dest`` atomically with a progress bar; check SHA-256 if known."""
    with atomic_file(dest) as tmp:  # a failed or corrupt download leaves nothing behind
        with urllib.request.urlopen(url) as resp, open(tmp, "wb") as out:  # noqa: S310 (a fixed https URL)
            total = int(resp.headers.get("Content-Length") or 0) or None
            with progress_bar(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        if sha256 is not None and sha256_file(tmp) != sha256:
            raise ValueError(f"checksum mismatch for {url}: the download is corrupt; try again")


def load_pretrained(
    name_or_path: str | os.PathLike[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    config: MarlinConfig | str | None = None,
) -> tuple[MarlinAutoencoder, LoadReport]:
    """Load official MARLIN weights by name (:data:`OFFICIAL_WEIGHTS`) or from a local file.

    A path to a ``.pt`` / ``.ckpt`` file is read offline with ``torch.load(weights_only=True)``:
    a release file (``*.encoder.pt``, ``*.full.pt``), a state dict under official names, or a
    Lightning checkpoint (its ``state_dict``; the discriminator is kept when present).
    A name looks in ``cache_dir`` (default :func:`default_cache_dir`) first and, if absent and
    ``download`` is True, downloads the release file once (with a progress bar, atomically,
    SHA-256-checked where a checksum is known). Returns ``(model, report)``.
    """
    path = Path(name_or_path)
    name = str(name_or_path)
    if name in OFFICIAL_WEIGHTS:
        info = OFFICIAL_WEIGHTS[name]
        path = Path(cache_dir or default_cache_dir()) / info["file"]
        config = config or info["preset"]
        if not path.exists():
            if not download:
                raise FileNotFoundError(f"{path} not found and download=False; place the official file there")
            _download(OFFICIAL_URL.format(file=info["file"]), path, info["sha256"])
    elif not path.exists():
        raise FileNotFoundError(
            f"{path} is neither a file nor an official weight name ({', '.join(OFFICIAL_WEIGHTS)})"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 (any unpickling failure is the same user problem)
        raise ValueError(f"{path} could not be read as a weights-only PyTorch file: {err}") from err
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"{path} does not hold a state dict (got {type(obj).__name__})")
    if isinstance(obj.get("config"), dict) and isinstance(obj.get("model"), dict):
        raise ValueError(
            f"{path} is a MARLIN-lite training checkpoint, not official MARLIN weights; load it with "
            "marlin_lite.pretrain.model_from_checkpoint(path)"
        )
    return from_official(obj, config)
