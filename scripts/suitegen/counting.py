"""Object Counting: dense, overlapping and occluded objects with exact counts."""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageDraw

from suitegen.core import (
    Box,
    Suite,
    boxes_json,
    case,
    ellipse_mask,
    noise_background,
    place_with_visibility,
    poly_mask,
    rect_poly,
    regular_polygon,
    shape_mask,
    shift_box,
)

if TYPE_CHECKING:
    import numpy as np

FOLDER = "object_counting"
W, H = 640, 480


def _coins(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(101)
    n = 31
    img = noise_background(101, (W, H), (120, 84, 52), 6)
    metals = [
        ((184, 115, 51), (130, 75, 30)),
        ((196, 196, 200), (120, 120, 128)),
        ((214, 178, 60), (150, 120, 30)),
    ]

    def propose(r: random.Random) -> tuple[Any, np.ndarray]:
        rad = r.randint(28, 38)
        cx, cy = r.randint(rad + 4, W - rad - 4), r.randint(rad + 4, H - rad - 4)
        box = (cx - rad, cy - rad, cx + rad, cy + rad)
        return (box, r.choice(metals)), ellipse_mask((W, H), box)

    coins = place_with_visibility(rng, n, propose, 0.5)
    d = ImageDraw.Draw(img)
    for (x1, y1, x2, y2), (face, rim) in coins:
        d.ellipse((x1, y1, x2, y2), fill=face, outline=rim, width=3)
        d.ellipse((x1 + 8, y1 + 8, x2 - 8, y2 - 8), outline=rim, width=1)
    path = suite.image(FOLDER, "coins_overlapping", img)
    return [
        case(
            "coins-overlapping",
            path,
            "How many coins are on the table? Count every coin, including partly covered ones. "
            "Answer with a number.",
            {"count": n},
            [f"There are {n} coins.", f"**{n}**", f"I count {n} coins on the table."],
            [f"There are {n - 2} coins.", "About 25 coins."],
        )
    ]


def _bolts(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(202)
    n = 23
    img = noise_background(202, (W, H), (92, 96, 104), 5)
    rag = rect_poly(430, 170, 230, 150, 12)
    rag_mask = poly_mask((W, H), [rag])

    def propose(r: random.Random) -> tuple[Any, np.ndarray]:
        cx, cy = r.uniform(40, W - 40), r.uniform(40, H - 40)
        ang = r.uniform(0, 360)
        length = r.uniform(60, 90)
        a = math.radians(ang)
        hx, hy = cx - math.cos(a) * length / 2, cy - math.sin(a) * length / 2
        head = rect_poly(hx, hy, 16, 26, ang)
        shank = rect_poly(cx + math.cos(a) * 6, cy + math.sin(a) * 6, length - 4, 12, ang)
        return (head, shank, ang), poly_mask((W, H), [head, shank])

    bolts = place_with_visibility(rng, n, propose, 0.5, occluders=[rag_mask])
    d = ImageDraw.Draw(img)
    for head, shank, _ang in bolts:
        d.polygon(shank, fill=(176, 178, 184), outline=(90, 90, 96), width=1)
        d.polygon(head, fill=(150, 152, 160), outline=(70, 70, 76), width=2)
    d.polygon(rag, fill=(150, 40, 36), outline=(110, 30, 28), width=2)
    path = suite.image(FOLDER, "bolts_with_rag", img)
    return [
        case(
            "bolts-partly-covered",
            path,
            "How many bolts are on the workbench, counting those partly hidden under the red "
            "cloth? Answer with a number.",
            {"count": n},
            [f"There are {n} bolts.", f"{n} bolts (a few are partly under the cloth).", f"{n}"],
            [f"There are {n + 3} bolts.", "I see 20 bolts."],
        )
    ]


def _bottles(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(303)
    per_shelf = [9, 10, 8]
    img = Image.new("RGB", (W, H), (236, 232, 224))
    d = ImageDraw.Draw(img)
    caps = {"red": (200, 30, 30), "blue": (40, 70, 190), "white": (245, 245, 245)}
    colors = ["red"] * 11 + ["blue"] * 9 + ["white"] * 7
    rng.shuffle(colors)
    k = 0
    shelf_h = H // 3
    for s, count in enumerate(per_shelf):
        base = (s + 1) * shelf_h - 10
        d.rectangle((0, base, W, base + 10), fill=(120, 82, 50))
        bw = 40
        x = rng.randint(20, 60)
        for _ in range(count):
            bh = rng.randint(96, 118)
            top = base - bh
            glass = (60 + rng.randint(0, 20), 120 + rng.randint(0, 20), 70)
            d.rectangle((x, top + 34, x + bw, base), fill=glass, outline=(30, 60, 35))
            d.polygon(
                [(x, top + 34), (x + 12, top + 14), (x + bw - 12, top + 14), (x + bw, top + 34)],
                fill=glass,
                outline=(30, 60, 35),
            )
            d.rectangle((x + 13, top + 4, x + bw - 13, top + 14), fill=glass)
            d.rectangle(
                (x + 12, top, x + bw - 12, top + 7), fill=caps[colors[k]], outline=(40, 40, 40)
            )
            d.rectangle((x + 4, top + 55, x + bw - 4, top + 80), fill=(238, 226, 190))
            k += 1
            x += bw + rng.randint(1, 8)
    total = sum(per_shelf)
    red = colors.count("red")
    path = suite.image(FOLDER, "bottles_on_shelves", img)
    return [
        case(
            "bottles-on-shelves",
            path,
            "How many bottles are on the shelves in total? Answer with a number.",
            {"count": total},
            [f"There are {total} bottles.", f"{total}", f"Total: {total} bottles"],
            [f"There are {total - 1} bottles.", "I count 24 bottles."],
        ),
        case(
            "red-capped-bottles",
            path,
            "How many bottles have a red cap? Answer with a number.",
            {"count": red},
            [f"{red} bottles have a red cap.", f"{red}"],
            [f"{red + 2} bottles have red caps.", f"{total}"],
        ),
    ]


def _pills(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(404)
    n = 41
    img = Image.new("RGB", (W, H), (40, 90, 150))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((30, 30, W - 30, H - 30), radius=24, fill=(230, 232, 236))

    def propose(r: random.Random) -> tuple[Any, np.ndarray]:
        cx, cy = r.uniform(60, W - 60), r.uniform(60, H - 60)
        poly = rect_poly(cx, cy, 38, 18, r.uniform(0, 180))
        return poly, poly_mask((W, H), [poly])

    pills = place_with_visibility(rng, n, propose, 0.7)
    for poly in pills:
        d.polygon(poly, fill=(250, 250, 246), outline=(150, 150, 150), width=2)
    path = suite.image(FOLDER, "pills_tray", img)
    return [
        case(
            "pills-on-tray",
            path,
            "How many pills are on the tray? Answer with a number.",
            {"count": {"value": n, "tolerance": 1}},
            [f"There are {n} pills.", f"{n - 1}", f"About {n + 1} pills."],
            [f"There are {n - 4} pills.", "30 pills"],
        )
    ]


def _shapes(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(505)
    img = Image.new("RGB", (W, H), (250, 250, 250))
    d = ImageDraw.Draw(img)
    kinds = (
        ["blue-triangle"] * 9
        + ["blue-circle"] * 7
        + ["red-triangle"] * 7
        + ["purple-triangle"] * 6
        + ["blue-square"] * 6
        + ["green-triangle"] * 5
    )
    rng.shuffle(kinds)
    cols = {
        "blue": (30, 80, 220),
        "red": (220, 40, 40),
        "purple": (120, 50, 170),
        "green": (40, 160, 60),
    }
    cells = [(c, r) for r in range(6) for c in range(8)]
    rng.shuffle(cells)
    for kind, (c, r) in zip(kinds, cells[: len(kinds)], strict=True):
        colour, shape = kind.split("-")
        cx = 40 + c * 80 + rng.randint(-12, 12)
        cy = 40 + r * 80 + rng.randint(-12, 12)
        rad = rng.randint(20, 28)
        if shape == "circle":
            d.ellipse((cx - rad, cy - rad, cx + rad, cy + rad), fill=cols[colour])
        elif shape == "square":
            d.rectangle((cx - rad + 4, cy - rad + 4, cx + rad - 4, cy + rad - 4), fill=cols[colour])
        else:
            d.polygon(regular_polygon(cx, cy, rad, 3, rng.uniform(-40, 40)), fill=cols[colour])
    n = kinds.count("blue-triangle")
    path = suite.image(FOLDER, "mixed_shapes", img)
    return [
        case(
            "blue-triangles",
            path,
            "How many blue triangles are there? Do not count purple triangles or blue shapes "
            "that are not triangles. Answer with a number.",
            {"count": n},
            [f"There are {n} blue triangles.", f"{n}"],
            [f"There are {n + 6} blue triangles.", "I count 7 blue triangles."],
        )
    ]


def _washers(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(606)
    n_wash, n_nut = 14, 12
    img = noise_background(606, (W, H), (70, 72, 76), 4)
    kinds = ["washer"] * n_wash + ["nut"] * n_nut
    rng.shuffle(kinds)
    it = iter(kinds)

    def propose(r: random.Random) -> tuple[Any, np.ndarray]:
        rad = r.randint(22, 30)
        cx, cy = r.randint(40, W - 40), r.randint(40, H - 40)
        return (cx, cy, rad, r.uniform(0, 60)), shape_mask((W, H), "hexagon", cx, cy, rad)

    placed = place_with_visibility(rng, len(kinds), propose, 0.75)
    d = ImageDraw.Draw(img)
    for (cx, cy, rad, rot), kind in zip(placed, it, strict=True):
        if kind == "washer":
            d.ellipse(
                (cx - rad, cy - rad, cx + rad, cy + rad),
                fill=(200, 200, 206),
                outline=(120, 120, 126),
                width=2,
            )
        else:
            d.polygon(
                regular_polygon(cx, cy, rad, 6, rot),
                fill=(170, 172, 160),
                outline=(100, 100, 96),
                width=2,
            )
        hole = rad * 0.45
        d.ellipse(
            (cx - hole, cy - hole, cx + hole, cy + hole),
            fill=(70, 72, 76),
            outline=(60, 60, 60),
            width=1,
        )
    path = suite.image(FOLDER, "washers_and_nuts", img)
    return [
        case(
            "washers-among-nuts",
            path,
            "How many round washers are there? Do not count the hexagonal nuts. "
            "Answer with a number.",
            {"count": n_wash},
            [f"There are {n_wash} washers.", f"{n_wash} washers"],
            [f"There are {n_wash + n_nut} washers.", f"{n_nut}"],
        )
    ]


def _cups_grid(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(707)
    cols, rows = 8, 6
    missing = set(rng.sample(range(cols * rows), 5))
    img = Image.new("RGB", (W, H), (210, 190, 160))
    d = ImageDraw.Draw(img)
    for i in range(cols * rows):
        r, c = divmod(i, cols)
        cx, cy = 50 + c * 77, 45 + r * 78
        d.ellipse((cx - 30, cy - 30, cx + 30, cy + 30), fill=(190, 170, 140))  # coaster
        if i in missing:
            continue
        d.ellipse(
            (cx - 25, cy - 25, cx + 25, cy + 25),
            fill=(250, 250, 250),
            outline=(140, 140, 140),
            width=2,
        )
        d.ellipse((cx - 17, cy - 17, cx + 17, cy + 17), fill=(90, 55, 30))
    n = cols * rows - len(missing)
    path = suite.image(FOLDER, "cups_grid", img)
    return [
        case(
            "cups-in-grid-with-gaps",
            path,
            "How many cups of coffee are on the table? Empty coasters do not count. "
            "Answer with a number.",
            {"count": n},
            [f"There are {n} cups.", f"{n}"],
            [f"There are {cols * rows} cups.", f"{n + 1} cups"],
        )
    ]


def _dice(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(808)
    img = Image.new("RGB", (W, H), (20, 110, 60))
    d = ImageDraw.Draw(img)
    pip_pos = {
        1: [(0, 0)],
        2: [(-1, -1), (1, 1)],
        3: [(-1, -1), (0, 0), (1, 1)],
        4: [(-1, -1), (1, -1), (-1, 1), (1, 1)],
        5: [(-1, -1), (1, -1), (0, 0), (-1, 1), (1, 1)],
        6: [(-1, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (1, 1)],
    }
    values = [rng.randint(1, 6) for _ in range(6)]
    spots = [(110, 130), (300, 110), (500, 150), (160, 340), (350, 320), (530, 360)]
    for v, (cx, cy) in zip(values, spots, strict=True):
        cx += rng.randint(-15, 15)
        cy += rng.randint(-15, 15)
        d.rounded_rectangle(
            (cx - 45, cy - 45, cx + 45, cy + 45),
            radius=12,
            fill=(248, 248, 244),
            outline=(150, 150, 150),
            width=2,
        )
        for px, py in pip_pos[v]:
            x, y = cx + px * 25, cy + py * 25
            d.ellipse((x - 8, y - 8, x + 8, y + 8), fill=(20, 20, 20))
    total = sum(values)
    path = suite.image(FOLDER, "dice", img)
    return [
        case(
            "dice-pip-total",
            path,
            "What is the total number of pips showing on all the dice? Answer with a number.",
            {"number": {"value": total}},
            [f"The total is {total}.", f"{total}", f"Sum of pips = {total}"],
            [f"The total is {total - 3}.", f"{total + 1}"],
        )
    ]


def _tally(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(909)
    total = 23
    img = Image.new("RGB", (W, 240), (245, 242, 230))
    d = ImageDraw.Draw(img)
    x = 30
    left = total
    while left > 0:
        g = min(5, left)
        xs = []
        for i in range(min(g, 4)):
            xx = x + i * 16 + rng.randint(-2, 2)
            d.line(
                [
                    (xx, 70 + rng.randint(-4, 4)),
                    (xx + rng.randint(-3, 3), 170 + rng.randint(-4, 4)),
                ],
                fill=(30, 30, 120),
                width=4,
            )
            xs.append(xx)
        if g == 5:
            d.line([(x - 8, 150), (xs[-1] + 10, 90)], fill=(30, 30, 120), width=4)
        left -= g
        x += 110
    path = suite.image(FOLDER, "tally_marks", img)
    return [
        case(
            "tally-marks",
            path,
            "Each stroke is one tally mark (a diagonal stroke across four strokes is the fifth). "
            "How many tally marks are there in total? Answer with a number.",
            {"count": total},
            [f"There are {total} tally marks.", f"{total}"],
            [f"There are {total - 4} tally marks.", "20"],
        )
    ]


def _screws_detect(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(1001)
    img = noise_background(1001, (W, H), (160, 164, 170), 3, horizontal=True)
    d = ImageDraw.Draw(img)
    cells = [(c, r) for r in range(4) for c in range(6)]
    rng.shuffle(cells)
    screws: list[Box] = []
    for k, (c, r) in enumerate(cells[:12]):
        cx = 60 + c * 104 + rng.randint(-20, 20)
        cy = 60 + r * 112 + rng.randint(-20, 20)
        rad = 16
        if k < 7:  # a screw: domed head with a cross slot
            d.ellipse(
                (cx - rad, cy - rad, cx + rad, cy + rad),
                fill=(200, 196, 150),
                outline=(100, 96, 60),
                width=2,
            )
            d.line([(cx - 9, cy), (cx + 9, cy)], fill=(80, 76, 50), width=3)
            d.line([(cx, cy - 9), (cx, cy + 9)], fill=(80, 76, 50), width=3)
            screws.append([cx - rad, cy - rad, cx + rad, cy + rad])
        else:  # an empty threaded hole: a distractor
            d.ellipse(
                (cx - 9, cy - 9, cx + 9, cy + 9),
                fill=(40, 40, 44),
                outline=(110, 110, 116),
                width=2,
            )
    screws.sort()
    path = suite.image(FOLDER, "plate_screws", img)
    near = [shift_box(b, 2, -1) for b in screws]
    return [
        case(
            "locate-screws",
            path,
            "Locate every screw on the metal plate. Ignore the empty holes.",
            {"boxes": {"boxes": screws, "iou": 0.5, "min_f1": 0.8}},
            [f"```json\n{boxes_json(near)}\n```", boxes_json(screws)],
            [boxes_json(screws[:3]), boxes_json([shift_box(b, 40, 40) for b in screws])],
            task="detection",
            box_format="xyxy_px",
        )
    ]


def _parking(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(1102)
    img = Image.new("RGB", (W, H), (96, 98, 100))
    d = ImageDraw.Draw(img)
    slots: list[tuple[int, int]] = []
    for row_y in (40, 265):
        for i in range(12):
            x = 14 + i * 52
            d.line([(x, row_y), (x, row_y + 175)], fill=(235, 235, 235), width=2)
            slots.append((x, row_y))
        d.line([(14 + 12 * 52, row_y), (14 + 12 * 52, row_y + 175)], fill=(235, 235, 235), width=2)
    filled = sorted(rng.sample(range(len(slots)), 19))
    palette = [
        (200, 30, 30),
        (240, 240, 240),
        (30, 30, 30),
        (40, 80, 180),
        (150, 150, 150),
        (220, 200, 40),
    ]
    for i in filled:
        x, y = slots[i]
        col = rng.choice(palette)
        d.rounded_rectangle(
            (x + 7, y + 20, x + 45, y + 150), radius=10, fill=col, outline=(20, 20, 20)
        )
        d.rectangle((x + 11, y + 45, x + 41, y + 65), fill=(120, 170, 200))
        d.rectangle((x + 11, y + 115, x + 41, y + 130), fill=(120, 170, 200))
    # Tree crowns hide parts of a few cars (never more than about half of one).
    for cx, cy in ((150, 215), (420, 230), (560, 60)):
        d.ellipse(
            (cx - 45, cy - 45, cx + 45, cy + 45), fill=(40, 120, 50), outline=(30, 90, 40), width=3
        )
    path = suite.image(FOLDER, "parking_lot", img)
    n = len(filled)
    return [
        case(
            "cars-in-parking-lot",
            path,
            "This is a top-down view of a parking lot. How many cars are parked, including any "
            "partly hidden by trees? Answer with a number.",
            {"count": n},
            [f"There are {n} cars parked.", f"{n}"],
            [f"There are {n - 2} cars.", "24 cars"],
        )
    ]


def build(suite: Suite) -> None:
    ef = suite.new_file(FOLDER, "dense_and_occluded", "vqa", ["counting", "dense"])
    for fn in (_coins, _bolts, _bottles, _pills, _shapes, _washers, _parking):
        for c in fn(suite):
            ef.add(c)
    ef2 = suite.new_file(FOLDER, "structured_counts", "vqa", ["counting"])
    for fn in (_cups_grid, _dice, _tally, _screws_detect):
        for c in fn(suite):
            ef2.add(c)
