"""Spatial Understanding: left/right/above/below, closest/farthest, grids, order, depth."""

from __future__ import annotations

import math
import random
from itertools import pairwise
from typing import Any

from PIL import Image, ImageDraw

from suitegen.core import (
    Box,
    Suite,
    box_json,
    case,
    center,
    draw_shape,
    font,
    shift_box,
    star,
)

FOLDER = "spatial_understanding"
W, H = 640, 480

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "blue": (40, 80, 220),
    "green": (40, 160, 60),
    "yellow": (235, 190, 20),
    "purple": (130, 50, 180),
    "orange": (245, 130, 20),
    "black": (30, 30, 30),
    "gray": (140, 140, 140),
}
SHAPE_SYNONYMS: dict[str, list[str]] = {
    "circle": ["disk", "disc"],
    "diamond": ["rhombus"],
    "square": [],
    "triangle": [],
    "star": [],
    "hexagon": [],
    "pentagon": [],
}


def _label(name: str, forbidden: list[str] | None = None) -> dict[str, Any]:
    colour, shape = name.split()
    out: dict[str, Any] = {
        "label": name,
        "synonyms": [f"{colour} {s}" for s in SHAPE_SYNONYMS[shape]],
    }
    if forbidden:
        out["forbidden"] = forbidden
    return {"label": out}


class Scene:
    """Distinct colour+shape objects at random, well separated positions."""

    def __init__(self, seed: int, names: list[str], r: int = 30) -> None:
        self.rng = random.Random(seed)
        self.names = names
        self.r = r
        self.pos: dict[str, tuple[float, float]] = {}
        self.boxes: dict[str, Box] = {}

    def layout(self, ok: Any) -> None:
        """Draw positions until ``ok(self)`` holds (deterministic: the rng is seeded)."""
        for _ in range(5000):
            self.pos = {}
            for n in self.names:
                for _ in range(500):
                    p = (self.rng.uniform(60, W - 60), self.rng.uniform(60, H - 60))
                    if all(math.dist(p, q) > 2.6 * self.r + 20 for q in self.pos.values()):
                        self.pos[n] = p
                        break
            if len(self.pos) == len(self.names) and ok(self):
                return
        raise RuntimeError("no layout satisfied the constraints")

    def render(self) -> Image.Image:
        img = Image.new("RGB", (W, H), (248, 246, 240))
        d = ImageDraw.Draw(img)
        for n in self.names:
            colour, shape = n.split()
            cx, cy = self.pos[n]
            self.boxes[n] = draw_shape(
                d, shape, cx, cy, self.r, fill=COLOURS[colour], outline=(20, 20, 20), width=2
            )
        return img

    def dist_rank(self, ref: str) -> list[tuple[float, str]]:
        return sorted((math.dist(self.pos[ref], self.pos[n]), n) for n in self.names if n != ref)


def _clear_margin(ranked: list[tuple[float, str]], ratio: float) -> bool:
    return ranked[0][0] < ratio * ranked[1][0] and ranked[-1][0] > ranked[-2][0] / ratio


def _scene_a(suite: Suite) -> list[dict[str, Any]]:
    names = [
        "red circle",
        "blue square",
        "green triangle",
        "yellow star",
        "purple hexagon",
        "orange diamond",
        "black pentagon",
    ]
    sc = Scene(1201, names)

    def ok(s: Scene) -> bool:
        xs = sorted(p[0] for p in s.pos.values())
        gaps_x = min(b - a for a, b in pairwise(xs))
        gt, rc = s.pos["green triangle"], s.pos["red circle"]
        return (
            _clear_margin(s.dist_rank("yellow star"), 0.75)
            and _clear_margin(s.dist_rank("blue square"), 0.75)
            and gaps_x > 25
            and abs(gt[1] - rc[1]) > 60
        )

    sc.layout(ok)
    path = suite.image(FOLDER, "scene_a", sc.render())
    near = sc.dist_rank("yellow star")
    far = sc.dist_rank("blue square")
    closest, second = near[0][1], near[1][1]
    farthest = far[-1][1]
    rc = sc.pos["red circle"][0]
    right_of = sum(1 for n in names if n != "red circle" and sc.pos[n][0] > rc)
    above = sc.pos["green triangle"][1] < sc.pos["red circle"][1]
    leftmost = min(names, key=lambda n: sc.pos[n][0])
    diamond = sc.boxes["orange diamond"]
    starbox = sc.boxes["yellow star"]
    others = [n for n in names if n != leftmost]
    return [
        case(
            "closest-to-star",
            path,
            "Which object is closest to the yellow star? Answer with its colour and shape.",
            {
                "all": [
                    {"label": {**_label(closest)["label"], "weight": 2}},
                    {"not": _label(second)},
                ]
            },
            [f"The {closest} is closest to the yellow star.", closest.title()],
            [f"The {second} is closest.", f"The {second}."],
        ),
        case(
            "farthest-from-square",
            path,
            "Which object is farthest from the blue square? Answer with its colour and shape.",
            _label(farthest, forbidden=[far[-2][1]]),
            [f"The {farthest}.", f"It's the {farthest}, in the opposite corner."],
            [f"The {far[-2][1]}."],
        ),
        case(
            "triangle-above-circle",
            path,
            "Is the green triangle above the red circle? Answer yes or no.",
            {"yes_no": "yes" if above else "no"},
            [
                "Yes." if above else "No.",
                "Yes, it is higher up." if above else "No, it is below the red circle.",
            ],
            ["No." if above else "Yes."],
        ),
        case(
            "count-right-of-circle",
            path,
            "How many objects are to the right of the red circle? Answer with a number.",
            {"count": right_of},
            [f"There are {right_of} objects to its right.", f"{right_of}"],
            [
                f"{len(names) - 1 - right_of}"
                if len(names) - 1 - right_of != right_of
                else f"{right_of + 1}"
            ],
        ),
        case(
            "leftmost-object",
            path,
            "Which object is the leftmost in the image? Answer with its colour and shape.",
            _label(leftmost, forbidden=others),
            [f"The {leftmost}.", f"{leftmost}"],
            [f"The {others[0]}.", f"The {leftmost} and the {others[1]}."],
        ),
        case(
            "point-at-diamond",
            path,
            "Point at the orange diamond.",
            {"point": {"box": diamond}},
            [f"[{center(diamond)[0]}, {center(diamond)[1]}]"],
            [f"[{center(starbox)[0]}, {center(starbox)[1]}]"],
            task="detection",
            box_format="xyxy_px",
        ),
        case(
            "locate-star",
            path,
            "Locate the yellow star.",
            {"box": {"box": starbox, "min_iou": 0.5}},
            [box_json(shift_box(starbox, 3, -2)), f"```json\n{box_json(starbox)}\n```"],
            [box_json(diamond), box_json(shift_box(starbox, 40, 30))],
            task="detection",
            box_format="xyxy_px",
        ),
    ]


def _scene_b(suite: Suite) -> list[dict[str, Any]]:
    names = ["red square", "blue circle", "green star", "orange triangle", "purple diamond"]
    sc = Scene(1301, names, r=34)

    def ok(s: Scene) -> bool:
        xs = sorted(p[0] for p in s.pos.values())
        ys = sorted(p[1] for p in s.pos.values())
        pairs = sorted(
            (math.dist(s.pos[a], s.pos[b]), a, b)
            for i, a in enumerate(names)
            for b in names[i + 1 :]
        )
        return (
            min(b - a for a, b in pairwise(xs)) > 40
            and ys[-1] - ys[-2] > 40
            and pairs[0][0] < 0.75 * pairs[1][0]
            and abs(s.pos["red square"][0] - s.pos["blue circle"][0]) > 80
        )

    sc.layout(ok)
    path = suite.image(FOLDER, "scene_b", sc.render())
    order = sorted(names, key=lambda n: sc.pos[n][0])
    lowest = max(names, key=lambda n: sc.pos[n][1])
    pairs = sorted(
        (math.dist(sc.pos[a], sc.pos[b]), a, b) for i, a in enumerate(names) for b in names[i + 1 :]
    )
    _, pa, pb = pairs[0]
    _, qa, qb = pairs[-1]
    red_left = sc.pos["red square"][0] < sc.pos["blue circle"][0]
    colours = [n.split()[0] for n in order]
    pattern = r"\b" + r"\b.*\b".join(colours) + r"\b"
    wrong_order = list(reversed(colours))
    return [
        case(
            "order-left-to-right",
            path,
            "List the colours of the objects from left to right, separated by commas.",
            {"regex": {"pattern": pattern}},
            [", ".join(colours), "From left to right: " + ", ".join(colours) + "."],
            [", ".join(wrong_order), ", ".join(colours[1:] + colours[:1])],
        ),
        case(
            "lowest-object",
            path,
            "Which object is closest to the bottom edge of the image? Answer with its colour "
            "and shape.",
            _label(lowest, forbidden=[n for n in names if n != lowest]),
            [f"The {lowest}.", f"{lowest.capitalize()}"],
            [f"The {order[0] if order[0] != lowest else order[1]}."],
        ),
        case(
            "square-left-of-circle",
            path,
            "Is the red square to the left of the blue circle? Answer yes or no.",
            {"yes_no": "yes" if red_left else "no"},
            ["Yes." if red_left else "No.", "yes" if red_left else "no, it is to the right"],
            ["No." if red_left else "Yes.", "Maybe."],
        ),
        case(
            "closest-pair",
            path,
            "Which two objects are closest to each other? Name both by colour and shape.",
            {"all": [_label(pa), _label(pb)]},
            [f"The {pa} and the {pb}.", f"{pb} and {pa}"],
            [f"The {qa} and the {qb}.", f"The {pa} and the {qb if qb != pb else qa}."],
        ),
    ]


def _grid_missing(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(1401)
    rows, cols = 5, 6
    miss_r, miss_c = rng.randrange(1, rows - 1), rng.randrange(1, cols - 1)
    img = Image.new("RGB", (W, H), (190, 195, 200))
    d = ImageDraw.Draw(img)
    pitch_x, pitch_y = 96, 88
    ox, oy = 80, 60
    empty: Box = [0, 0, 0, 0]
    for r in range(rows):
        for c in range(cols):
            cx, cy = ox + c * pitch_x, oy + r * pitch_y
            if (r, c) == (miss_r, miss_c):
                empty = [cx - 26, cy - 26, cx + 26, cy + 26]
                d.ellipse((cx - 6, cy - 6, cx + 6, cy + 6), fill=(90, 92, 96))
                continue
            draw_shape(d, "hexagon", cx, cy, 24, fill=(150, 152, 158), outline=(70, 70, 76))
            d.ellipse(
                (cx - 10, cy - 10, cx + 10, cy + 10), fill=(120, 122, 128), outline=(70, 70, 76)
            )
    path = suite.image(FOLDER, "bolt_grid_missing", img)
    r1, c1 = miss_r + 1, miss_c + 1
    return [
        case(
            "grid-missing-position",
            path,
            f"The bolts form a grid of {rows} rows and {cols} columns, but one position is "
            "empty. Which row and column is empty? Count rows from the top and columns from "
            "the left, starting at 1.",
            {
                "any": [
                    {"regex": rf"row\D{{0,12}}{r1}\b.*col(umn)?\D{{0,12}}{c1}\b"},
                    {"regex": rf"col(umn)?\D{{0,12}}{c1}\b.*row\D{{0,12}}{r1}\b"},
                ]
            },
            [f"Row {r1}, column {c1}.", f"The empty spot is in column {c1}, row {r1}."],
            [
                f"Row {r1}, column {c1 + 1}.",
                f"Row {c1}, column {r1}." if r1 != c1 else f"Row {r1 + 1}, column {c1}.",
            ],
        ),
        case(
            "grid-missing-box",
            path,
            "Locate the empty position in the grid of bolts.",
            {"box": {"box": empty, "min_iou": 0.3}},
            [box_json(shift_box(empty, 2, 2))],
            [box_json(shift_box(empty, pitch_x, 0))],
            task="detection",
            box_format="xyxy_px",
        ),
    ]


def _board(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(1501)
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    cell, ox, oy = 50, 140, 30
    letters = "ABCDEFGH"
    for r in range(8):
        for c in range(8):
            fill = (238, 218, 180) if (r + c) % 2 == 0 else (180, 136, 98)
            d.rectangle(
                (ox + c * cell, oy + r * cell, ox + (c + 1) * cell, oy + (r + 1) * cell), fill=fill
            )
    for c in range(8):
        d.text((ox + c * cell + 19, oy + 8 * cell + 6), letters[c], font=font(18), fill="black")
    for r in range(8):
        d.text((ox - 22, oy + r * cell + 14), str(8 - r), font=font(18), fill="black")
    red = (rng.randrange(8), rng.randrange(8))
    blue = red
    while abs(blue[0] - red[0]) < 3 or abs(blue[1] - red[1]) < 2:
        blue = (rng.randrange(8), rng.randrange(8))
    for (c, r), col in ((red, (210, 30, 30)), (blue, (30, 60, 200))):
        cx, cy = ox + c * cell + cell // 2, oy + r * cell + cell // 2
        d.ellipse((cx - 17, cy - 17, cx + 17, cy + 17), fill=col, outline=(0, 0, 0), width=2)
    sq = f"{letters[red[0]]}{8 - red[1]}"
    wrong_sq = (
        f"{letters[red[0]]}{red[1] + 1}"
        if 8 - red[1] != red[1] + 1
        else f"{letters[(red[0] + 1) % 8]}{8 - red[1]}"
    )
    dist = abs(blue[0] - red[0])
    path = suite.image(FOLDER, "board_tokens", img)
    return [
        case(
            "red-token-square",
            path,
            "On this board (columns A-H, rows 1-8), which square is the red token on? "
            "Answer like 'C5'.",
            {"regex": {"pattern": rf"\b{sq}\b"}},
            [sq, f"The red token is on {sq}."],
            [wrong_sq, f"{letters[blue[0]]}{8 - blue[1]}"],
        ),
        case(
            "token-column-distance",
            path,
            "How many columns apart are the red token and the blue token (for example, "
            "tokens in columns A and C are 2 apart)? Answer with a number.",
            {"number": {"value": dist}},
            [f"They are {dist} columns apart.", f"{dist}"],
            [f"{dist + 1}", f"They are {dist - 1} columns apart."],
        ),
    ]


def _three_by_three(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(1601)
    img = Image.new("RGB", (480, 480), (250, 250, 250))
    d = ImageDraw.Draw(img)
    for k in (1, 2):
        d.line([(k * 160, 10), (k * 160, 470)], fill=(0, 0, 0), width=4)
        d.line([(10, k * 160), (470, k * 160)], fill=(0, 0, 0), width=4)
    cells = list(range(9))
    rng.shuffle(cells)
    names = {
        0: "top left",
        1: "top center",
        2: "top right",
        3: "middle left",
        4: "center",
        5: "middle right",
        6: "bottom left",
        7: "bottom center",
        8: "bottom right",
    }
    star_cell = next(c for c in cells if c != 4)
    for c in cells[:5]:
        r, col = divmod(c, 3)
        cx, cy = col * 160 + 80, r * 160 + 80
        if c == star_cell:
            d.polygon(star(cx, cy, 50), fill=COLOURS["yellow"], outline=(0, 0, 0))
        else:
            d.ellipse((cx - 40, cy - 40, cx + 40, cy + 40), fill=COLOURS["blue"])
    name = names[star_cell]
    vert, horiz = name.split()
    syn = [f"{vert}-{horiz}", f"{horiz} {vert}" if vert == "middle" else f"{vert} {horiz}"]
    if vert == "top":
        syn += [f"upper {horiz}", f"upper-{horiz}"]
    if vert == "bottom":
        syn += [f"lower {horiz}", f"lower-{horiz}"]
    if horiz == "center":
        syn += [f"{vert} middle", f"{vert} centre", f"{vert}-centre"]
    opposite = names[8 - star_cell]
    path = suite.image(FOLDER, "three_by_three", img)
    return [
        case(
            "star-cell",
            path,
            "In which cell of the 3x3 grid is the star? Answer like 'top left' or 'middle right'.",
            {"label": {"label": name, "synonyms": sorted(set(syn)), "forbidden": [opposite]}},
            [f"The star is in the {name} cell.", name.title()],
            [f"The {opposite} cell.", "center"],
        )
    ]


def _arrows(suite: Suite) -> list[dict[str, Any]]:
    img = Image.new("RGB", (W, H), (245, 245, 245))
    d = ImageDraw.Draw(img)

    def arrow(cx: float, cy: float, ang: float, col: tuple[int, int, int]) -> None:
        a = math.radians(ang)
        dx, dy = math.cos(a), -math.sin(a)  # screen y grows downwards
        tail = (cx - dx * 60, cy - dy * 60)
        tip = (cx + dx * 60, cy + dy * 60)
        d.line([tail, (cx + dx * 35, cy + dy * 35)], fill=col, width=10)
        px, py = -dy, dx
        d.polygon(
            [
                tip,
                (cx + dx * 30 + px * 22, cy + dy * 30 + py * 22),
                (cx + dx * 30 - px * 22, cy + dy * 30 - py * 22),
            ],
            fill=col,
        )

    arrow(160, 140, 90, COLOURS["blue"])  # up
    arrow(480, 130, 180, COLOURS["green"])  # left
    arrow(170, 350, 0, COLOURS["black"])  # right
    arrow(470, 340, 225, COLOURS["red"])  # down-left
    path = suite.image(FOLDER, "arrows", img)
    return [
        case(
            "red-arrow-direction",
            path,
            "Which direction does the red arrow point? Answer like 'up', 'down-right' or 'left'.",
            {
                "label": {
                    "label": "down-left",
                    "synonyms": [
                        "down left",
                        "lower left",
                        "lower-left",
                        "bottom left",
                        "bottom-left",
                        "south-west",
                        "southwest",
                        "down and to the left",
                    ],
                    "forbidden": ["right", "up", "north", "east"],
                }
            },
            ["Down-left.", "It points down and to the left (south-west)."],
            ["Up-right.", "Left."],
        )
    ]


def _overlap(suite: Suite) -> list[dict[str, Any]]:
    img = Image.new("RGB", (W, H), (250, 250, 250))
    d = ImageDraw.Draw(img)
    d.ellipse((190, 120, 390, 320), fill=COLOURS["red"], outline=(0, 0, 0), width=3)
    d.rectangle((300, 180, 470, 350), fill=COLOURS["blue"], outline=(0, 0, 0), width=3)
    d.polygon([(120, 360), (250, 250), (280, 430)], fill=COLOURS["green"], outline=(0, 0, 0))
    path = suite.image(FOLDER, "overlap_depth", img)
    return [
        case(
            "which-in-front",
            path,
            "The red circle and the blue square overlap. Which one is in front? Answer with one "
            "word: circle or square.",
            {"equals": "square"},
            ["Square", "square."],
            ["Circle", "The square is behind the circle."],
        )
    ]


def _stack(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(1701)
    order = ["red", "blue", "green", "yellow", "purple", "orange"]
    rng.shuffle(order)  # top to bottom
    img = Image.new("RGB", (W, H), (235, 240, 245))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 440, W, H), fill=(120, 100, 80))
    y = 440
    for colour in reversed(order):
        w = rng.randint(150, 230)
        x = 320 - w // 2 + rng.randint(-20, 20)
        d.rectangle((x, y - 62, x + w, y), fill=COLOURS[colour], outline=(0, 0, 0), width=2)
        y -= 62
    second = order[1]
    path = suite.image(FOLDER, "box_stack", img)
    return [
        case(
            "stack-second-from-top",
            path,
            "Boxes are stacked on top of each other. What colour is the box second from the "
            "top? Answer with one colour.",
            {"label": {"label": second, "forbidden": [order[0], order[-2]]}},
            [f"{second.capitalize()}.", f"The second box from the top is {second}."],
            [f"{order[0].capitalize()}.", f"{order[-2]}"],
            task="classification",
        )
    ]


def _inside_circle(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(1801)
    img = Image.new("RGB", (W, H), (252, 252, 252))
    d = ImageDraw.Draw(img)
    cx, cy, rad = 300, 240, 170
    d.ellipse((cx - rad, cy - rad, cx + rad, cy + rad), outline=(0, 0, 0), width=3)
    pts: list[tuple[float, float]] = []
    inside = 0
    while len(pts) < 34:
        if rng.random() < 0.6:  # crowd the rim so inside/outside needs a careful look
            a, rr = rng.uniform(0, 2 * math.pi), rng.uniform(rad - 70, rad + 60)
            p = (cx + rr * math.cos(a), cy + rr * math.sin(a))
        else:
            p = (rng.uniform(20, W - 20), rng.uniform(20, H - 20))
        if not (20 <= p[0] <= W - 20 and 20 <= p[1] <= H - 20):
            continue
        dd = math.dist(p, (cx, cy))
        if abs(dd - rad) < 18 or any(math.dist(p, q) < 26 for q in pts):
            continue  # keep every dot clearly inside or clearly outside
        pts.append(p)
        inside += dd < rad
        d.ellipse((p[0] - 8, p[1] - 8, p[0] + 8, p[1] + 8), fill=(200, 30, 30))
    path = suite.image(FOLDER, "dots_in_circle", img)
    return [
        case(
            "dots-inside-circle",
            path,
            "How many red dots are inside the large circle? Answer with a number.",
            {"count": inside},
            [f"There are {inside} dots inside the circle.", f"{inside}"],
            [f"There are {len(pts)} dots inside the circle.", f"{inside - 2}"],
            task="vqa",
        )
    ]


def _above_line(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(1901)
    img = Image.new("RGB", (W, H), (20, 24, 48))
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = 0, 330, W, 150  # a tilted dashed line
    for k in range(0, 40, 2):
        t0, t1 = k / 40, (k + 1) / 40
        d.line(
            [
                (x0 + (x1 - x0) * t0, y0 + (y1 - y0) * t0),
                (x0 + (x1 - x0) * t1, y0 + (y1 - y0) * t1),
            ],
            fill=(240, 240, 240),
            width=3,
        )
    above = 0
    pts: list[tuple[float, float]] = []
    while len(pts) < 18:
        p = (rng.uniform(25, W - 25), rng.uniform(25, H - 25))
        line_y = y0 + (y1 - y0) * (p[0] - x0) / (x1 - x0)
        if abs(p[1] - line_y) < 30 or any(math.dist(p, q) < 40 for q in pts):
            continue
        pts.append(p)
        above += p[1] < line_y
        d.polygon(star(p[0], p[1], 13), fill=(250, 220, 60))
    path = suite.image(FOLDER, "stars_and_line", img)
    return [
        case(
            "stars-above-line",
            path,
            "How many stars are above the dashed line? Answer with a number.",
            {"count": above},
            [f"{above} stars are above the line.", f"{above}"],
            [
                f"{len(pts) - above} stars are above the line."
                if len(pts) - above != above
                else f"{above + 1}",
                f"{len(pts)}",
            ],
        )
    ]


def _map(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(2001)
    img = Image.new("RGB", (W, H), (200, 225, 180))
    d = ImageDraw.Draw(img)
    well = (rng.uniform(200, 440), rng.uniform(160, 320))
    houses: dict[str, tuple[float, float]] = {}
    while True:
        houses = {}
        for letter in "ABCDEF":
            while True:
                p = (rng.uniform(50, W - 50), rng.uniform(50, H - 50))
                if math.dist(p, well) > 80 and all(math.dist(p, q) > 90 for q in houses.values()):
                    houses[letter] = p
                    break
        ranked = sorted((math.dist(p, well), k) for k, p in houses.items())
        if ranked[0][0] < 0.8 * ranked[1][0]:
            break
    for letter, (x, y) in houses.items():
        d.rectangle((x - 24, y - 14, x + 24, y + 22), fill=(230, 220, 200), outline=(0, 0, 0))
        d.polygon(
            [(x - 30, y - 14), (x, y - 38), (x + 30, y - 14)], fill=(170, 60, 40), outline=(0, 0, 0)
        )
        d.text((x - 6, y - 10), letter, font=font(22), fill=(0, 0, 0))
    wx, wy = well
    d.ellipse(
        (wx - 18, wy - 18, wx + 18, wy + 18), fill=(90, 140, 220), outline=(60, 60, 60), width=5
    )
    d.text((wx - 18, wy + 22), "WELL", font=font(14), fill=(0, 0, 0))
    best, second = ranked[0][1], ranked[1][1]
    path = suite.image(FOLDER, "village_map", img)
    return [
        case(
            "house-closest-to-well",
            path,
            "Which house (A-F) is closest to the well? Answer with the letter only.",
            {"one_of": {"values": [best, f"house {best}"]}},
            [best, f"House {best}"],
            [second, f"House {second}"],
        )
    ]


def build(suite: Suite) -> None:
    a = suite.new_file(FOLDER, "relations", "vqa", ["spatial", "relations"])
    for c in _scene_a(suite) + _scene_b(suite) + _map(suite):
        a.add(c)
    b = suite.new_file(FOLDER, "grids_and_layout", "vqa", ["spatial", "grid"])
    for fn in (
        _grid_missing,
        _board,
        _three_by_three,
        _arrows,
        _overlap,
        _stack,
        _inside_circle,
        _above_line,
    ):
        for c in fn(suite):
            b.add(c)
