"""Which tokens the encoder sees: random, frame, tube and face-guided ("fasking") masks.

A clip ``(B, C, T, H, W)`` is cut into tubelets of ``tubelet x patch x patch`` pixels, giving a
token grid of ``T' x H' x W'`` (``T' = T / tubelet``, ``H' = H / patch``, ``W' = W / patch``)
and ``N = T' H' W'`` tokens ordered ``(t, h, w)``. Every strategy returns a boolean tensor
``visible`` of shape ``(B, N)``, True where the encoder sees the token, with **exactly**
:func:`num_visible` ``(N, mask_ratio)`` True entries in every row (MARLIN: 156 of 1568 at a
mask ratio of 0.9).

Strategies (see :data:`STRATEGIES`):

* ``random``: any ``n`` tokens, uniformly.
* ``frame``: whole tubelet slots (all tokens of a time step), trimmed at random to ``n``.
* ``tube``: the same spatial positions in every slot ("tubes" through time), trimmed to ``n``.
* ``fasking``: MARLIN's face-guided masking as the official code does it: in each slot (read
  from the slot's first frame) patches become visible label by label, background first,
  then skin, then the labels of the five facial components (right brow+eye, left brow+eye,
  nose, mouth, hair) in a random order of components drawn once per clip, until at least
  ``1 - mask_ratio`` of the slot is visible (checked after each label, so the walk can stop
  inside a component); then candidates are dropped at random over the whole clip until
  exactly ``n`` remain. A patch belongs to a label if *any* of its pixels carries it. Net
  effect: the facial components are hidden.
* ``fasking_opp``: the official walk in the opposite order (components first, then skin, then
  background): the encoder sees the face and must imagine the rest.
* ``fasking_paper``: our reading of the paper's prose, which differs from the code: the masked
  budget goes to facial-component tokens first (components in random order), and the rest of
  the budget is spent uniformly on the other tokens; the visible tokens are thus a uniform
  draw from the non-component tokens, not biased towards background.

Everything is batched tensor code (no Python loop over patches or clips) and takes an explicit
``torch.Generator`` for reproducibility.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from marlin_lite import labels as L

STRATEGIES = ("random", "frame", "tube", "fasking", "fasking_opp", "fasking_paper")
FACE_GUIDED = ("fasking", "fasking_opp", "fasking_paper")

#: The five facial components whose order the fasking queue shuffles.
COMPONENTS = ("right_eye", "left_eye", "nose", "mouth", "hair")


@dataclass(frozen=True)
class TokenGrid:
    """The token layout of a clip: ``frames x size x size`` pixels cut into tubelets.

    >>> g = TokenGrid(frames=16, size=224, tubelet=2, patch=16)
    >>> g.shape, g.num_tokens
    ((8, 14, 14), 1568)
    """

    frames: int = 16
    size: int = 224
    tubelet: int = 2
    patch: int = 16

    def __post_init__(self) -> None:
        for name in ("frames", "size", "tubelet", "patch"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"TokenGrid.{name} must be a positive int, got {value!r}")
        if self.frames % self.tubelet:
            raise ValueError(f"frames ({self.frames}) must be a multiple of tubelet ({self.tubelet})")
        if self.size % self.patch:
            raise ValueError(f"size ({self.size}) must be a multiple of patch ({self.patch})")

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(T', H', W')``: tubelet slots, patch rows, patch columns."""
        return (self.frames // self.tubelet, self.size // self.patch, self.size // self.patch)

    @property
    def num_tokens(self) -> int:
        t, h, w = self.shape
        return t * h * w

    @property
    def tokens_per_slot(self) -> int:
        _, h, w = self.shape
        return h * w


def num_visible(num_tokens: int, mask_ratio: float) -> int:
    """How many tokens stay visible: ``floor(num_tokens * (1 - mask_ratio))`` (156 for 1568, 0.9).

    A tiny tolerance absorbs float error (``1 - 0.9`` is ``0.0999...``). A ratio that hides no
    token, or leaves none visible, is a ``ValueError``.
    """
    if not isinstance(mask_ratio, (int, float)) or not 0 < mask_ratio < 1:
        raise ValueError(f"mask_ratio must be strictly between 0 and 1, got {mask_ratio!r}")
    n = math.floor(num_tokens * (1 - mask_ratio) + 1e-6)
    if n >= num_tokens:
        raise ValueError(
            f"mask_ratio {mask_ratio} hides no token out of {num_tokens}; raise the ratio "
            f"(at least {1 / num_tokens:.4g} for this grid)"
        )
    if n < 1:
        raise ValueError(
            f"mask_ratio {mask_ratio} leaves no visible token out of {num_tokens}; lower the ratio "
            f"(at most {1 - 1 / num_tokens:.4f} for this grid)"
        )
    return n


def _keep_exactly(candidates: torch.Tensor, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """Pick ``n`` random True entries per row of ``candidates (B, N)`` -> visible ``(B, N)``.

    Rows must hold at least ``n`` candidates (callers guarantee it).
    """
    # Draw on the CPU (where seeded generators live), then move: same masks on any device.
    scores = torch.rand(candidates.shape, generator=generator).to(candidates.device, non_blocking=True)
    scores = scores.masked_fill(~candidates, -1.0)
    keep = scores.topk(n, dim=1).indices
    visible = torch.zeros_like(candidates)
    visible.scatter_(1, keep, True)
    return visible


def check_label_range(parsing: torch.Tensor, tubelet: int = 1) -> None:
    """Raise unless the first frame of every ``tubelet``-frame slot of ``parsing (B, T, H, W)``
    holds MARLIN's label ids ``0 .. NUM_LABELS - 1`` (one pass; reads a value back to the host,
    so check maps on the CPU before moving them to a GPU, then mask with ``check_labels=False``)."""
    first = parsing[:, ::tubelet]
    if first.numel():
        lo, hi = torch.aminmax(first)  # one cheap pass (about 1 ms for 64 MARLIN clips)
        if int(lo) < 0 or int(hi) >= L.NUM_LABELS:
            raise ValueError(
                f"parsing holds label ids {int(lo)}..{int(hi)}; MARLIN's maps use 0..{L.NUM_LABELS - 1} "
                "(marlin_lite.labels): remap other parsers' ids first"
            )


def _check_grid(grid: TokenGrid) -> None:
    if not isinstance(grid, TokenGrid):
        raise TypeError(
            f"grid must be a marlin_lite.masking.TokenGrid, got {type(grid).__name__}; for a model config "
            "use TokenGrid(cfg.num_frames, cfg.img_size, cfg.tubelet_size, cfg.patch_size)"
        )


def _check_parsing(parsing: torch.Tensor, grid: TokenGrid) -> None:
    """Raise unless ``parsing`` is an integer tensor ``(B, T, H, W)`` matching ``grid`` (shape and
    dtype only; the label range is :func:`check_label_range`)."""
    _check_grid(grid)
    if not isinstance(parsing, torch.Tensor):
        raise TypeError(
            f"parsing must be a torch tensor (B, T, H, W) of integer label ids, got {type(parsing).__name__}; "
            "wrap an array with torch.from_numpy"
        )
    if parsing.dim() != 4:
        raise ValueError(f"parsing must be (B, T, H, W) label ids, got shape {tuple(parsing.shape)}")
    _, T, H, W = parsing.shape
    if (T, H, W) != (grid.frames, grid.size, grid.size):
        raise ValueError(
            f"parsing maps of shape (T, H, W) = {(T, H, W)} do not match the clip grid "
            f"{(grid.frames, grid.size, grid.size)}: resize the maps (nearest neighbour) to the clip"
        )
    if parsing.dtype.is_floating_point or parsing.dtype == torch.bool:
        raise ValueError(f"parsing must hold integer label ids, got dtype {parsing.dtype}")


def label_bitmask(parsing: torch.Tensor, grid: TokenGrid, *, check_labels: bool = True) -> torch.Tensor:
    """Which labels occur in each patch of each slot's first frame.

    Args:
        parsing: ``(B, T, H, W)`` integer label ids (0..10), ``T = grid.frames``,
            ``H = W = grid.size``.

    Returns:
        ``int16 (B, T', H', W')``: bit ``k`` is set when label ``k`` covers at least one pixel
        of the patch. Computed by OR-reducing ``1 << label`` over each patch (in two ``uint8``
        maps, labels 0-7 and 8-10), halving its rows and columns (patch sizes that are powers
        of two take log2 steps).
    """
    _check_parsing(parsing, grid)
    B = parsing.shape[0]
    first = parsing[:, :: grid.tubelet]  # the first frame of each slot
    if check_labels:
        check_label_range(parsing, grid.tubelet)
    # Two bytes per pixel would mean widening every label to int16 first (most of the time at
    # 224x224); instead two uint8 maps, reduced apart and joined per patch. PyTorch defines a
    # shift by the type's width or more as 0, so each map keeps only its own labels.
    one = torch.ones((), dtype=torch.uint8, device=parsing.device)
    x = first if first.dtype == torch.uint8 else first.to(torch.uint8)
    t, h, w = grid.shape
    halves = []
    for shift in (x, x - 8):  # labels 0..7 -> bits 0..7 | labels 8..10 -> bits 0..2 (0..7 wrap to 248..255 -> 0)
        m = torch.bitwise_left_shift(one, shift).reshape(B, t, h, grid.patch, w, grid.patch)
        halves.append(_or_reduce(_or_reduce(m, dim=3), dim=4))
    return halves[0].to(torch.int16) | (halves[1].to(torch.int16) << 8)


def _or_reduce(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Bitwise OR over ``dim`` (removed), by repeated halving."""
    while x.shape[dim] > 1:
        n = x.shape[dim]
        half = n // 2
        a = x.narrow(dim, 0, half)
        b = x.narrow(dim, half, half)
        y = a | b
        if n % 2:  # fold the odd one out into the first entry
            y.narrow(dim, 0, 1).bitwise_or_(x.narrow(dim, n - 1, 1))
        x = y
    return x.squeeze(dim)


def _group_bits(group: tuple[int, ...]) -> int:
    return sum(1 << i for i in group)


def region_membership(parsing: torch.Tensor, grid: TokenGrid) -> dict[str, torch.Tensor]:
    """Per-token region membership: ``{group name: bool (B, N)}`` for :data:`labels.REGION_GROUPS`.

    A token belongs to a region when any pixel of its patch, in the first frame of its slot,
    carries one of the region's labels; a token can belong to several regions.
    """
    bits = label_bitmask(parsing, grid).flatten(1)
    return {name: (bits & _group_bits(g)) != 0 for name, g in L.REGION_GROUPS.items()}


def _fasking(
    parsing: torch.Tensor,
    grid: TokenGrid,
    n: int,
    mask_ratio: float,
    opposite: bool,
    generator: torch.Generator | None,
    check_labels: bool = True,
) -> torch.Tensor:
    """The official walk (``fasking``; ``opposite``: ``fasking_opp``), batched.

    Per slot, a queue of *labels* becomes visible one label at a time: background, skin, then
    the labels of the five components in a random order of components (each component's labels
    in :data:`labels.REGION_GROUPS` order, e.g. brow before eye); ``opposite`` reverses the
    queue's parts (components, skin, background). The walk stops at the first label after which
    at least ``1 - mask_ratio`` of the slot is visible, so it can stop inside a component (a
    brow without its eye). The order of components is drawn once per clip and shared by its
    slots, as the official code draws one queue per clip. Uniforms of shape ``(B, T', 5)`` are
    drawn and slot 0's order is used, so the random stream is the one of one draw per slot.
    """
    B = parsing.shape[0]
    t = grid.shape[0]
    P = grid.tokens_per_slot
    bits = label_bitmask(parsing, grid, check_labels=check_labels).reshape(B, t, P)
    dev = bits.device
    width = max(len(L.REGION_GROUPS[c]) for c in COMPONENTS)
    # (5, width) single-label bits per component, 0 where a component has fewer labels (a step
    # that adds nothing, so it is never the first step with enough visible).
    table = torch.tensor([[1 << lab for lab in L.REGION_GROUPS[c]] + [0] * (width - len(L.REGION_GROUPS[c])) for c in COMPONENTS],
                         dtype=torch.int16)
    order = torch.rand(B, t, len(COMPONENTS), generator=generator).argsort(-1)[:, 0]  # (B, 5): slot 0's order, per clip
    label_bits = table[order].reshape(B, 1, -1, 1).to(dev, non_blocking=True)  # (B, 1, 5 * width, 1) in walk order
    member = (bits[:, :, None, :] & label_bits) != 0  # (B, t, 5 * width, P)
    bg = ((bits & _group_bits(L.REGION_GROUPS["background"])) != 0)[:, :, None]
    skin = ((bits & _group_bits(L.REGION_GROUPS["skin"])) != 0)[:, :, None]
    queue = [member, skin, bg] if opposite else [bg, skin, member]
    steps = torch.cat(queue, dim=2)  # (B, t, S, P) in walk order, one label per step
    union = steps.cummax(dim=2).values  # visible after each step of the walk
    enough = union.sum(-1) >= (1 - mask_ratio) * P - 1e-6  # (B, t, S): "stop when 10 % is visible"
    # The whole queue covers every patch, so the last step is always enough.
    enough[..., -1] = True
    stop = enough.int().argmax(-1)  # first step with enough visible
    candidates = union.gather(2, stop[..., None, None].expand(-1, -1, 1, P)).squeeze(2)
    return _keep_exactly(candidates.reshape(B, -1), n, generator)


def _fasking_paper(
    parsing: torch.Tensor, grid: TokenGrid, n: int, generator: torch.Generator | None, check_labels: bool = True
) -> torch.Tensor:
    B = parsing.shape[0]
    N = grid.num_tokens
    bits = label_bitmask(parsing, grid, check_labels=check_labels).reshape(B, N)
    comp_bits = torch.tensor([_group_bits(L.REGION_GROUPS[c]) for c in COMPONENTS], dtype=torch.int16, device=bits.device)
    member = (bits[:, None, :] & comp_bits[None, :, None]) != 0  # (B, 5, N)
    # Rank tokens for masking: components first (in a random order of components), then the
    # rest; ties broken at random. The n tokens ranked last stay visible.
    order = torch.rand(B, len(COMPONENTS), generator=generator).argsort(-1).to(bits.device, non_blocking=True)
    rank_of_component = order.argsort(-1).float()  # (B, 5): position of each component in the queue
    big = float(len(COMPONENTS))
    first_component = torch.where(member, rank_of_component[..., None], torch.full_like(rank_of_component[..., None], big))
    priority = first_component.min(1).values  # (B, N): 0..4 for components, 5 for the rest
    tie = torch.rand(B, N, generator=generator).to(bits.device, non_blocking=True)  # CPU draw, as everywhere
    keep = (priority + tie).topk(n, dim=1).indices
    visible = torch.zeros(B, N, dtype=torch.bool, device=bits.device)
    visible.scatter_(1, keep, True)
    return visible


def make_visible_mask(
    strategy: str,
    batch_size: int,
    grid: TokenGrid,
    mask_ratio: float = 0.9,
    *,
    parsing: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    check_labels: bool = True,
) -> torch.Tensor:
    """A ``bool (batch_size, grid.num_tokens)`` tensor, True where the encoder sees the token.

    Args:
        strategy: one of :data:`STRATEGIES`.
        batch_size: number of clips ``B``.
        grid: the clip's token layout.
        mask_ratio: fraction of tokens hidden, in (0, 1); exactly
            ``num_visible(N, mask_ratio)`` tokens stay visible per clip.
        parsing: ``(B, T, H, W)`` integer label ids, required by the face-guided strategies.
        generator: a CPU ``torch.Generator`` for reproducible masks. The result lives on
            ``parsing``'s device (CPU without parsing); the same seed gives the same mask on
            any device.
        check_labels: check that ``parsing`` holds ids 0..10 (:func:`check_label_range`). On a
            GPU the check reads a value back, a host sync: training checks the maps on the CPU
            and passes ``False`` here, so a step queues its GPU work without waiting.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown masking strategy {strategy!r}; choose one of {STRATEGIES}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    _check_grid(grid)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
            "for a seed use torch.Generator().manual_seed(seed)"
        )
    N = grid.num_tokens
    n = num_visible(N, mask_ratio)
    t, h, w = grid.shape
    if strategy in FACE_GUIDED:
        if parsing is None:
            raise ValueError(f"strategy {strategy!r} needs parsing maps: pass parsing=(B, T, H, W) label ids")
        _check_parsing(parsing, grid)  # its shape before its batch size: a map without B is not "B = T clips"
        if parsing.shape[0] != batch_size:
            raise ValueError(f"parsing has {parsing.shape[0]} clips but batch_size is {batch_size}")
        if strategy == "fasking_paper":
            return _fasking_paper(parsing, grid, n, generator, check_labels)
        return _fasking(parsing, grid, n, mask_ratio, strategy == "fasking_opp", generator, check_labels)
    if strategy == "random":
        return _keep_exactly(torch.ones(batch_size, N, dtype=torch.bool), n, generator)
    if strategy == "frame":
        slots = math.ceil(n / (h * w))
        pick = torch.rand(batch_size, t, generator=generator).argsort(-1)[:, :slots]
        chosen = torch.zeros(batch_size, t, dtype=torch.bool).scatter_(1, pick, True)
        candidates = chosen[:, :, None].expand(-1, -1, h * w).reshape(batch_size, N)
        return _keep_exactly(candidates, n, generator)
    # tube: the same spatial positions in every slot.
    positions = math.ceil(n / t)
    pick = torch.rand(batch_size, h * w, generator=generator).argsort(-1)[:, :positions]
    chosen = torch.zeros(batch_size, h * w, dtype=torch.bool).scatter_(1, pick, True)
    candidates = chosen[:, None, :].expand(-1, t, -1).reshape(batch_size, N)
    return _keep_exactly(candidates, n, generator)
