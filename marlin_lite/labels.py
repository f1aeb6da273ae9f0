"""Face-parsing labels shared by SynthFace, real-face parsing and face-guided masking.

MARLIN parses every frame into the 11 classes of the LaPa data set. "Right" and "left"
are the *person's* right and left, so the right eye appears on the image's left side.

>>> LABEL_NAMES[4]
'right_eye'
"""

from __future__ import annotations

BACKGROUND, SKIN = 0, 1
RIGHT_BROW, LEFT_BROW = 2, 3
RIGHT_EYE, LEFT_EYE = 4, 5
NOSE = 6
UPPER_LIP, INNER_MOUTH, LOWER_LIP = 7, 8, 9
HAIR = 10

LABEL_NAMES: tuple[str, ...] = (
    "background",
    "skin",
    "right_brow",
    "left_brow",
    "right_eye",
    "left_eye",
    "nose",
    "upper_lip",
    "inner_mouth",
    "lower_lip",
    "hair",
)
NUM_LABELS = len(LABEL_NAMES)

#: The region groups of MARLIN's face-guided masking, each a tuple of label ids.
REGION_GROUPS: dict[str, tuple[int, ...]] = {
    "right_eye": (RIGHT_BROW, RIGHT_EYE),
    "left_eye": (LEFT_BROW, LEFT_EYE),
    "nose": (NOSE,),
    "mouth": (UPPER_LIP, INNER_MOUTH, LOWER_LIP),
    "hair": (HAIR,),
    "skin": (SKIN,),
    "background": (BACKGROUND,),
}

#: RGB colours (0-255) for drawing parsing maps; index = label id.
LABEL_COLOURS: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),  # background
    (230, 190, 150),  # skin
    (120, 60, 20),  # right brow
    (170, 100, 40),  # left brow
    (30, 120, 255),  # right eye
    (0, 200, 255),  # left eye
    (255, 140, 0),  # nose
    (220, 20, 60),  # upper lip
    (110, 0, 40),  # inner mouth
    (255, 80, 140),  # lower lip
    (90, 60, 200),  # hair
)
