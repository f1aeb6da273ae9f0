"""The MARLIN autoencoder: a ViT encoder on visible tubelets, a decoder, a per-patch critic.

Shapes (``B`` clips, ``N`` tokens, ``n`` visible, ``D``/``d`` encoder/decoder widths,
``P = 3 * tubelet * patch * patch`` values per patch):

* clip ``x``: ``float32 (B, 3, T, H, W)`` in [0, 1];
* :meth:`MarlinEncoder.forward`: ``(B, n, D)`` tokens of the visible positions, in ascending
  token order (or all ``N`` when ``visible`` is None), after the final LayerNorm;
* :meth:`MarlinDecoder.forward`: ``(B, N - n, P)`` predictions of the *masked* patches in
  ascending token order, flattened ``(c, pt, ph, pw)`` like :func:`patchify`;
* :class:`Discriminator`: ``(..., P) -> (..., 1)`` a realness score per patch.

The layer layout follows the official MARLIN model (pre-LayerNorm blocks, a qkv projection
without bias plus learned q and v biases, fixed sine-cosine positions, no CLS token), so its
weights load with :func:`marlin_lite.official.from_official`; attention runs through
``torch.nn.functional.scaled_dot_product_attention`` (flash / memory-efficient kernels on GPU).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarlinConfig:
    """Sizes of a MARLIN autoencoder. ``PRESETS`` holds the named ones."""

    img_size: int = 224
    patch_size: int = 16
    num_frames: int = 16
    tubelet_size: int = 2
    in_chans: int = 3
    enc_dim: int = 768
    enc_depth: int = 12
    enc_heads: int = 12
    dec_dim: int = 384
    dec_depth: int = 4
    dec_heads: int = 6
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    norm_eps: float = 1e-5
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        for name in ("img_size", "patch_size", "num_frames", "tubelet_size", "in_chans", "enc_dim", "enc_heads", "dec_dim",
                     "dec_heads", "enc_depth", "dec_depth"):
            value, least = getattr(self, name), 0 if name.endswith("_depth") else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"MarlinConfig.{name} must be an int >= {least}" + (" (0: no blocks)" if least == 0 else "")
                                 + f", got {value!r}")
        if isinstance(self.mlp_ratio, bool) or not isinstance(self.mlp_ratio, (int, float)) or not self.mlp_ratio > 0:
            raise ValueError(f"MarlinConfig.mlp_ratio must be a number > 0, got {self.mlp_ratio!r}")
        if isinstance(self.norm_eps, bool) or not isinstance(self.norm_eps, (int, float)) or not self.norm_eps > 0:
            raise ValueError(f"MarlinConfig.norm_eps must be a number > 0, got {self.norm_eps!r}")
        if not isinstance(self.qkv_bias, bool):
            raise ValueError(f"MarlinConfig.qkv_bias must be true or false, got {self.qkv_bias!r}")
        if self.img_size % self.patch_size:
            raise ValueError(f"img_size {self.img_size} must be a multiple of patch_size {self.patch_size}")
        if self.num_frames % self.tubelet_size:
            raise ValueError(f"num_frames {self.num_frames} must be a multiple of tubelet_size {self.tubelet_size}")
        if self.enc_dim % self.enc_heads or self.dec_dim % self.dec_heads:
            raise ValueError("enc_dim / dec_dim must be divisible by enc_heads / dec_heads")

    @property
    def grid(self) -> tuple[int, int, int]:
        """Token grid ``(T', H', W')``."""
        side = self.img_size // self.patch_size
        return (self.num_frames // self.tubelet_size, side, side)

    @property
    def num_tokens(self) -> int:
        t, h, w = self.grid
        return t * h * w

    @property
    def patch_dim(self) -> int:
        """Values per patch target: ``in_chans * tubelet * patch * patch`` (1536 for MARLIN)."""
        return self.in_chans * self.tubelet_size * self.patch_size**2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, MarlinConfig] = {
    # Lessons on a laptop CPU: 8 frames of 64x64, patches of 8 -> 4 x 8 x 8 = 256 tokens.
    "tiny": MarlinConfig(64, 8, 8, 2, 3, 128, 4, 4, 64, 2, 2, name="tiny"),
    # MARLIN's ViT-S/B/L at 16 x 224 x 224 (1568 tokens).
    "small": MarlinConfig(224, 16, 16, 2, 3, 384, 12, 6, 192, 4, 3, name="small"),
    "base": MarlinConfig(224, 16, 16, 2, 3, 768, 12, 12, 384, 4, 6, name="base"),
    "large": MarlinConfig(224, 16, 16, 2, 3, 1024, 24, 16, 512, 12, 8, name="large"),
}


def get_config(name_or_config: str | MarlinConfig | dict, **overrides: Any) -> MarlinConfig:
    """A preset by name (``tiny``, ``small``, ``base``, ``large``), a dict, or a config, with overrides."""
    if isinstance(name_or_config, MarlinConfig):
        cfg = name_or_config
    elif isinstance(name_or_config, dict):
        cfg = MarlinConfig(**name_or_config)
    elif name_or_config in PRESETS:
        cfg = PRESETS[name_or_config]
    else:
        raise ValueError(f"unknown preset {name_or_config!r}; choose one of {sorted(PRESETS)} or pass a MarlinConfig")
    known = {f.name for f in fields(MarlinConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown model size(s) {unknown}; MarlinConfig has {sorted(known)}")
    return replace(cfg, **overrides) if overrides else cfg


# --------------------------------------------------------------------------------------
# Patches and positions
# --------------------------------------------------------------------------------------


def patchify(video: torch.Tensor, patch_size: int, tubelet_size: int) -> torch.Tensor:
    """``(B, C, T, H, W) -> (B, N, C * pt * ph * pw)`` tokens ordered ``(t, h, w)``.

    Each patch is flattened channel-first ``(c, pt, ph, pw)``, the official MARLIN order.
    """
    return rearrange(
        video, "b c (t pt) (h ph) (w pw) -> b (t h w) (c pt ph pw)", pt=tubelet_size, ph=patch_size, pw=patch_size
    )


def unpatchify(tokens: torch.Tensor, grid: tuple[int, int, int], patch_size: int, tubelet_size: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(B, N, C * pt * ph * pw) -> (B, C, T, H, W)``."""
    t, h, w = grid
    return rearrange(
        tokens,
        "b (t h w) (c pt ph pw) -> b c (t pt) (h ph) (w pw)",
        t=t,
        h=h,
        w=w,
        pt=tubelet_size,
        ph=patch_size,
        pw=patch_size,
    )


def sincos_table(num_positions: int, dim: int) -> torch.Tensor:
    """The fixed 1-D sine-cosine position table ``(1, num_positions, dim)`` (Transformer style).

    Column ``2i`` holds ``sin(pos / 10000^(2i/dim))`` and ``2i+1`` the cosine, computed in
    float64 then stored as float32.
    """
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]
    i = torch.arange(dim, dtype=torch.float64)[None, :]
    angle = pos / torch.pow(10000.0, 2 * torch.div(i, 2, rounding_mode="floor") / dim)
    table = torch.where(i.long() % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table[None].float()


# --------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------


class PatchEmbed(nn.Module):
    """Tubelet embedding: Conv3d with kernel = stride = (tubelet, patch, patch)."""

    def __init__(self, cfg: MarlinConfig, dim: int) -> None:
        super().__init__()
        k = (cfg.tubelet_size, cfg.patch_size, cfg.patch_size)
        self.proj = nn.Conv3d(cfg.in_chans, dim, kernel_size=k, stride=k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T, H, W) -> (B, N, dim)``, tokens ordered ``(t, h, w)``."""
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention; qkv without bias, plus learned q and v biases (k bias = 0)."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
        else:
            self.register_parameter("q_bias", None)
            self.register_parameter("v_bias", None)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None
        if self.q_bias is not None:
            bias = torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias)
        q, k, v = rearrange(qkv, "b n (three h d) -> three b h n d", three=3, h=self.heads)
        out = F.scaled_dot_product_attention(q, k, v)  # scale = head_dim ** -0.5
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TokenSplit(NamedTuple):
    """A visible mask as token indices: ``visible`` ``int64 (B, n)`` and ``masked``
    ``int64 (B, N - n)``, each row in ascending token order (:func:`split_tokens`).

    The encoder, decoder and :meth:`MarlinAutoencoder.targets` take either a boolean mask or a
    split; a training step computes the split once and passes it to all three, so the step has
    one device-to-host copy (the count ``n``) and, compiled, no graph break."""

    visible: torch.Tensor
    masked: torch.Tensor


def split_tokens(visible: torch.Tensor, n: int | None = None) -> TokenSplit:
    """``visible`` ``bool (B, N)`` -> :class:`TokenSplit` (ascending indices of the True and the
    False entries of each row).

    Every row must have the same number ``n`` of True entries. Without ``n`` it is counted and
    checked, one device-to-host copy; a caller that knows it (a training step: the masks keep
    exactly ``num_visible(N, mask_ratio)`` tokens) passes ``n`` and the split stays on the
    device. The indices come from a stable sort, not ``nonzero``.
    """
    if not isinstance(visible, torch.Tensor) or visible.dim() != 2 or visible.dtype != torch.bool:
        got = f"{visible.dtype} {tuple(visible.shape)}" if isinstance(visible, torch.Tensor) else type(visible).__name__
        raise ValueError(f"visible must be a bool tensor (B, N), got {got}")
    if n is None:
        counts = visible.sum(1)
        lo, hi = torch.stack([counts.min(), counts.max()]).tolist()
        if lo != hi:
            raise ValueError(f"every clip needs the same number of visible tokens, got {counts.tolist()}")
        n = lo
    elif isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= visible.shape[1]:
        raise ValueError(f"n must be an int in 0..{visible.shape[1]} (visible tokens per clip), got {n!r}")
    order = torch.argsort((~visible).to(torch.uint8), dim=1, stable=True)  # True first, each part ascending
    return TokenSplit(order[:, :n], order[:, n:])


def _describe(value: Any) -> str:
    """``dtype (shape)`` of a tensor or array, else the type name (for error messages)."""
    if isinstance(value, torch.Tensor):
        return f"{value.dtype} {tuple(value.shape)}"
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return f"{type(value).__name__} {value.dtype} {tuple(value.shape)}"
    return type(value).__name__


def _is_index(t: Any) -> bool:
    """Is ``t`` a 2-D integer tensor (token indices ``(B, k)``)?"""
    return isinstance(t, torch.Tensor) and t.dim() == 2 and not t.is_floating_point() and t.dtype != torch.bool


def as_split(
    visible: torch.Tensor | TokenSplit, num_tokens: int | None = None, batch_size: int | None = None
) -> TokenSplit:
    """``visible`` as a :class:`TokenSplit` (a boolean mask is split; a split is checked for shape).

    With ``num_tokens`` and ``batch_size`` (the clips of ``x``) a mask must be ``bool
    (batch_size, num_tokens)`` and a split must hold ``batch_size`` rows: shape checks only, no
    read-back."""
    if isinstance(visible, TokenSplit):
        vis, masked = visible
        if not (_is_index(vis) and _is_index(masked)) or vis.shape[0] != masked.shape[0]:
            raise ValueError(
                f"a TokenSplit holds integer token indices visible (B, n) and masked (B, N - n), got visible "
                f"{_describe(vis)} and masked {_describe(masked)}; make it with split_tokens(visible)"
            )
        if num_tokens is not None and vis.shape[1] + masked.shape[1] != num_tokens:
            raise ValueError(
                f"the token split covers {vis.shape[1]} + {masked.shape[1]} tokens, the model has {num_tokens}"
            )
        if batch_size is not None and vis.shape[0] != batch_size:
            raise ValueError(
                f"the token split has {vis.shape[0]} rows but x has {batch_size} clips; split the mask of this batch "
                "(split_tokens(visible)), one row per clip"
            )
        return visible
    if num_tokens is not None and batch_size is not None and (
        not isinstance(visible, torch.Tensor) or tuple(visible.shape) != (batch_size, num_tokens) or visible.dtype != torch.bool
    ):
        raise ValueError(f"visible must be bool (B, N) = {(batch_size, num_tokens)}, got {_describe(visible)}")
    return split_tokens(visible)


def gather_tokens(tokens: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Rows ``idx (B, k)`` of ``tokens (B, N, D)`` -> ``(B, k, D)``."""
    return tokens.gather(1, idx[..., None].expand(-1, -1, tokens.shape[-1]))


def select_tokens(tokens: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """Rows of ``tokens (B, N, D)`` where ``which (B, N)`` is True, keeping ascending order.

    Every row of ``which`` must have the same number of True entries ``n``; returns
    ``(B, n, D)``. The encoder uses it to keep the visible tokens, the decoder and the
    loss to take the masked ones (``~visible``); with a :class:`TokenSplit` they gather directly.
    """
    return gather_tokens(tokens, split_tokens(which).visible)


def check_clips(x: Any, cfg: MarlinConfig, name: str = "x") -> None:
    """Raise unless ``x`` is a float tensor ``(B, C, T, H, W)`` of the config's size (shape and
    dtype only: no read-back)."""
    want = (cfg.in_chans, cfg.num_frames, cfg.img_size, cfg.img_size)
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch tensor (B, {', '.join(map(str, want))}) of float pixels in [0, 1], got "
            f"{type(x).__name__}; wrap an array with torch.from_numpy, convert uint8 frames (B, T, H, W, 3) "
            "with marlin_lite.video.frames_to_tensor"
        )
    if x.dim() != 5 or tuple(x.shape[1:]) != want:
        raise ValueError(f"expected clips of shape (B, {', '.join(map(str, want))}), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must hold float pixels in [0, 1], got dtype {x.dtype}; for uint8 pixels pass "
            f"{name}.float() / 255 (marlin_lite.video.frames_to_tensor does it for frames)"
        )


class MarlinEncoder(nn.Module):
    def __init__(self, cfg: MarlinConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg, cfg.enc_dim)
        self.register_buffer("pos_embed", sincos_table(cfg.num_tokens, cfg.enc_dim))
        self.blocks = nn.ModuleList(
            Block(cfg.enc_dim, cfg.enc_heads, cfg.mlp_ratio, cfg.qkv_bias, cfg.norm_eps) for _ in range(cfg.enc_depth)
        )
        self.norm = nn.LayerNorm(cfg.enc_dim, eps=cfg.norm_eps)

    def _check_input(self, x: torch.Tensor) -> None:
        check_clips(x, self.cfg)
        weight = self.patch_embed.proj.weight
        # Only on a mismatch is autocast asked (it casts both for the Conv3d, float64 excepted): valid
        # input costs nothing.
        if x.dtype != weight.dtype and (torch.float64 in (x.dtype, weight.dtype) or not torch.is_autocast_enabled(x.device.type)):
            raise TypeError(
                f"x is {x.dtype} but the encoder's weights are {weight.dtype}; pass x.to({weight.dtype}) "
                "or run under torch.autocast"
            )

    def tokens(self, x: torch.Tensor, visible: torch.Tensor | TokenSplit | None = None, *, checked: bool = False) -> torch.Tensor:
        """Transformer output before the final LayerNorm: ``(B, n or N, D)``.

        ``checked=True``: the caller has checked ``x`` and passes a :class:`TokenSplit` it made
        (the autoencoder does, once per call), so neither is checked again here."""
        if checked:
            split = visible
        else:
            self._check_input(x)
            split = as_split(visible, self.cfg.num_tokens, x.shape[0]) if visible is not None else None
        z = self.patch_embed(x) + self.pos_embed.to(x.dtype)
        if split is not None:
            z = gather_tokens(z, split.visible)
        for blk in self.blocks:
            z = blk(z)
        return z

    def forward(self, x: torch.Tensor, visible: torch.Tensor | TokenSplit | None = None, *, checked: bool = False) -> torch.Tensor:
        """Encode ``x (B, 3, T, H, W)``; with ``visible`` (``bool (B, N)`` or a :class:`TokenSplit`)
        only the visible tokens (``checked``: see :meth:`tokens`)."""
        return self.norm(self.tokens(x, visible, checked=checked))

    def extract_features(self, x: torch.Tensor, keep_seq: bool = False) -> torch.Tensor:
        """Features over all tokens: ``(B, N, D)`` if ``keep_seq`` else the mean over tokens
        followed by the final LayerNorm, ``(B, D)`` (the official order)."""
        z = self.tokens(x)
        return self.norm(z) if keep_seq else self.norm(z.mean(1))


class MarlinDecoder(nn.Module):
    def __init__(self, cfg: MarlinConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.dec_dim))
        self.register_buffer("pos_embed", sincos_table(cfg.num_tokens, cfg.dec_dim))
        self.blocks = nn.ModuleList(
            Block(cfg.dec_dim, cfg.dec_heads, cfg.mlp_ratio, cfg.qkv_bias, cfg.norm_eps) for _ in range(cfg.dec_depth)
        )
        self.norm = nn.LayerNorm(cfg.dec_dim, eps=cfg.norm_eps)
        self.head = nn.Linear(cfg.dec_dim, cfg.patch_dim)

    def forward(self, z: torch.Tensor, visible: torch.Tensor | TokenSplit, *, checked: bool = False) -> torch.Tensor:
        """``z (B, n, d)`` decoder-width visible tokens -> ``(B, N - n, P)`` masked predictions
        (``(B, 0, P)`` when the mask hides nothing). ``checked=True``: ``visible`` is a
        :class:`TokenSplit` that matches ``z`` (the autoencoder made both), no check here."""
        B = z.shape[0] if isinstance(z, torch.Tensor) else 0
        if checked:
            split = visible
        else:
            if not isinstance(z, torch.Tensor) or z.dim() != 3:
                raise ValueError(f"z must be the visible tokens (B, n, {self.cfg.dec_dim}) after enc_dec_proj, got {_describe(z)}")
            split = as_split(visible, self.cfg.num_tokens, B)
            if tuple(z.shape[1:]) != (split.visible.shape[1], self.cfg.dec_dim):
                raise ValueError(
                    f"z must be (B, n, dec_dim) = {(B, split.visible.shape[1], self.cfg.dec_dim)} (one row per visible "
                    f"token of the mask, after enc_dec_proj), got {tuple(z.shape)}"
                )
        pos = self.pos_embed.to(z.dtype).expand(B, -1, -1)
        vis = z + gather_tokens(pos, split.visible)
        masked_pos = gather_tokens(pos, split.masked)
        x = torch.cat([vis, self.mask_token.to(z.dtype) + masked_pos], dim=1)
        for blk in self.blocks:
            x = blk(x)
        n_masked = masked_pos.shape[1]
        return self.head(self.norm(x[:, x.shape[1] - n_masked :]))  # not x[:, -0:], which is every token


class Discriminator(nn.Module):
    """Per-patch critic: ``Linear(P, 4d) -> LeakyReLU -> Linear(4d, 1)``."""

    def __init__(self, cfg: MarlinConfig, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.fc1 = nn.Linear(cfg.patch_dim, cfg.dec_dim * 4)
        self.fc2 = nn.Linear(cfg.dec_dim * 4, 1)
        self.negative_slope = negative_slope

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.leaky_relu(self.fc1(patches), self.negative_slope))


#: Initialisations of :class:`MarlinAutoencoder`: ``course`` and ``official`` (see its docstring).
INITS: tuple[str, ...] = ("course", "official")


class MarlinAutoencoder(nn.Module):
    """Encoder + ``enc_dec_proj`` + decoder (+ the discriminator used in pretraining).

    ``init``: ``"course"`` (the default, what every course run used): xavier-uniform weights
    and zero biases for *every* Linear layer (projection and critic included), LayerNorm
    (1, 0), Conv3d at PyTorch's default, mask token from a normal of std 0.02 truncated at
    +-2. ``"official"``: as the official code: xavier-uniform and zero biases only for the
    encoder's and decoder's own Linear layers; ``enc_dec_proj`` and the discriminator keep
    PyTorch's default Linear init; the mask token's normal (std 0.02) is truncated at +-0.02.
    """

    def __init__(self, cfg: MarlinConfig | str = "tiny", *, discriminator: bool = True, init: str = "course") -> None:
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        cfg = get_config(cfg)
        self.cfg = cfg
        self.encoder = MarlinEncoder(cfg)
        self.enc_dec_proj = nn.Linear(cfg.enc_dim, cfg.dec_dim, bias=False)
        self.decoder = MarlinDecoder(cfg)
        self.discriminator = Discriminator(cfg) if discriminator else None
        self.reset_parameters(init)

    def reset_parameters(self, init: str = "course") -> None:
        """Initialise every parameter as ``init`` says (see the class docstring)."""
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if init == "course":
            modules = list(self.modules())
        else:  # the official code initialises inside the encoder and decoder only
            modules = [*self.encoder.modules(), *self.decoder.modules()]
            self.enc_dec_proj.reset_parameters()
            if self.discriminator is not None:
                for m in self.discriminator.modules():
                    if isinstance(m, nn.Linear):
                        m.reset_parameters()
        for m in modules:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if init == "course":
            nn.init.trunc_normal_(self.decoder.mask_token, std=0.02)
        else:
            nn.init.trunc_normal_(self.decoder.mask_token, std=0.02, a=-0.02, b=0.02)

    def forward(self, x: torch.Tensor, visible: torch.Tensor | TokenSplit) -> torch.Tensor:
        """``x (B, 3, T, H, W)``, ``visible`` (``bool (B, N)`` or a :class:`TokenSplit`) ->
        masked-patch predictions ``(B, N - n, P)``. The input is checked here, once: a mask is split
        once for encoder and decoder, which take the split as checked."""
        self.encoder._check_input(x)
        split = as_split(visible, self.cfg.num_tokens, x.shape[0])
        return self.decoder(self.enc_dec_proj(self.encoder(x, split, checked=True)), split, checked=True)

    def targets(self, x: torch.Tensor, visible: torch.Tensor | TokenSplit) -> torch.Tensor:
        """The pixels the decoder must predict: masked patches ``(B, N - n, P)``, ascending order."""
        check_clips(x, self.cfg)
        split = as_split(visible, self.cfg.num_tokens, x.shape[0])
        return gather_tokens(patchify(x, self.cfg.patch_size, self.cfg.tubelet_size), split.masked)

    def reconstruct(self, x: torch.Tensor, visible: torch.Tensor | TokenSplit, predictions: torch.Tensor) -> torch.Tensor:
        """Visible patches from ``x``, masked ones from ``predictions`` -> ``(B, 3, T, H, W)``."""
        c = self.cfg
        check_clips(x, c)
        idx = as_split(visible, c.num_tokens, x.shape[0]).masked
        want = (x.shape[0], idx.shape[1], c.patch_dim)
        if not isinstance(predictions, torch.Tensor) or tuple(predictions.shape) != want:
            raise ValueError(
                f"predictions must be (B, N - n, P) = {want}, one row per masked token (the model's output "
                f"for this mask), got {_describe(predictions)}"
            )
        patches = patchify(x, c.patch_size, c.tubelet_size).clone()
        P = patches.shape[-1]
        patches.scatter_(1, idx[..., None].expand(-1, -1, P), predictions.to(patches.dtype))
        return unpatchify(patches, c.grid, c.patch_size, c.tubelet_size)


def estimate_flops(cfg: MarlinConfig | str, num_visible: int, *, discriminator: bool = False) -> dict[str, int]:
    """Forward FLOPs of one clip through the autoencoder (a multiply-add counts 2).

    Counts the matrix products (patch embedding, attention projections and products, MLPs,
    ``enc_dec_proj``, decoder head, optionally the critic on the masked predictions); layer
    norms, GELU and softmax are left out (under 1 %). A transformer block of width ``D`` over
    ``n`` tokens with MLP ratio ``r`` costs ``2 n D^2 (4 + 2 r) + 4 n^2 D``. A training step
    (forward + backward) costs about three times the forward; :func:`marlin_lite.pretrain.step_flops`
    counts it as each training loop runs it (the critic more than once).
    """
    c = get_config(cfg)
    N, n, P = c.num_tokens, num_visible, c.patch_dim
    if not 0 < n < N:
        raise ValueError(f"num_visible must be in 1..{N - 1}, got {n}")
    block = lambda tokens, dim: 2 * tokens * dim * dim * (4 + 2 * c.mlp_ratio) + 4 * tokens * tokens * dim  # noqa: E731
    out = {
        "patch_embed": 2 * N * P * c.enc_dim,
        "encoder_blocks": int(c.enc_depth * block(n, c.enc_dim)),
        "enc_dec_proj": 2 * n * c.enc_dim * c.dec_dim,
        "decoder_blocks": int(c.dec_depth * block(N, c.dec_dim)),
        "decoder_head": 2 * (N - n) * c.dec_dim * P,
    }
    if discriminator:
        out["discriminator"] = 2 * (N - n) * (P * 4 * c.dec_dim + 4 * c.dec_dim)
    out["total"] = sum(out.values())
    return out


def count_parameters(module: nn.Module, *, include_buffers: bool = False) -> int:
    """Trainable parameters; with ``include_buffers`` also the fixed position tables.

    The official MARLIN figures (22.5 M / 87.4 M / 305.5 M encoder parameters for ViT-S/B/L)
    count the fixed position table too: ``count_parameters(encoder, include_buffers=True)``.
    """
    n = sum(p.numel() for p in module.parameters() if p.requires_grad)
    if include_buffers:
        n += sum(b.numel() for b in module.buffers())
    return n
