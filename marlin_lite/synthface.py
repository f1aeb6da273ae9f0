"""SynthFace: procedural talking-face videos whose ground truth is known exactly.

No real facial-video data set can ship with a course that runs on a laptop, so SynthFace
draws faces from a few dozen analytic shapes (ellipses in a face-centred coordinate frame),
vectorised over all frames at once with NumPy. Every clip comes with what a real data set
would have to annotate by hand, and more:

* RGB frames ``uint8 (T, H, W, 3)`` at any size (64x64 for lessons, 224x224 for GPU runs);
* per-frame parsing maps ``uint8 (T, H, W)`` with MARLIN's 11 LaPa label ids
  (:mod:`marlin_lite.labels`) and 22 named landmarks ``float32 (T, 22, 2)`` in pixels (x, y);
* identity and appearance attributes (multi-label, :data:`ATTRIBUTES`);
* an expression (:data:`EXPRESSIONS`) with onset / apex / offset dynamics, blinks, head-pose
  jitter, lighting changes and a textured, slowly panning background;
* speech: a 16 kHz waveform of syllables (voiced harmonics shaped by vowel formants, plus
  consonant bursts) whose amplitude envelope and vowel drive the mouth frame by frame, with
  the option to shift the audio by ``k`` frames against the video (a lip-sync label);
* manipulations for deepfake detection (:data:`MANIPULATIONS`): a face swap with a blending
  seam and colour mismatch, an expression reenactment with temporal flicker, and a mouth
  re-synthesis whose lip sync drifts; each with a per-pixel mask of what was changed.

Everything is deterministic: an identity is a function of ``(world_seed, identity)``, a clip
of ``(world_seed, identity, clip_seed)`` and its options. Geometry lives in normalised
coordinates, so the same clip renders at any size.

Example::

    clip = generate_clip(identity=3, clip_seed=0, size=64, num_frames=16)
    clip.frames.shape, clip.parsing.shape, clip.audio.shape   # (16,64,64,3) (16,64,64) (10240,)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from marlin_lite import labels as L

# --------------------------------------------------------------------------------------
# Vocabularies
# --------------------------------------------------------------------------------------

#: Binary appearance attributes (CelebA / CelebV-HQ style names), in label-vector order.
ATTRIBUTES: tuple[str, ...] = (
    "black_hair",
    "brown_hair",
    "blond_hair",
    "gray_hair",
    "red_hair",
    "bald",
    "bangs",
    "long_hair",
    "eyeglasses",
    "sunglasses",
    "beard",
    "mustache",
    "wearing_hat",
    "wearing_earrings",
    "wearing_lipstick",
    "rosy_cheeks",
    "bushy_eyebrows",
    "big_nose",
    "big_lips",
    "pale_skin",
    "dark_skin",
    "round_face",
    "long_face",
    "blue_eyes",
)

#: Expression classes; ``neutral`` has zero intensity throughout the clip.
EXPRESSIONS: tuple[str, ...] = ("neutral", "happy", "sad", "surprised", "angry", "disgusted")

#: How a clip is framed: ``scene`` (the head moves in a wider shot, the background belongs to
#: the person) or ``face`` (MARLIN's input: a square crop that follows the face, which fills the
#: frame; the background is drawn per clip).
FRAMINGS: tuple[str, ...] = ("scene", "face")

#: How far expressions go: ``subtle`` (the original SynthFace: about 2 % of a scene-framed
#: clip's pixels change between expressions) or ``marked`` (about twice the geometry, plus the
#: local marks of real expressions: cheeks raised and eyes narrowed in a smile, a furrow between
#: lowered brows in anger, a wrinkled nose in disgust, forehead lines in surprise, a drawn-down
#: mouth and raised inner brows in sadness).
EXPRESSION_STYLES: tuple[str, ...] = ("subtle", "marked")

#: Deepfake manipulation kinds; ``none`` is a real clip.
MANIPULATIONS: tuple[str, ...] = ("none", "face_swap", "reenactment", "mouth_resynthesis")

#: Names of the 22 landmarks, "right" being the person's right (image left).
LANDMARK_NAMES: tuple[str, ...] = (
    "right_eye_outer",
    "right_eye_inner",
    "left_eye_inner",
    "left_eye_outer",
    "right_eye_centre",
    "left_eye_centre",
    "right_brow_outer",
    "right_brow_inner",
    "left_brow_inner",
    "left_brow_outer",
    "nose_bridge",
    "nose_tip",
    "mouth_right",
    "mouth_left",
    "upper_lip_top",
    "upper_lip_bottom",
    "lower_lip_top",
    "lower_lip_bottom",
    "chin",
    "face_right",
    "face_left",
    "forehead",
)

HAIR_COLOURS = ("black", "brown", "blond", "gray", "red")
HAIR_STYLES = ("bald", "short", "long")
FACE_SHAPES = ("oval", "round", "long", "square")
EYE_COLOURS = ("brown", "blue", "green", "gray")
BACKGROUNDS = ("stripes", "blobs", "checker", "gradient")
VOWELS = ("a", "e", "i", "o", "u")

_HAIR_RGB = {
    "black": (0.09, 0.08, 0.08),
    "brown": (0.36, 0.21, 0.11),
    "blond": (0.86, 0.71, 0.42),
    "gray": (0.63, 0.63, 0.65),
    "red": (0.66, 0.26, 0.10),
}
_EYE_RGB = {
    "brown": (0.36, 0.20, 0.10),
    "blue": (0.24, 0.46, 0.82),
    "green": (0.30, 0.56, 0.30),
    "gray": (0.52, 0.56, 0.60),
}
_SKIN_TONES = np.array(
    [
        (0.97, 0.85, 0.76),
        (0.91, 0.73, 0.59),
        (0.78, 0.58, 0.43),
        (0.60, 0.42, 0.29),
        (0.42, 0.28, 0.19),
    ],
    dtype=np.float32,
)
_FACE_SHAPE_GEOMETRY = {  # half-width, half-height, superellipse exponent
    "oval": (0.74, 1.00, 2.0),
    "round": (0.84, 0.94, 2.0),
    "long": (0.67, 1.08, 2.0),
    "square": (0.76, 0.98, 3.2),
}
# Vowel formants F1, F2, F3 (Hz, adult averages) and how far each opens / widens the mouth.
_FORMANTS = np.array(
    [(730, 1090, 2440), (530, 1840, 2480), (270, 2290, 3010), (570, 840, 2410), (300, 870, 2240)],
    dtype=np.float32,
)
_VOWEL_OPEN = np.array([1.0, 0.65, 0.35, 0.75, 0.45], dtype=np.float32)
_VOWEL_WIDTH = np.array([1.0, 1.1, 1.2, 0.75, 0.65], dtype=np.float32)

# Expression targets at full intensity: smile curvature, extra mouth opening, mouth width
# factor, brow raise, brow tilt (inner end up), eye opening factor.
_EXPRESSION_TARGETS = {
    "neutral": (0.0, 0.0, 1.0, 0.0, 0.0, 1.0),
    "happy": (1.3, 0.12, 1.18, 0.02, 0.0, 0.72),
    "sad": (-0.9, 0.0, 0.92, 0.03, 0.45, 0.85),
    "surprised": (0.0, 0.55, 0.78, 0.13, 0.1, 1.35),
    "angry": (-0.4, 0.05, 0.88, -0.07, -0.5, 0.88),
    "disgusted": (-0.7, 0.08, 0.95, -0.05, -0.25, 0.65),
}
#: The same six channels for ``expressions="marked"``: about twice as far from neutral.
_EXPRESSION_TARGETS_MARKED = {
    "neutral": (0.0, 0.0, 1.0, 0.0, 0.0, 1.0),
    "happy": (2.6, 0.2, 1.32, 0.03, 0.0, 0.5),
    "sad": (-2.0, 0.0, 0.85, 0.05, 1.0, 0.75),
    "surprised": (0.0, 0.95, 0.66, 0.24, 0.15, 1.6),
    "angry": (-0.6, 0.0, 0.8, -0.13, -1.1, 0.72),
    "disgusted": (-1.5, 0.16, 0.9, -0.09, -0.5, 0.5),
}
# Local marks of the marked style (how dark, at full intensity): cheek raise (a lighter apple
# of the cheek and a crease under each eye), brow furrow, nose wrinkle, forehead lines.
_EXPRESSION_MARKS = {
    "neutral": (0.0, 0.0, 0.0, 0.0),
    "happy": (1.0, 0.0, 0.0, 0.0),
    "sad": (0.0, 0.5, 0.0, 0.0),
    "surprised": (0.0, 0.0, 0.0, 1.0),
    "angry": (0.0, 1.0, 0.3, 0.0),
    "disgusted": (0.3, 0.4, 1.0, 0.0),
}

# Materials: the renderer paints a material id per pixel, then colours it from a palette.
(
    M_BG,
    M_CLOTHES,
    M_NECK,
    M_HAIR,
    M_EAR,
    M_EARRING,
    M_SKIN,
    M_BLUSH,
    M_BEARD,
    M_NOSE,
    M_NOSTRIL,
    M_SCLERA,
    M_IRIS,
    M_PUPIL,
    M_LASH,
    M_BROW,
    M_UPPER_LIP,
    M_LOWER_LIP,
    M_INNER_MOUTH,
    M_TEETH,
    M_FRAME,
    M_LENS,
    M_HAT,
) = range(23)
_NUM_MATERIALS = 23


# --------------------------------------------------------------------------------------
# Identities
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """A synthetic person: fixed appearance and voice. Build with :func:`sample_identity`."""

    identity: int
    world_seed: int
    skin_tone: float  # 0 (pale) .. 1 (dark)
    face_shape: str
    face_width: float
    hair_colour: str
    hair_style: str
    bangs: bool
    eye_colour: str
    eye_spacing: float
    eye_size: float
    brow_thickness: float
    nose_width: float
    nose_length: float
    mouth_width: float
    lip_thickness: float
    glasses: str  # "none" | "eyeglasses" | "sunglasses"
    beard: bool
    mustache: bool
    hat: bool
    earrings: bool
    lipstick: bool
    rosy_cheeks: bool
    background: str
    f0: float  # voice pitch in Hz
    formant_scale: float
    speaking_rate: float  # syllables per second
    motion_amount: float
    palette: np.ndarray = field(repr=False, compare=False)  # float32 (23, 3)
    background_colours: np.ndarray = field(repr=False, compare=False)  # float32 (2, 3)

    @property
    def skin_tone_bin(self) -> int:
        """Skin tone in 5 bins, 0 (palest) to 4 (darkest)."""
        return int(min(4, self.skin_tone * 5))

    @property
    def attributes(self) -> dict[str, int]:
        """The binary attributes of :data:`ATTRIBUTES` as a dict name -> 0/1."""
        bald = self.hair_style == "bald"
        a = {f"{c}_hair": int(not bald and self.hair_colour == c) for c in HAIR_COLOURS}
        a.update(
            bald=int(bald),
            bangs=int(self.bangs and not bald),
            long_hair=int(self.hair_style == "long"),
            eyeglasses=int(self.glasses == "eyeglasses"),
            sunglasses=int(self.glasses == "sunglasses"),
            beard=int(self.beard),
            mustache=int(self.mustache),
            wearing_hat=int(self.hat),
            wearing_earrings=int(self.earrings),
            wearing_lipstick=int(self.lipstick),
            rosy_cheeks=int(self.rosy_cheeks),
            bushy_eyebrows=int(self.brow_thickness > 1.25),
            big_nose=int(self.nose_width * self.nose_length > 1.3),
            big_lips=int(self.lip_thickness > 1.25),
            pale_skin=int(self.skin_tone_bin == 0),
            dark_skin=int(self.skin_tone_bin >= 3),
            round_face=int(self.face_shape == "round"),
            long_face=int(self.face_shape == "long"),
            blue_eyes=int(self.eye_colour == "blue"),
        )
        return {name: a[name] for name in ATTRIBUTES}

    @property
    def attribute_vector(self) -> np.ndarray:
        """``float32 (len(ATTRIBUTES),)`` of 0/1, in :data:`ATTRIBUTES` order."""
        return np.array(list(self.attributes.values()), dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        """JSON-friendly appearance summary (categorical fields as names)."""
        return {
            "identity": self.identity,
            "hair_colour": self.hair_colour,
            "hair_style": self.hair_style,
            "face_shape": self.face_shape,
            "eye_colour": self.eye_colour,
            "skin_tone_bin": self.skin_tone_bin,
            "glasses": self.glasses,
            "background": self.background,
            "voice_f0_hz": round(self.f0, 1),
        }


def _check_int(name: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def sample_identity(identity: int, world_seed: int = 0) -> Identity:
    """The synthetic person number ``identity`` of world ``world_seed`` (deterministic)."""
    identity = _check_int("identity", identity)
    world_seed = _check_int("world_seed", world_seed)
    rng = np.random.default_rng([world_seed, identity, 0x5F1D])
    pick = lambda options, p=None: str(options[rng.choice(len(options), p=p)])  # noqa: E731
    hair_style = pick(HAIR_STYLES, p=[0.12, 0.55, 0.33])
    hair_colour = pick(HAIR_COLOURS, p=[0.3, 0.3, 0.2, 0.1, 0.1])
    skin_tone = float(rng.uniform(0, 1))
    beard = bool(rng.random() < 0.25)
    ident = dict(
        identity=identity,
        world_seed=world_seed,
        skin_tone=skin_tone,
        face_shape=pick(FACE_SHAPES, p=[0.4, 0.2, 0.2, 0.2]),
        face_width=float(rng.uniform(0.93, 1.07)),
        hair_colour=hair_colour,
        hair_style=hair_style,
        bangs=bool(hair_style != "bald" and rng.random() < 0.3),
        eye_colour=pick(EYE_COLOURS, p=[0.45, 0.25, 0.15, 0.15]),
        eye_spacing=float(rng.uniform(0.88, 1.12)),
        eye_size=float(rng.uniform(0.85, 1.2)),
        brow_thickness=float(rng.uniform(0.7, 1.6)),
        nose_width=float(rng.uniform(0.8, 1.35)),
        nose_length=float(rng.uniform(0.85, 1.25)),
        mouth_width=float(rng.uniform(0.85, 1.15)),
        lip_thickness=float(rng.uniform(0.75, 1.55)),
        glasses=pick(("none", "eyeglasses", "sunglasses"), p=[0.65, 0.25, 0.10]),
        beard=beard,
        mustache=bool(rng.random() < (0.7 if beard else 0.12)),
        hat=bool(rng.random() < 0.18),
        earrings=bool(rng.random() < 0.25),
        lipstick=bool(rng.random() < 0.25),
        rosy_cheeks=bool(rng.random() < 0.25),
        background=pick(BACKGROUNDS),
        f0=float(rng.uniform(85, 240)),
        formant_scale=float(rng.uniform(0.9, 1.18)),
        speaking_rate=float(rng.uniform(3.0, 5.5)),
        motion_amount=float(rng.uniform(0.5, 1.5)),
    )
    # Colours, with a little per-person jitter.
    tones = _SKIN_TONES
    pos = skin_tone * (len(tones) - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, len(tones) - 1)
    skin = tones[lo] * (1 - (pos - lo)) + tones[hi] * (pos - lo)
    skin = skin * rng.uniform(0.97, 1.03, 3)
    hair = np.array(_HAIR_RGB[hair_colour]) * rng.uniform(0.9, 1.1, 3)
    facial_hair = hair if hair_style != "bald" else np.array(_HAIR_RGB["brown"])
    pal = np.zeros((_NUM_MATERIALS, 3), dtype=np.float64)
    pal[M_CLOTHES] = rng.uniform(0.1, 0.9, 3)
    pal[M_NECK] = skin * 0.82
    pal[M_HAIR] = hair
    pal[M_EAR] = skin * 0.9
    pal[M_EARRING] = (0.88, 0.72, 0.22)
    pal[M_SKIN] = skin
    pal[M_BLUSH] = skin * (1.04, 0.78, 0.78)
    pal[M_BEARD] = facial_hair * 0.8
    pal[M_NOSE] = skin * (0.95, 0.9, 0.9)
    pal[M_NOSTRIL] = skin * 0.45
    pal[M_SCLERA] = (0.95, 0.95, 0.93)
    pal[M_IRIS] = np.array(_EYE_RGB[ident["eye_colour"]]) * rng.uniform(0.9, 1.1, 3)
    pal[M_PUPIL] = (0.04, 0.04, 0.05)
    pal[M_LASH] = (0.12, 0.08, 0.07)
    pal[M_BROW] = facial_hair * 0.7
    lip = (0.78, 0.12, 0.22) if ident["lipstick"] else skin * (0.92, 0.6, 0.6)
    pal[M_UPPER_LIP] = np.array(lip) * 0.92
    pal[M_LOWER_LIP] = lip
    pal[M_INNER_MOUTH] = (0.32, 0.07, 0.09)
    pal[M_TEETH] = (0.95, 0.93, 0.87)
    pal[M_FRAME] = (0.1, 0.1, 0.12)
    pal[M_LENS] = (0.07, 0.08, 0.11)
    pal[M_HAT] = rng.uniform(0.1, 0.9, 3)
    bg = rng.uniform(0.15, 0.95, (2, 3))
    return Identity(
        **ident,
        palette=np.clip(pal, 0, 1).astype(np.float32),
        background_colours=bg.astype(np.float32),
    )


# --------------------------------------------------------------------------------------
# Speech: syllables -> waveform, envelope and mouth drive
# --------------------------------------------------------------------------------------


@dataclass
class Speech:
    """A synthetic utterance on a time axis ``t0 + arange(S) / sample_rate`` (seconds).

    ``audio``, ``envelope`` (0..1 loudness) and ``mouth_open`` / ``mouth_width`` (what the
    vowels ask of the lips) are all ``float32 (S,)``.
    """

    audio: np.ndarray
    envelope: np.ndarray
    mouth_open: np.ndarray
    mouth_width: np.ndarray
    sample_rate: int
    t0: float
    syllables: list[tuple[float, float, str]]  # (start s, duration s, vowel)

    def window(self, start_s: float, num_samples: int) -> np.ndarray:
        """``num_samples`` audio samples from time ``start_s`` (zeros outside the track)."""
        i0 = int(round((start_s - self.t0) * self.sample_rate))
        out = np.zeros(num_samples, dtype=np.float32)
        a, b = max(i0, 0), min(i0 + num_samples, len(self.audio))
        if b > a:
            out[a - i0 : b - i0] = self.audio[a:b]
        return out

    def per_frame(self, signal: np.ndarray, num_frames: int, fps: float, start_s: float = 0.0) -> np.ndarray:
        """Average a per-sample ``signal`` over each video frame's time span -> ``(num_frames,)``."""
        edges = start_s + np.arange(num_frames + 1) / fps
        idx = np.clip(np.round((edges - self.t0) * self.sample_rate).astype(np.int64), 0, len(signal))
        cs = np.concatenate([[0.0], np.cumsum(signal, dtype=np.float64)])
        width = np.maximum(idx[1:] - idx[:-1], 1)
        return ((cs[idx[1:]] - cs[idx[:-1]]) / width).astype(np.float32)


def _hash_noise(index: np.ndarray, seed: int) -> np.ndarray:
    """Uniform noise in [-1, 1) that is a pure function of the integer sample index.

    A SplitMix64-style integer hash: the noise at a given time is the same however long the
    synthesised track is and wherever it starts, on every platform.
    """
    x = (index.astype(np.uint64) + np.uint64(seed)) * np.uint64(0x9E3779B97F4A7C15)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return ((x >> np.uint64(40)).astype(np.float32) / np.float32(2**23) - 1).astype(np.float32)


def synthesize_speech(
    identity: Identity,
    duration: float,
    *,
    rng: np.random.Generator,
    sample_rate: int = 16000,
    t0: float = 0.0,
    speaking: bool = True,
) -> Speech:
    """Synthesise ``duration`` seconds of syllable-like speech in ``identity``'s voice.

    Voiced sound is a sum of harmonics of a gliding pitch ``f0`` weighted by the current
    vowel's formant resonances; syllable onsets may carry a short noise burst (a consonant).
    The loudness envelope rises and falls within each syllable, with pauses between words.

    The utterance is a function of time, not of the window asked for: the syllable plan
    starts at a fixed origin (2 s before time 0, or earlier when ``t0`` asks for it), the
    pitch phase is integrated analytically and the noise is hashed from the sample index,
    so a longer or shifted window contains exactly the same sound where they overlap.
    """
    if duration <= 0:
        raise ValueError(f"duration must be > 0 seconds, got {duration}")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be >= 8000 Hz for speech, got {sample_rate}")
    n = int(round(duration * sample_rate))
    i0 = int(round(t0 * sample_rate))
    index = np.arange(i0, i0 + n, dtype=np.int64)
    t64 = index / sample_rate
    # Syllable plan from a fixed origin.
    jitter_phase = float(rng.uniform(0, 2 * np.pi))
    noise_seed = int(rng.integers(2**31))
    starts, durs, vowels, amps, bursts = [], [], [], [], []
    s = min(-2.0, t0 - 0.5) + float(rng.uniform(0.0, 0.12))
    while s < t0 + duration:
        if rng.random() < 0.18:
            s += float(rng.uniform(0.12, 0.35))  # a pause between words
        d = float(rng.uniform(0.7, 1.3)) / identity.speaking_rate
        starts.append(s)
        durs.append(d)
        vowels.append(int(rng.integers(len(VOWELS))))
        amps.append(float(rng.uniform(0.55, 1.0)))
        bursts.append(bool(rng.random() < 0.6))
        s += d + float(rng.uniform(0.0, 0.04))
    starts_a = np.array(starts, dtype=np.float64)
    durs_a = np.array(durs, dtype=np.float64)
    vowels_a = np.array(vowels, dtype=np.int64)
    amps_a = np.array(amps, dtype=np.float32)
    k = np.clip(np.searchsorted(starts_a, t64, side="right") - 1, 0, len(starts_a) - 1)
    x = ((t64 - starts_a[k]) / durs_a[k]).astype(np.float32)
    inside = (x >= 0) & (x < 1)
    env = np.where(inside, np.clip(np.sin(np.pi * np.clip(x, 0, 1)), 0, 1) ** 1.3 * amps_a[k], 0).astype(np.float32)
    if not speaking:
        env[:] = 0
    vowel = vowels_a[k]
    # Voiced part: harmonics of a gliding f0 = F (1 + 0.06 sin(w t + p)), whose phase
    # 2 pi F (t - 0.06 cos(w t + p) / w) is exact at any t. Integer multiples of the phase
    # only need it modulo 2 pi, so float32 is then precise enough.
    w = 2 * np.pi * 0.7
    phase = 2 * np.pi * identity.f0 * (t64 - 0.06 * np.cos(w * t64 + jitter_phase) / w)
    phase = np.mod(phase, 2 * np.pi).astype(np.float32)
    n_harm = int(min(16, 3800 // (identity.f0 * 1.15)))
    harm = np.arange(1, n_harm + 1, dtype=np.float32)
    freqs = harm[None, :] * identity.f0  # (1, K)
    formants = _FORMANTS[:, None, :] * identity.formant_scale  # (V, 1, 3)
    bandwidth = np.array([90.0, 110.0, 170.0], dtype=np.float32)
    gains = (1.0 / (1.0 + ((freqs[..., None] - formants) / bandwidth) ** 2)).sum(-1)  # (V, K)
    gains = (gains / np.sqrt(harm) / gains.sum(-1, keepdims=True)).astype(np.float32)
    voiced = np.zeros(n, dtype=np.float32)
    g = gains[vowel]  # (S, K)
    for j in range(n_harm):  # K sines of length S: a short loop, vectorised inside
        voiced += g[:, j] * np.sin(np.float32(j + 1) * phase)
    # Consonant bursts: high-passed noise in the first 45 ms of some syllables.
    noise = _hash_noise(np.arange(i0 - 1, i0 + n, dtype=np.int64), noise_seed)
    burst_on = np.array(bursts, dtype=bool)[k]
    burst = np.where(inside & (x * durs_a[k] < 0.045) & burst_on & speaking, amps_a[k], 0).astype(np.float32)
    fric = (noise[1:] - noise[:-1]) * 0.15 * burst
    audio = np.clip((voiced * env + fric) * 1.6 + 0.003 * noise[1:], -1, 1).astype(np.float32)
    open_drive = (env * _VOWEL_OPEN[vowel]).astype(np.float32)
    width_drive = (1 + (_VOWEL_WIDTH[vowel] - 1) * np.minimum(1, env * 2)).astype(np.float32)
    syllables = [(float(a), float(b), VOWELS[c]) for a, b, c in zip(starts, durs, vowels)]
    return Speech(audio, env, open_drive, width_drive, sample_rate, t0, syllables)


# --------------------------------------------------------------------------------------
# Motion: everything that changes frame by frame
# --------------------------------------------------------------------------------------


@dataclass
class Motion:
    """Per-frame controls of a clip; every array is ``float32 (T,)`` unless noted."""

    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    tx: np.ndarray
    ty: np.ndarray
    scale: np.ndarray
    gaze: np.ndarray  # (T, 2)
    eye_open: np.ndarray  # blinks included, before the expression's factor
    blink: np.ndarray  # bool (T,)
    expression: str
    intensity: np.ndarray  # expression intensity 0..1
    phase: np.ndarray  # int8 (T,): 0 neutral, 1 onset, 2 apex, 3 offset
    mouth_open: np.ndarray  # from speech, 0..1
    mouth_width: np.ndarray  # from speech, ~0.65..1.2
    speech_envelope: np.ndarray
    light: np.ndarray  # (T, 3) unit light direction
    gain: np.ndarray  # global exposure
    bg_offset: np.ndarray  # (T, 2) background pan, fraction of the image


def _smooth_wander(rng: np.random.Generator, t: np.ndarray, amplitude: float) -> np.ndarray:
    """A smooth random trajectory: two sinusoids of random frequency (0.1-0.7 Hz) and phase."""
    f = rng.uniform(0.1, 0.7, 2)
    p = rng.uniform(0, 2 * np.pi, 2)
    w = rng.uniform(0.4, 1.0, 2)
    return (amplitude * (w[0] * np.sin(2 * np.pi * f[0] * t + p[0]) + 0.5 * w[1] * np.sin(2 * np.pi * f[1] * t + p[1])) / 1.5).astype(np.float32)


def expression_dynamics(num_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Intensity ``float32 (T,)`` and phase ``int8 (T,)`` of an expression over a clip.

    Neutral until the onset, a smooth rise to the apex, a hold, then a partial release.
    """
    T = num_frames
    on = rng.uniform(0.0, 0.3) * T
    rise = max(rng.uniform(0.15, 0.3) * T, 1.0)
    hold = rng.uniform(0.25, 0.45) * T
    release_to = rng.uniform(0.4, 0.8)
    f = np.arange(T, dtype=np.float32)
    a = np.clip((f - on) / rise, 0, 1)
    up = a * a * (3 - 2 * a)  # smoothstep
    r = np.clip((f - on - rise - hold) / max(rise, 1.0), 0, 1)
    down = 1 - (1 - release_to) * (r * r * (3 - 2 * r))
    intensity = (up * down).astype(np.float32)
    phase = np.zeros(T, dtype=np.int8)
    phase[f >= on] = 1
    phase[f >= on + rise] = 2
    phase[f >= on + rise + hold] = 3
    return intensity, phase


def sample_motion(
    identity: Identity,
    num_frames: int,
    fps: float,
    rng: np.random.Generator,
    expression: str,
    speech: Speech,
    *,
    speech_start: float = 0.0,
) -> Motion:
    """Head pose, blinks, expression, lighting and the speech-driven mouth for a clip."""
    T = num_frames
    t = np.arange(T, dtype=np.float32) / fps
    m = identity.motion_amount
    yaw = _smooth_wander(rng, t, 0.22 * m)
    pitch = _smooth_wander(rng, t, 0.10 * m)
    roll = _smooth_wander(rng, t, 0.07 * m)
    tx = _smooth_wander(rng, t, 0.025 * m) + np.float32(rng.uniform(-0.02, 0.02))
    ty = _smooth_wander(rng, t, 0.02 * m) + np.float32(0.06 + rng.uniform(-0.02, 0.02))
    scale = 1 + _smooth_wander(rng, t, 0.04 * m) + np.float32(rng.uniform(-0.05, 0.05))
    gaze = np.stack([_smooth_wander(rng, t, 0.35), _smooth_wander(rng, t, 0.2)], axis=1)
    # Blinks: a Poisson process (~0.2-0.6 per second), each ~0.2 s long.
    eye_open = np.ones(T, dtype=np.float32)
    rate = rng.uniform(0.2, 0.6)
    n_blinks = rng.poisson(rate * T / fps + 0.3)
    for c in rng.uniform(-0.1, T / fps + 0.1, n_blinks):
        half = rng.uniform(0.06, 0.1)
        closed = np.clip(1 - np.abs(t - c) / half, 0, 1)
        eye_open = np.minimum(eye_open, 1 - 0.95 * closed)
    if expression == "neutral":
        intensity, phase = np.zeros(T, np.float32), np.zeros(T, np.int8)
    else:
        intensity, phase = expression_dynamics(T, rng)
    # Lighting: a slowly moving light direction and exposure, with one smoothed step change.
    ang = rng.uniform(0, 2 * np.pi) + _smooth_wander(rng, t, 0.6)
    elev = rng.uniform(0.25, 0.6)
    light = np.stack([np.cos(ang) * elev, np.sin(ang) * elev * 0.6 - 0.2, np.ones(T)], 1)
    light = (light / np.linalg.norm(light, axis=1, keepdims=True)).astype(np.float32)
    step_t = rng.uniform(0, T / fps)
    step = rng.uniform(-0.15, 0.15) / (1 + np.exp(-(t - step_t) / 0.08))
    gain = (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t) + step + rng.uniform(-0.08, 0.08)).astype(np.float32)
    pan = rng.uniform(-0.04, 0.04, 2) * t[:, None] + rng.uniform(-0.02, 0.02, 2)
    return Motion(
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        tx=tx.astype(np.float32),
        ty=ty.astype(np.float32),
        scale=scale.astype(np.float32),
        gaze=gaze.astype(np.float32),
        eye_open=eye_open,
        blink=eye_open < 0.5,
        expression=expression,
        intensity=intensity,
        phase=phase,
        mouth_open=speech.per_frame(speech.mouth_open, T, fps, speech_start),
        mouth_width=speech.per_frame(speech.mouth_width, T, fps, speech_start),
        speech_envelope=speech.per_frame(speech.envelope, T, fps, speech_start),
        light=light,
        gain=gain,
        bg_offset=pan.astype(np.float32),
    )


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


#: Face framing: the face's half-height as a fraction of the frame (the scene framing's is 0.36),
#: the face coordinate at the crop's centre (0 is between the eyes and the nose tip, 1 the chin),
#: and how much of the head's motion in the frame a face-following crop leaves.
FACE_CROP_HALF_HEIGHT = 0.5
FACE_CROP_CENTRE_V = 0.2
FACE_CROP_RESIDUAL = 0.25


def face_crop_motion(motion: Motion) -> Motion:
    """The motion as a face-following square crop sees it (``framing="face"``).

    Like MARLIN's per-frame face crop, the crop is centred on the face and sized to it: the
    clip's mean position and scale are removed, a quarter of the frame-to-frame motion is
    left (detector jitter and a face that turns), and the face's half-height becomes
    :data:`FACE_CROP_HALF_HEIGHT` of the frame (the square crop of side about 2 face
    half-heights: brows to chin fill the frame, with a little hair and background at the
    corners). Pose, expression, speech, blinks and lighting are unchanged.
    """
    zoom = FACE_CROP_HALF_HEIGHT / 0.36
    r = FACE_CROP_RESIDUAL
    scale = (1 + (motion.scale - motion.scale.mean()) * r) * zoom
    tx = (motion.tx - motion.tx.mean()) * r
    ty = (motion.ty - motion.ty.mean()) * r - FACE_CROP_CENTRE_V * 0.36 * scale
    return Motion(**{**motion.__dict__, "tx": tx.astype(np.float32), "ty": ty.astype(np.float32), "scale": scale.astype(np.float32)})


def mouth_opening(motion: Motion) -> np.ndarray:
    """How far the rendered mouth opens in each frame, ``float32 (T,)`` in [0, 1].

    Speech asks for ``0.85 * motion.mouth_open``; some expressions (surprise, happiness)
    open the mouth further, in proportion to their intensity.
    """
    extra = _EXPRESSION_TARGETS[motion.expression][1] * motion.intensity
    return np.clip(motion.mouth_open * 0.85 + extra, 0, 1).astype(np.float32)


def _background_texture(colours: np.ndarray, kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A ``float32 (2S, 2S, 3)`` texture (S = size) that frames pan across."""
    n = 2 * size
    g = np.arange(n, dtype=np.float32) / size  # image widths
    X, Y = g[None, :], g[:, None]
    theta = rng.uniform(0, np.pi)
    freq = rng.uniform(2.0, 5.0)
    if kind == "stripes":
        w = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (np.cos(theta) * X + np.sin(theta) * Y))
    elif kind == "checker":
        w = 0.5 + 0.5 * np.tanh(4 * np.sin(2 * np.pi * freq * X) * np.sin(2 * np.pi * freq * Y))
    elif kind == "blobs":
        w = np.zeros((n, n), np.float32)
        for _ in range(4):
            f = rng.uniform(1.0, 3.0, 2)
            p = rng.uniform(0, 2 * np.pi, 2)
            w = w + np.sin(2 * np.pi * f[0] * X + p[0]) * np.sin(2 * np.pi * f[1] * Y + p[1])
        w = 0.5 + 0.25 * w
    else:  # gradient with gentle waves
        w = 0.5 + 0.35 * (np.cos(theta) * (X - 1) + np.sin(theta) * (Y - 1)) + 0.08 * np.sin(2 * np.pi * freq * X)
    w = np.clip(w, 0, 1).astype(np.float32)[..., None]
    c0, c1 = colours
    return (c0 * (1 - w) + c1 * w).astype(np.float32)


def _ellipse(u, v, cu, cv, ru, rv):
    """Normalised squared radius: < 1 inside the axis-aligned ellipse."""
    du = (u - cu) / ru
    dv = (v - cv) / rv
    return du * du + dv * dv


def _blur3(img: np.ndarray) -> np.ndarray:
    """Separable [1, 2, 1] / 4 blur over axes 1 and 2 of ``(T, H, W, C)`` (edges replicated)."""
    p = np.concatenate([img[:, :1], img, img[:, -1:]], axis=1)
    img = (p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]) * 0.25
    p = np.concatenate([img[:, :, :1], img, img[:, :, -1:]], axis=2)
    return (p[:, :, :-2] + 2 * p[:, :, 1:-1] + p[:, :, 2:]) * 0.25


def _expression_marks(rgb, mat, expression, k, u, v, at_u, at_v, eye_centres, cy, brow_up) -> np.ndarray:
    """The marked style's local marks on the skin, each scaled by the intensity ``k (T, 1, 1)``.

    Cheek raise (lighter cheek apples, a crease under each eye), a furrow of two short
    vertical lines between the brows, wrinkles across the nose bridge, and forehead lines
    just above the brows. They darken (or lighten) skin pixels only, so hair, glasses and
    beards cover them as they would on a real face.
    """
    cheek, furrow, nose, forehead = (w * k for w in _EXPRESSION_MARKS[expression])
    dark = np.zeros(mat.shape, np.float32)
    light = np.zeros(mat.shape, np.float32)
    for (ecu, ecv), side in zip(eye_centres, (-1, 1)):
        light += cheek * (_ellipse(u, v, ecu + side * 0.04, ecv + 0.3, 0.17, 0.11) < 1) * 0.15
        ring = _ellipse(u, v, ecu, ecv + 0.03, 0.2 * cy, 0.14)
        dark += cheek * ((np.abs(ring - 1) < 0.3) & (v > ecv + 0.06)) * 0.3
    for side in (-1, 1):
        line = (np.abs(u - at_u(side * 0.065, 0.3)) < 0.02) & (v > at_v(-0.44, 0.3)) & (v < at_v(-0.2, 0.3))
        dark += furrow * line * 0.55
    for dv in (-0.03, 0.05):
        dark += nose * ((np.abs(v - at_v(dv, 0.45)) < 0.018) & (np.abs(u - at_u(0.0, 0.45)) < 0.12)) * 0.5
    for dv in (0.1, 0.19):
        above = at_v(-0.34, 0.3) - brow_up - dv
        dark += forehead * ((np.abs(v - above) < 0.018) & (np.abs(u - at_u(0.0, 0.3)) < 0.3)) * 0.45
    skin = np.isin(mat, (M_SKIN, M_NOSE, M_BLUSH))[..., None]
    factor = 1 - np.clip(dark, 0, 0.8)[..., None] + np.clip(light, 0, 0.4)[..., None]
    return np.where(skin, rgb * factor, rgb)


@dataclass
class _Render:
    rgb: np.ndarray  # float32 (T, H, W, 3) in [0, 1]
    parsing: np.ndarray  # uint8 (T, H, W)
    landmarks: np.ndarray  # float32 (T, K, 2)
    u: np.ndarray  # face coordinates of every pixel, float32 (T, H, W)
    v: np.ndarray
    mouth_centre: tuple[np.ndarray, np.ndarray]  # (cu, cv) each (T, 1, 1)


def _render(identity: Identity, motion: Motion, size: int, background: np.ndarray, marked: bool = False) -> _Render:
    """Paint a clip: geometry in face coordinates, vectorised over (T, H, W).

    ``marked`` selects the marked expression style (:data:`EXPRESSION_STYLES`).
    """
    T = len(motion.yaw)
    col = lambda a: np.asarray(a, dtype=np.float32).reshape(T, 1, 1)  # noqa: E731
    g = ((np.arange(size, dtype=np.float32) + 0.5) / size - 0.5)
    X, Y = g[None, None, :], g[None, :, None]
    s = col(0.36 * motion.scale)  # face half-height, as a fraction of the frame
    cr, sr = col(np.cos(motion.roll)), col(np.sin(motion.roll))
    dx, dy = X - col(motion.tx), Y - col(motion.ty)
    u = (cr * dx + sr * dy) / s  # face coordinates: v points down, face half-height = 1
    v = (cr * dy - sr * dx) / s
    cy, sy = col(np.cos(motion.yaw)), col(np.sin(motion.yaw))
    cp, sp = col(np.cos(motion.pitch)), col(np.sin(motion.pitch))
    at_u = lambda u0, depth: u0 * cy + depth * sy  # noqa: E731  (2.5-D: deeper parts move more)
    at_v = lambda v0, depth: v0 * cp + depth * sp  # noqa: E731

    ident = identity
    e = (_EXPRESSION_TARGETS_MARKED if marked else _EXPRESSION_TARGETS)[motion.expression]
    k = col(motion.intensity)
    # Targets blend from neutral by the intensity: additive ones from 0, factors from 1.
    smile, extra_open, brow_up, brow_tilt = (x * k for x in (e[0], e[1], e[3], e[4]))
    width_f, eye_f = (1 + (x - 1) * k for x in (e[2], e[5]))

    fw, fh, power = _FACE_SHAPE_GEOMETRY[ident.face_shape]
    fw = fw * ident.face_width
    face_cu = at_u(0.0, -0.08)
    mat = np.zeros((T, size, size), dtype=np.uint8)
    lab = np.zeros((T, size, size), dtype=np.uint8)

    def paint(region, material, label=None):
        mat[region] = material
        if label is not None:
            lab[region] = label

    # Clothes and neck (background label, as in LaPa).
    paint(_ellipse(u, v, face_cu * 0.5, 2.05, 1.55, 0.95) < 1, M_CLOTHES, L.BACKGROUND)
    paint((np.abs(u - face_cu * 0.6) < 0.42 * fw / 0.74) & (v > 0.45) & (v < 1.5), M_NECK, L.BACKGROUND)
    if ident.hair_style == "long":
        paint((_ellipse(u, v, face_cu, 0.3, fw * 1.42, 1.42) < 1) & (v < 1.5), M_HAIR, L.HAIR)
    cap = _ellipse(u, v, face_cu, -0.2, fw * 1.13, 0.98) < 1
    if ident.hair_style == "bald":
        paint(cap & (v < 0.0), M_SKIN, L.SKIN)
    else:
        paint(cap & (v < 0.15), M_HAIR, L.HAIR)
    ear_v = at_v(-0.05, -0.3)
    for side in (-1, 1):
        ear_u = at_u(side * (fw + 0.02), -0.3)
        paint(_ellipse(u, v, ear_u, ear_v, 0.11, 0.2) < 1, M_EAR, L.SKIN)
        if ident.earrings:
            paint(_ellipse(u, v, ear_u, ear_v + 0.24, 0.045, 0.045) < 1, M_EARRING)
    # The face: an egg-shaped (super)ellipse, narrower towards the chin.
    du = (u - face_cu) / (fw * cy * (1 - 0.16 * np.clip(v, 0, 1)))
    dv = v / fh
    face_q = du * du + dv * dv if power == 2 else np.abs(du) ** power + np.abs(dv) ** power
    face = face_q < 1
    paint(face, M_SKIN, L.SKIN)
    if ident.hair_style != "bald":
        un = (u - face_cu) / fw
        if ident.bangs:
            hairline = -0.4 + 0.035 * np.sin(25 * u) + 0.12 * un * un
        else:
            hairline = -0.64 + 0.3 * un * un
        paint(face & (v < hairline), M_HAIR, L.HAIR)
    if ident.rosy_cheeks:
        for side in (-1, 1):
            paint(face & (_ellipse(u, v, at_u(side * 0.45, 0.3), at_v(0.22, 0.3), 0.15, 0.1) < 1), M_BLUSH, L.SKIN)

    # Mouth geometry (needed by the beard too). vm bends with the smile: corners go up.
    mcu, mcv = at_u(0.0, 0.4), at_v(0.5, 0.35)
    open_ = col(mouth_opening(motion))
    mru = 0.27 * ident.mouth_width * col(motion.mouth_width) * width_f * cy
    rv_in = 0.012 + 0.17 * open_
    up_t, low_t = 0.045 * ident.lip_thickness, 0.06 * ident.lip_thickness
    mdu = u - mcu
    vm = (v - mcv) + smile * mdu * mdu
    rv_out = rv_in + np.where(vm < 0, up_t, low_t)
    outer = (mdu / mru) ** 2 + (vm / rv_out) ** 2 < 1
    if ident.beard:
        beard = face & (v > 0.18 + 0.12 * ((u - face_cu) / fw) ** 2) & ~((mdu / (mru + 0.06)) ** 2 + (vm / (rv_out + 0.05)) ** 2 < 1)
        paint(beard, M_BEARD, L.SKIN)
    if ident.mustache:
        mv = vm + rv_in + up_t + 0.04
        paint((mdu / (mru * 1.05)) ** 2 + (mv / 0.045) ** 2 < 1, M_BEARD, L.SKIN)
    # Nose.
    nw, nl = ident.nose_width, ident.nose_length
    paint(_ellipse(u, v, at_u(0.0, 0.5), at_v(0.1, 0.3), 0.085 * nw * cy, 0.17 * nl) < 1, M_NOSE, L.NOSE)
    for side in (-1, 1):
        paint(_ellipse(u, v, at_u(side * 0.045 * nw, 0.55), at_v(0.1 + 0.14 * nl, 0.3), 0.028 * nw, 0.017) < 1, M_NOSTRIL, L.NOSE)
    # Eyes and brows; side -1 is the person's right (image left).
    eye_v0 = -0.15
    eye_open = np.clip(col(motion.eye_open) * eye_f, 0.03, 1.4)
    gaze_u = col(motion.gaze[:, 0]) * 0.06
    gaze_v = col(motion.gaze[:, 1]) * 0.03
    eye_centres = []
    for side, eye_label, brow_label in ((-1, L.RIGHT_EYE, L.RIGHT_BROW), (1, L.LEFT_EYE, L.LEFT_BROW)):
        ecu = at_u(side * 0.33 * ident.eye_spacing, 0.25)
        ecv = at_v(eye_v0, 0.25)
        eye_centres.append((ecu, ecv))
        eru = 0.15 * ident.eye_size * cy
        erv = 0.07 * ident.eye_size * eye_open
        q = _ellipse(u, v, ecu, ecv, eru, erv)
        lash = (q < 1.0) | ((_ellipse(u, v, ecu, ecv - 0.012, eru * 1.06, erv + 0.03) < 1) & (v < ecv))
        paint(lash, M_LASH, eye_label)
        sclera = q < 1
        paint(sclera, M_SCLERA, eye_label)
        ir = 0.055 * ident.eye_size
        paint(sclera & (_ellipse(u, v, ecu + gaze_u, ecv + gaze_v, ir, ir) < 1), M_IRIS)
        paint(sclera & (_ellipse(u, v, ecu + gaze_u, ecv + gaze_v, ir * 0.45, ir * 0.45) < 1), M_PUPIL)
        # Brow: an arched band, its inner end raised by `brow_tilt`.
        bcu = at_u(side * 0.33 * ident.eye_spacing, 0.3)
        bcv = at_v(-0.34 - brow_up, 0.3)
        bdu = u - bcu
        bdv = (v - bcv) - 0.9 * bdu * bdu - side * -1 * brow_tilt * bdu * 0.5
        thick = 0.032 * ident.brow_thickness
        paint((bdu / (0.18 * cy)) ** 2 + (bdv / thick) ** 2 < 1, M_BROW, brow_label)
    # Lips and mouth.
    paint(outer & (vm < 0), M_UPPER_LIP, L.UPPER_LIP)
    paint(outer & (vm >= 0), M_LOWER_LIP, L.LOWER_LIP)
    inner = (mdu / (mru * 0.86)) ** 2 + (vm / rv_in) ** 2 < 1
    paint(inner, M_INNER_MOUTH, L.INNER_MOUTH)
    paint(inner & (vm < -rv_in * 0.3) & (open_ > 0.12), M_TEETH)
    # Accessories: they change colours, not the parsing labels (except the hat).
    if ident.glasses != "none":
        for ecu, ecv in eye_centres:
            q = _ellipse(u, v, ecu, ecv, 0.21 * cy, 0.15)
            paint((q < 1) & (q > 0.72), M_FRAME)
            if ident.glasses == "sunglasses":
                paint(q <= 0.72, M_LENS)
        (lu, lv), (ru_, _) = eye_centres
        paint((np.abs(v - lv + 0.02) < 0.018) & (u > lu + 0.2 * cy) & (u < ru_ - 0.2 * cy), M_FRAME)
    if ident.hat:
        crown = (_ellipse(u, v, face_cu, -0.62, fw * 1.2, 0.62) < 1) & (v < -0.5)
        brim = (np.abs(u - face_cu) < fw * 1.38) & (v > -0.62) & (v < -0.5)
        paint(crown | brim, M_HAT, L.BACKGROUND)

    # Colour: palette, hair strands, lighting, background, a soft anti-alias blur.
    rgb = identity.palette[mat]
    strands = (mat == M_HAIR) | (mat == M_BEARD)
    if strands.any():
        tex = 1 + 0.14 * np.sin(55 * u + 4 * np.sin(6 * v))
        rgb = np.where(strands[..., None], rgb * tex[..., None], rgb)
    nu = (u - face_cu) / (fw * 1.25)
    nv = v / 1.3
    nz = np.sqrt(np.clip(1 - nu * nu - nv * nv, 0.05, 1))
    lt = motion.light
    lambert = np.clip(nu * col(lt[:, 0]) + nv * col(lt[:, 1]) + nz * col(lt[:, 2]), 0, 1)
    shade = 0.5 + 0.55 * lambert
    is_bg = mat == M_BG
    rgb = rgb * np.where(is_bg, 1, shade)[..., None]
    if marked and motion.expression != "neutral":
        rgb = _expression_marks(rgb, mat, motion.expression, k, u, v, at_u, at_v, eye_centres, cy, brow_up)
    # Background: pan a window across the texture.
    off = np.round(motion.bg_offset * size).astype(np.int64) + size // 2
    off = np.clip(off, 0, size)
    bg = np.stack([background[oy : oy + size, ox : ox + size] for ox, oy in off])
    rgb = np.where(is_bg[..., None], bg, rgb)
    rgb = _blur3(rgb * col(motion.gain)[..., None])
    np.clip(rgb, 0, 1, out=rgb)

    # Landmarks in face coordinates -> pixels.
    (rcu, rcv), (lcu, lcv) = eye_centres
    eru = 0.15 * ident.eye_size * cy
    bcv = at_v(-0.34 - brow_up, 0.3) - 0.0
    pts_u = [
        rcu - eru, rcu + eru, lcu - eru, lcu + eru, rcu, lcu,
        at_u(-0.33 * ident.eye_spacing, 0.3) - 0.17 * cy, at_u(-0.33 * ident.eye_spacing, 0.3) + 0.17 * cy,
        at_u(0.33 * ident.eye_spacing, 0.3) - 0.17 * cy, at_u(0.33 * ident.eye_spacing, 0.3) + 0.17 * cy,
        at_u(0.0, 0.35), at_u(0.0, 0.55),
        mcu - mru, mcu + mru, mcu, mcu, mcu, mcu,
        at_u(0.0, 0.1), face_cu - fw * cy, face_cu + fw * cy, at_u(0.0, 0.1),
    ]
    corner_v = mcv - smile * mru * mru
    pts_v = [
        rcv, rcv, lcv, lcv, rcv, lcv,
        bcv + 0.9 * (0.17 * cy) ** 2, bcv, bcv, bcv + 0.9 * (0.17 * cy) ** 2,
        at_v(-0.12, 0.35), at_v(0.1 + 0.16 * nl, 0.55),
        corner_v, corner_v, mcv - rv_in - up_t, mcv - rv_in, mcv + rv_in, mcv + rv_in + low_t,
        at_v(fh * 0.98, 0.1), at_v(0.0, 0.0) + 0 * cy, at_v(0.0, 0.0) + 0 * cy, at_v(-0.62, 0.1),
    ]
    pu = np.concatenate([np.broadcast_to(p, (T, 1, 1)).reshape(T, 1) for p in pts_u], 1)
    pv = np.concatenate([np.broadcast_to(p, (T, 1, 1)).reshape(T, 1) for p in pts_v], 1)
    s2, cr2, sr2 = s.reshape(T, 1), cr.reshape(T, 1), sr.reshape(T, 1)
    px = motion.tx[:, None] + s2 * (cr2 * pu - sr2 * pv)
    py = motion.ty[:, None] + s2 * (sr2 * pu + cr2 * pv)
    landmarks = (np.stack([px, py], -1) + 0.5) * size - 0.5
    return _Render(rgb.astype(np.float32), lab, landmarks.astype(np.float32), u, v, (mcu, mcv))


# --------------------------------------------------------------------------------------
# Clips
# --------------------------------------------------------------------------------------


@dataclass
class SynthClip:
    """One generated clip and its ground truth.

    Attributes:
        frames: ``uint8 (T, H, W, 3)`` RGB.
        parsing: ``uint8 (T, H, W)`` label ids of :mod:`marlin_lite.labels`.
        landmarks: ``float32 (T, 22, 2)`` pixel (x, y), named by :data:`LANDMARK_NAMES`.
        audio: ``float32 (S,)`` mono in [-1, 1], ``S = round(T / fps * sample_rate)``.
        sample_rate, fps: audio rate in Hz, video frame rate.
        labels: JSON-friendly clip labels (identity, attributes, expression, sync offset,
            manipulation, ...).
        per_frame: ``float32``/``bool`` arrays of shape ``(T,)`` describing the performance
            (of the real clip, for fakes): ``mouth_open`` (as rendered, speech and expression),
            ``mouth_width``, ``speech_envelope``, ``eye_open``, ``blink``,
            ``expression_intensity``, ``expression_phase``, ``yaw``, ``pitch``, ``roll``,
            ``light_gain``.
        fake_mask: ``float32 (T, H, W)`` in [0, 1], how much of each pixel a manipulation
            replaced (``None`` for real clips).
    """

    frames: np.ndarray
    parsing: np.ndarray
    landmarks: np.ndarray
    audio: np.ndarray
    sample_rate: int
    fps: float
    labels: dict[str, Any]
    per_frame: dict[str, np.ndarray]
    fake_mask: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


def _soft_region(q: np.ndarray, feather: float) -> np.ndarray:
    """Alpha in [0, 1]: 1 well inside (q < 1 - feather), fading to 0 at q = 1."""
    return np.clip((1 - q) / feather, 0, 1).astype(np.float32)


def generate_clip(
    identity: int = 0,
    clip_seed: int = 0,
    *,
    world_seed: int = 0,
    size: int = 64,
    num_frames: int = 16,
    fps: float = 25.0,
    sample_rate: int = 16000,
    expression: str | None = None,
    speaking: bool = True,
    av_offset: int = 0,
    manipulation: str = "none",
    donor_identity: int | None = None,
    framing: str = "scene",
    expressions: str = "subtle",
) -> SynthClip:
    """Render one talking-face clip with its ground truth (deterministic in all arguments).

    Args:
        identity: which synthetic person (any int >= 0).
        clip_seed: which clip of that person (pose, blinks, speech, expression timing).
        world_seed: the "world" of identities; the same identity id in another world is
            another person.
        size: frames are ``size x size`` pixels (>= 16).
        num_frames: ``T`` (>= 1).
        fps: video frame rate (the audio covers ``T / fps`` seconds).
        sample_rate: audio rate in Hz (>= 8000).
        expression: one of :data:`EXPRESSIONS`, or ``None`` to draw one from the clip seed.
        speaking: ``False`` gives a silent clip with a closed, expression-only mouth.
        av_offset: shift the audio by this many frames against the video (positive = the
            audio lags the picture); 0 is in sync. The label records it.
        manipulation: one of :data:`MANIPULATIONS` (``"none"`` = real).
        donor_identity: the other person of a ``"face_swap"`` (default: drawn from the
            clip seed, never equal to ``identity``).
        framing: ``"scene"`` (a wider shot; the head moves in the frame and the background
            belongs to the person) or ``"face"`` (MARLIN's input: a crop that tracks the face,
            which fills the frame, with a background drawn per clip); see :data:`FRAMINGS`.
        expressions: ``"subtle"`` or ``"marked"`` (larger, with local marks); see
            :data:`EXPRESSION_STYLES`.
    """
    _check_int("clip_seed", clip_seed)
    size = _check_int("size", size, 16)
    num_frames = _check_int("num_frames", num_frames, 1)
    _check_int("av_offset", abs(av_offset) if isinstance(av_offset, (int, np.integer)) else av_offset)
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    if expression is not None and expression not in EXPRESSIONS:
        raise ValueError(f"unknown expression {expression!r}; choose one of {EXPRESSIONS}")
    if manipulation not in MANIPULATIONS:
        raise ValueError(f"unknown manipulation {manipulation!r}; choose one of {MANIPULATIONS}")
    if framing not in FRAMINGS:
        raise ValueError(f"unknown framing {framing!r}; choose one of {FRAMINGS}")
    if expressions not in EXPRESSION_STYLES:
        raise ValueError(f"unknown expressions {expressions!r}; choose one of {EXPRESSION_STYLES}")
    marked = expressions == "marked"
    ident = sample_identity(identity, world_seed)
    # Independent streams, so that a fake or a shifted-audio version of a clip keeps the
    # same speech, motion and background as the real clip with the same seeds.
    streams = np.random.SeedSequence([world_seed, identity, clip_seed, 0xC11B]).spawn(4)
    rng_speech, rng_motion, rng_bg, rng_fake = (np.random.default_rng(s) for s in streams)
    if expression is None:
        expression = EXPRESSIONS[int(rng_motion.integers(len(EXPRESSIONS)))]
    T = num_frames
    duration = T / fps
    # The speech track covers audio shifts and (for mouth re-synthesis) lip drift on both sides.
    margin = (abs(av_offset) + (7 if manipulation == "mouth_resynthesis" else 1)) / fps
    speech = synthesize_speech(ident, duration + 2 * margin, rng=rng_speech, sample_rate=sample_rate, t0=-margin, speaking=speaking)
    motion = sample_motion(ident, T, fps, rng_motion, expression, speech)
    background_kind, background_colours = ident.background, ident.background_colours
    if framing == "face":
        motion = face_crop_motion(motion)
        rng_scene = np.random.default_rng([world_seed, identity, clip_seed, 0xF4CE])
        background_kind = BACKGROUNDS[int(rng_scene.integers(len(BACKGROUNDS)))]
        background_colours = rng_scene.uniform(0.15, 0.95, (2, 3)).astype(np.float32)
    background = _background_texture(background_colours, background_kind, size, rng_bg)
    fake_rng = rng_fake
    render = _render(ident, motion, size, background, marked)
    rgb, parsing = render.rgb, render.parsing
    n_samples = int(round(duration * sample_rate))
    audio = speech.window(-av_offset / fps, n_samples)
    fake_mask = None
    extra: dict[str, Any] = {}
    if manipulation != "none":
        u, v = render.u, render.v
        if manipulation == "face_swap":
            if donor_identity is None:
                donor_identity = int(identity + 1 + fake_rng.integers(1, 1000))
            if donor_identity == identity:
                raise ValueError("donor_identity must differ from identity for a face swap")
            donor = sample_identity(donor_identity, world_seed)
            other = _render(donor, motion, size, background, marked)
            alpha = _soft_region(_ellipse(u, v, 0.0, 0.08, 0.62, 0.8), 0.3)
            # Colour mismatch: the donor's skin is not colour-corrected to the target's.
            donor_rgb = other.rgb * fake_rng.uniform(0.9, 1.1, 3).astype(np.float32)
            seam = 1 - 0.22 * (4 * alpha * (1 - alpha))
            extra["donor_identity"] = donor_identity
        elif manipulation == "reenactment":
            driver_expr = [e for e in EXPRESSIONS if e != expression][int(fake_rng.integers(len(EXPRESSIONS) - 1))]
            driver = sample_motion(ident, T, fps, fake_rng, driver_expr, speech)
            for name in ("yaw", "pitch", "roll", "tx", "ty", "scale", "light", "gain", "bg_offset"):
                setattr(driver, name, getattr(motion, name))
            other = _render(ident, driver, size, background, marked)
            alpha = _soft_region(_ellipse(u, v, 0.0, 0.1, 0.6, 0.78), 0.3)
            # Temporal flicker: per-frame gain jitter and a one-pixel wobble of the pasted face.
            flicker = (1 + fake_rng.normal(0, 0.06, (T, 1, 1, 1))).astype(np.float32)
            shifts = fake_rng.integers(-1, 2, (T, 2))
            donor_rgb = np.stack([np.roll(f, tuple(sh), axis=(0, 1)) for f, sh in zip(other.rgb * flicker, shifts)])
            other.parsing = np.stack([np.roll(p, tuple(sh), axis=(0, 1)) for p, sh in zip(other.parsing, shifts)])
            seam = np.float32(1)
            extra["driver_expression"] = driver_expr
        else:  # mouth_resynthesis: the mouth follows the speech with a growing lag (drift)
            drift = float(fake_rng.uniform(3, 6)) * (1 if fake_rng.random() < 0.5 else -1)
            lag = drift * np.arange(T, dtype=np.float32) / max(T - 1, 1)
            driven = Motion(**{**motion.__dict__})
            t_src = (np.arange(T) - lag) / fps
            driven.mouth_open = np.array([speech.per_frame(speech.mouth_open, 1, fps, ts)[0] for ts in t_src], np.float32)
            driven.mouth_width = np.array([speech.per_frame(speech.mouth_width, 1, fps, ts)[0] for ts in t_src], np.float32)
            other = _render(ident, driven, size, background, marked)
            mcu, mcv = render.mouth_centre
            alpha = _soft_region(_ellipse(u, v, mcu, mcv, 0.42, 0.3), 0.35)
            donor_rgb = _blur3(_blur3(other.rgb))  # re-synthesised mouths are softer
            seam = np.float32(1)
            extra["drift_frames"] = round(drift, 3)
        a = alpha[..., None]
        rgb = np.clip(rgb * (1 - a) + donor_rgb * a * (seam[..., None] if np.ndim(seam) else seam), 0, 1)
        parsing = np.where(alpha > 0.5, other.parsing, parsing).astype(np.uint8)
        fake_mask = alpha
    frames = (rgb * 255 + 0.5).astype(np.uint8)
    labels: dict[str, Any] = {
        "identity": identity,
        "world_seed": world_seed,
        "clip_seed": clip_seed,
        "attributes": [n for n, on in ident.attributes.items() if on],
        "attribute_vector": [int(x) for x in ident.attribute_vector],
        "appearance": ident.describe(),
        "expression": expression,
        "expression_id": EXPRESSIONS.index(expression),
        "speaking": speaking,
        "av_offset": int(av_offset),
        "manipulation": manipulation,
        "manipulation_id": MANIPULATIONS.index(manipulation),
        "fake": int(manipulation != "none"),
        "num_frames": T,
        "size": size,
        "fps": float(fps),
        "sample_rate": sample_rate,
        **extra,
    }
    if framing != "scene" or expressions != "subtle":
        # recorded when either differs from the default, so the default clips' labels (and the
        # committed data_samples/) stay as they were
        labels.update(framing=framing, expressions=expressions)
    per_frame = {
        "mouth_open": mouth_opening(motion),
        "mouth_width": motion.mouth_width,
        "speech_envelope": motion.speech_envelope,
        "eye_open": motion.eye_open,
        "blink": motion.blink,
        "expression_intensity": motion.intensity,
        "expression_phase": motion.phase,
        "yaw": motion.yaw,
        "pitch": motion.pitch,
        "roll": motion.roll,
        "light_gain": motion.gain,
    }
    return SynthClip(frames, parsing, render.landmarks, audio, sample_rate, float(fps), labels, per_frame, fake_mask)
