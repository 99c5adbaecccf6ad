"""Object Understanding: fine-grained classes, instrument readings, states, captions."""

from __future__ import annotations

import math
import random
from typing import Any

from PIL import Image, ImageDraw

from suitegen.core import Suite, case, draw_shape, font, noise_background, star

FOLDER = "object_understanding"
W, H = 640, 480


# -- fine-grained: screw drives -------------------------------------------------------------

DRIVES: dict[str, dict[str, Any]] = {
    "phillips": {"label": "phillips", "synonyms": ["cross", "crosshead", "cross-head", "ph2"]},
    "hex": {
        "label": "hex socket",
        "synonyms": ["allen", "hex key", "hexagon socket", "hexagonal socket", "inbus"],
    },
    "torx": {"label": "torx", "synonyms": ["star", "hexalobular", "six-lobe", "6-lobe"]},
    "slotted": {
        "label": "slotted",
        "synonyms": ["flat", "flathead", "flat-head", "straight slot", "single slot"],
    },
}
DRIVE_WORDS = {
    "phillips": ["phillips", "cross"],
    "hex": ["hex", "allen"],
    "torx": ["torx", "star"],
    "slotted": ["slotted", "flat"],
}


def _screw_head(kind: str, seed: int) -> Image.Image:
    rng = random.Random(seed)
    img = noise_background(seed, (400, 400), (110, 90, 70), 5)
    d = ImageDraw.Draw(img)
    cx, cy, r = 200 + rng.randint(-10, 10), 200 + rng.randint(-10, 10), 120
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(186, 188, 194), outline=(90, 92, 98), width=4)
    d.ellipse(
        (cx - r + 14, cy - r + 14, cx + r - 14, cy + r - 14), outline=(160, 162, 168), width=2
    )
    dark = (45, 45, 50)
    rot = rng.uniform(0, 40)
    if kind == "phillips":
        for a in (rot, rot + 90):
            ar = math.radians(a)
            dx, dy = math.cos(ar) * 62, math.sin(ar) * 62
            d.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=dark, width=22)
        d.regular_polygon((cx, cy, 20), 4, rotation=rot + 45, fill=dark)
    elif kind == "hex":
        d.regular_polygon((cx, cy, 48), 6, rotation=rot, fill=dark)
    elif kind == "torx":
        d.polygon(star(cx, cy, 56, rot, points=6), fill=dark)
        d.ellipse((cx - 32, cy - 32, cx + 32, cy + 32), fill=dark)
    else:
        ar = math.radians(rot)
        dx, dy = math.cos(ar) * 105, math.sin(ar) * 105
        d.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=dark, width=20)
    return img


def _screws(suite: Suite) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    prompt = (
        "What type of drive does this screw head have: Phillips, slotted, hex socket "
        "(Allen) or Torx?"
    )
    for k, kind in enumerate(("phillips", "hex", "torx", "slotted")):
        path = suite.image(FOLDER, f"screw_drive_{kind}", _screw_head(kind, 4100 + k))
        others = [w for o, ws in DRIVE_WORDS.items() if o != kind for w in ws]
        spec = DRIVES[kind]
        name = spec["label"]
        wrong_kind = {
            "phillips": "torx",
            "hex": "torx",
            "torx": "hex socket",
            "slotted": "phillips",
        }[kind]
        out.append(
            case(
                f"screw-drive-{kind}",
                path,
                prompt,
                {"label": {**spec, "forbidden": others}},
                [f"It is a {name} drive.", name.title() + "."],
                [f"It is a {wrong_kind} drive.", f"{wrong_kind.title()}"],
                task="classification",
            )
        )
    return out


# -- readings and states --------------------------------------------------------------------


def _gauge(suite: Suite) -> list[dict[str, Any]]:
    value = 68
    img = Image.new("RGB", (480, 480), (230, 230, 226))
    d = ImageDraw.Draw(img)
    cx, cy, r = 240, 250, 190
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(250, 250, 248), outline=(40, 40, 40), width=6)

    def angle(v: float) -> float:  # 0 at lower left (225 deg), 100 at lower right (-45 deg)
        return math.radians(225 - 270 * v / 100)

    for v in range(0, 101, 2):
        a = angle(v)
        major = v % 10 == 0
        r1 = r - (30 if major else 16)
        d.line(
            [
                (cx + r1 * math.cos(a), cy - r1 * math.sin(a)),
                (cx + (r - 8) * math.cos(a), cy - (r - 8) * math.sin(a)),
            ],
            fill=(30, 30, 30),
            width=4 if major else 2,
        )
        if major:
            tx, ty = cx + (r - 55) * math.cos(a), cy - (r - 55) * math.sin(a)
            d.text((tx, ty), str(v), font=font(20), fill=(0, 0, 0), anchor="mm")
    d.text((cx, cy + 80), "PSI", font=font(22), fill=(0, 0, 0), anchor="mm")
    a = angle(value)
    d.line(
        [(cx, cy), (cx + (r - 36) * math.cos(a), cy - (r - 36) * math.sin(a))],
        fill=(200, 20, 20),
        width=6,
    )
    d.ellipse((cx - 12, cy - 12, cx + 12, cy + 12), fill=(40, 40, 40))
    path = suite.image(FOLDER, "pressure_gauge", img)
    return [
        case(
            "gauge-reading",
            path,
            "What pressure does this gauge read, in PSI?",
            {"number": {"value": value, "abs_tol": 2}},
            [f"It reads about {value} PSI.", f"{value - 1} psi", f"~{value}"],
            [f"It reads {value + 10} PSI.", "60 PSI"],
        )
    ]


def _clock(suite: Suite) -> list[dict[str, Any]]:
    hh, mm = 3, 40
    img = Image.new("RGB", (480, 480), (214, 228, 240))
    d = ImageDraw.Draw(img)
    cx, cy, r = 240, 240, 200
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 255, 255), outline=(20, 20, 20), width=8)
    for k in range(60):
        a = math.radians(90 - k * 6)
        r1 = r - (28 if k % 5 == 0 else 14)
        d.line(
            [
                (cx + r1 * math.cos(a), cy - r1 * math.sin(a)),
                (cx + (r - 8) * math.cos(a), cy - (r - 8) * math.sin(a)),
            ],
            fill=(20, 20, 20),
            width=5 if k % 5 == 0 else 2,
        )
    for h in range(1, 13):
        a = math.radians(90 - h * 30)
        d.text(
            (cx + (r - 55) * math.cos(a), cy - (r - 55) * math.sin(a)),
            str(h),
            font=font(30),
            fill=(0, 0, 0),
            anchor="mm",
        )
    ha = math.radians(90 - (hh % 12 + mm / 60) * 30)
    ma = math.radians(90 - mm * 6)
    d.line([(cx, cy), (cx + 105 * math.cos(ha), cy - 105 * math.sin(ha))], fill=(0, 0, 0), width=12)
    d.line([(cx, cy), (cx + 160 * math.cos(ma), cy - 160 * math.sin(ma))], fill=(0, 0, 0), width=7)
    d.ellipse((cx - 10, cy - 10, cx + 10, cy + 10), fill=(0, 0, 0))
    path = suite.image(FOLDER, "analog_clock", img)
    return [
        case(
            "clock-time",
            path,
            "What time does this clock show? Answer as H:MM.",
            {"regex": {"pattern": r"\b(0?3|15):40\b|twenty to four"}},
            ["3:40", "The clock shows 3:40.", "15:40"],
            ["8:15", "It is 4:40."],
        )
    ]


def _traffic_light(suite: Suite) -> list[dict[str, Any]]:
    img = Image.new("RGB", (W, H), (150, 190, 230))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 400, W, H), fill=(90, 90, 90))
    d.rectangle((300, 240, 320, 420), fill=(50, 50, 50))  # pole
    d.rounded_rectangle((262, 40, 358, 250), radius=14, fill=(30, 30, 30))
    lamps = [
        ((200, 40, 40), (70, 30, 30)),
        ((250, 170, 20), (250, 170, 20)),
        ((40, 200, 80), (30, 60, 40)),
    ]
    for k, (_lit, shown) in enumerate(lamps):
        y = 75 + k * 65
        d.ellipse((286, y - 26, 334, y + 26), fill=shown)
    d.rectangle((30, 330, 200, 400), fill=(200, 200, 190))  # a building corner
    path = suite.image(FOLDER, "traffic_light_amber", img)
    return [
        case(
            "traffic-light-state",
            path,
            "Which lamp of the traffic light is lit: red, amber or green?",
            {
                "label": {
                    "label": "amber",
                    "synonyms": ["yellow", "orange"],
                    "forbidden": ["red", "green"],
                }
            },
            ["Amber.", "The yellow (amber) light is on."],
            ["Red.", "Green."],
            task="classification",
        ),
        case(
            "traffic-light-caption",
            path,
            "Describe this image in one sentence.",
            {
                "all": [
                    {
                        "label": {
                            "label": "traffic light",
                            "synonyms": [
                                "traffic signal",
                                "stoplight",
                                "stop light",
                                "traffic lights",
                            ],
                            "weight": 2,
                        }
                    },
                    {
                        "any": [
                            {"contains": "amber"},
                            {"contains": "yellow"},
                            {"contains": "orange"},
                        ]
                    },
                ]
            },
            [
                "A traffic light against a blue sky with its amber lamp lit.",
                "A street traffic signal showing yellow.",
            ],
            ["A traffic light showing red against a blue sky.", "A lamp post on a street."],
            task="captioning",
        ),
    ]


def _battery(suite: Suite) -> list[dict[str, Any]]:
    filled = 3
    img = Image.new("RGB", (480, 280), (245, 245, 245))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((60, 70, 400, 210), radius=12, outline=(30, 30, 30), width=8)
    d.rectangle((400, 110, 424, 170), fill=(30, 30, 30))
    for k in range(5):
        x = 78 + k * 64
        fill = (60, 170, 70) if k < filled else (225, 225, 225)
        d.rectangle((x, 88, x + 52, 192), fill=fill, outline=(170, 170, 170))
    path = suite.image(FOLDER, "battery_level", img)
    return [
        case(
            "battery-bars",
            path,
            "The battery indicator has five segments. How many are filled? Answer with a number.",
            {"count": filled},
            [f"{filled} segments are filled.", f"{filled}"],
            ["4", "2 segments are filled."],
        )
    ]


def _odd_one_out(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(4601)
    odd = (rng.randrange(3), rng.randrange(3))
    img = Image.new("RGB", (480, 480), (250, 248, 240))
    d = ImageDraw.Draw(img)
    for r in range(3):
        for c in range(3):
            cx, cy = 80 + c * 160, 80 + r * 160
            rot = rng.uniform(0, 60)
            sides = 5 if (r, c) == odd else 6  # a pentagon among hexagon nuts
            d.regular_polygon(
                (cx, cy, 58), sides, rotation=rot, fill=(170, 172, 176), outline=(80, 80, 84)
            )
            d.ellipse(
                (cx - 24, cy - 24, cx + 24, cy + 24),
                fill=(250, 248, 240),
                outline=(80, 80, 84),
                width=2,
            )
    path = suite.image(FOLDER, "odd_nut", img)
    r1, c1 = odd[0] + 1, odd[1] + 1
    return [
        case(
            "odd-nut-out",
            path,
            "All nuts but one are hexagonal. Which one is different? Give its row and column "
            "(from the top-left, starting at 1).",
            {
                "any": [
                    {"regex": rf"row\D{{0,10}}{r1}\b.*col(umn)?\D{{0,10}}{c1}\b"},
                    {"regex": rf"col(umn)?\D{{0,10}}{c1}\b.*row\D{{0,10}}{r1}\b"},
                ]
            },
            [
                f"Row {r1}, column {c1} (it is a pentagon).",
                f"The odd one is in column {c1}, row {r1}.",
            ],
            [f"Row {r1 % 3 + 1}, column {c1}.", f"Row {r1}, column {c1 % 3 + 1}."],
        )
    ]


def _sign(suite: Suite) -> list[dict[str, Any]]:
    img = noise_background(4701, (480, 480), (120, 160, 110), 6)
    d = ImageDraw.Draw(img)
    d.rectangle((232, 300, 248, 480), fill=(120, 120, 125))
    d.ellipse((120, 90, 360, 330), fill=(200, 20, 30), outline=(255, 255, 255), width=6)
    d.rectangle((160, 190, 320, 230), fill=(255, 255, 255))
    path = suite.image(FOLDER, "road_sign", img)
    return [
        case(
            "road-sign-type",
            path,
            "What does this road sign mean? Answer with its common name.",
            {
                "label": {
                    "label": "no entry",
                    "synonyms": [
                        "do not enter",
                        "no-entry",
                        "no vehicles entry",
                        "entry prohibited",
                    ],
                    "forbidden": ["stop", "give way", "yield", "no parking"],
                }
            },
            ["No entry.", "It is a 'do not enter' sign."],
            ["Stop.", "No parking."],
            task="classification",
        )
    ]


def _plug(suite: Suite) -> list[dict[str, Any]]:
    img = Image.new("RGB", (W, H), (236, 230, 220))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle(
        (400, 150, 560, 330), radius=16, fill=(250, 250, 250), outline=(150, 150, 150), width=3
    )  # wall socket
    for y in (205, 265):
        d.rectangle((470, y, 490, y + 12), fill=(40, 40, 40))
    d.rounded_rectangle((170, 200, 300, 280), radius=10, fill=(40, 40, 44))  # plug body
    for y in (215, 255):
        d.rectangle((300, y, 345, y + 10), fill=(200, 170, 60))  # pins, in the air
    d.line([(170, 240), (120, 250), (60, 320), (30, 420)], fill=(40, 40, 44), width=12)
    path = suite.image(FOLDER, "plug_unplugged", img)
    return [
        case(
            "plug-inserted",
            path,
            "Is the plug inserted into the wall socket? Answer yes or no.",
            {"yes_no": "no"},
            ["No.", "No, the plug is lying next to the socket."],
            ["Yes.", "Yes, it is plugged in."],
        )
    ]


def _shapes_json(suite: Suite) -> list[dict[str, Any]]:
    img = Image.new("RGB", (W, H), (250, 250, 250))
    d = ImageDraw.Draw(img)
    spec = {
        "circle": ("teal", (0, 128, 128), (150, 170)),
        "square": ("magenta", (200, 0, 160), (460, 140)),
        "triangle": ("olive", (128, 128, 0), (320, 350)),
    }
    for shape, (_n, rgb, (x, y)) in spec.items():
        draw_shape(d, shape, x, y, 70, fill=rgb, outline=(30, 30, 30))
    path = suite.image(FOLDER, "three_colour_shapes", img)
    answer = {k: v[0] for k, v in spec.items()}
    good = ", ".join(f'"{k}": "{v}"' for k, v in answer.items())
    return [
        case(
            "shape-colours-json",
            path,
            "Return a JSON object with the keys circle, square and triangle, giving the colour "
            "name of each shape (teal, magenta, olive, navy, maroon or orange).",
            {"json": {"fields": {k: {"label": v} for k, v in answer.items()}}},
            [f"```json\n{{{good}}}\n```", f'Sure: {{{good}, "background": "white"}}'],
            [
                '{"circle": "green", "square": "magenta", "triangle": "olive"}',
                '{"circle": "teal", "square": "purple"}',
            ],
        )
    ]


def _car_scene(suite: Suite) -> list[dict[str, Any]]:
    img = Image.new("RGB", (W, H), (170, 210, 240))
    d = ImageDraw.Draw(img)
    d.ellipse((520, 30, 600, 110), fill=(250, 220, 60))  # sun
    d.rectangle((0, 360, W, H), fill=(110, 170, 90))  # grass
    d.rectangle((0, 340, W, 372), fill=(90, 90, 95))  # road
    d.rectangle((470, 200, 494, 352), fill=(110, 70, 40))  # tree trunk
    d.ellipse((410, 100, 556, 240), fill=(40, 130, 50))
    teal = (0, 128, 128)
    d.rounded_rectangle((90, 250, 390, 330), radius=18, fill=teal)  # car body
    d.polygon([(150, 250), (190, 195), (310, 195), (350, 250)], fill=teal)
    d.polygon([(165, 248), (198, 205), (250, 205), (250, 248)], fill=(190, 225, 245))
    d.polygon([(258, 248), (258, 205), (305, 205), (336, 248)], fill=(190, 225, 245))
    for x in (150, 330):
        d.ellipse((x - 32, 300, x + 32, 364), fill=(25, 25, 25))
        d.ellipse((x - 14, 318, x + 14, 346), fill=(170, 170, 170))
    path = suite.image(FOLDER, "car_tree_scene", img)
    rubric = (
        "The caption must mention a car (any colour word is fine but teal/green/blue "
        "is right) parked or standing on a road, and a tree; mentioning the sun or "
        "grass is a plus. It must not invent people, buildings or animals."
    )
    return [
        case(
            "car-scene-caption",
            path,
            "Describe this image in one sentence.",
            {
                "all": [
                    {
                        "label": {
                            "label": "car",
                            "synonyms": ["automobile", "vehicle", "sedan", "hatchback"],
                            "weight": 2,
                        }
                    },
                    {"contains": "tree"},
                    {"judge": {"rubric": rubric, "pass_score": 0.5, "weight": 2}},
                ]
            },
            [
                "A teal car is parked on a road next to a tree under a sunny sky.",
                "Illustration of a small green-blue car on a road beside a tree, with the sun "
                "shining.",
            ],
            ["A red bus drives past a house.", "A tree in a park on a sunny day."],
            task="captioning",
        ),
        case(
            "car-colour-fine",
            path,
            "What colour is the car: navy, teal, maroon or olive?",
            {
                "label": {
                    "label": "teal",
                    "synonyms": ["dark cyan"],
                    "forbidden": ["navy", "maroon", "olive"],
                }
            },
            ["Teal.", "The car is teal."],
            ["Navy.", "Olive green."],
            task="classification",
        ),
    ]


def _shelf_caption(suite: Suite) -> list[dict[str, Any]]:
    path = "../../fixtures/images/object_counting/bottles_on_shelves.png"
    rubric = (
        "The caption must describe green glass bottles with labels standing in rows "
        "on (three) shelves, with caps of different colours. It must not claim the "
        "bottles are cans or boxes, or describe people."
    )
    return [
        case(
            "shelf-caption",
            path,
            "Describe this image in one or two sentences.",
            {
                "all": [
                    {"label": {"label": "bottle", "synonyms": ["bottles"], "weight": 2}},
                    {"label": {"label": "shelf", "synonyms": ["shelves", "shelving"]}},
                    {"not": {"regex": r"\b(cans?|boxes|people|person)\b"}},
                    {"judge": {"rubric": rubric, "pass_score": 0.5, "weight": 2}},
                ]
            },
            [
                "Rows of green glass bottles with cream labels and red, blue or white caps stand "
                "on three wooden shelves."
            ],
            ["Rows of soda cans on a shelf.", "Three wooden planks on a wall."],
            task="captioning",
        )
    ]


def _frame_object(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(4801)
    img = Image.new("RGB", (W, H), (245, 245, 245))
    d = ImageDraw.Draw(img)
    combos = [
        ("pentagon", (0, 150, 150)),
        ("hexagon", (0, 140, 160)),
        ("pentagon", (30, 110, 200)),
        ("star", (0, 150, 150)),
        ("hexagon", (40, 160, 60)),
        ("diamond", (0, 150, 150)),
    ]
    spots = [(110, 130), (320, 120), (530, 130), (110, 350), (320, 350), (530, 350)]
    target = 4
    rng.shuffle(combos)
    combos[target] = ("pentagon", (0, 150, 150))
    for k, ((shape, rgb), (x, y)) in enumerate(zip(combos, spots, strict=True)):
        draw_shape(d, shape, x, y, 55, fill=rgb, outline=(30, 30, 30), rot=rng.uniform(-15, 15))
        if k == target:
            for i in range(0, 200, 16):  # dashed frame
                d.line([(x - 95 + i, y - 95), (x - 87 + i, y - 95)], fill=(220, 20, 20), width=4)
                d.line([(x - 95 + i, y + 95), (x - 87 + i, y + 95)], fill=(220, 20, 20), width=4)
                d.line([(x - 95, y - 95 + i), (x - 95, y - 87 + i)], fill=(220, 20, 20), width=4)
                d.line([(x + 95, y - 95 + i), (x + 95, y - 87 + i)], fill=(220, 20, 20), width=4)
    path = suite.image(FOLDER, "framed_shape", img)
    return [
        case(
            "framed-shape-colour",
            path,
            "What is the shape and colour of the object inside the red dashed frame? Use one "
            "colour word (teal, blue, green) and one shape word.",
            {
                "all": [
                    {"label": {"label": "pentagon", "forbidden": ["hexagon", "star", "diamond"]}},
                    {
                        "label": {
                            "label": "teal",
                            "synonyms": ["turquoise", "cyan"],
                            "forbidden": ["blue", "green"],
                        }
                    },
                ]
            },
            ["A teal pentagon.", "It is a pentagon, coloured teal."],
            ["A teal hexagon.", "A blue pentagon."],
            task="classification",
        )
    ]


def build(suite: Suite) -> None:
    a = suite.new_file(FOLDER, "fine_grained", "classification", ["objects", "fine-grained"])
    for fn in (_screws, _frame_object, _sign, _odd_one_out, _shapes_json):
        for c in fn(suite):
            a.add(c)
    b = suite.new_file(FOLDER, "readings_and_states", "vqa", ["objects", "state"])
    for fn in (_gauge, _clock, _traffic_light, _battery, _plug):
        for c in fn(suite):
            b.add(c)
    e = suite.new_file(FOLDER, "captions", "captioning", ["objects", "captioning"])
    for fn in (_car_scene, _shelf_caption):
        for c in fn(suite):
            e.add(c)
