"""Defect Detection: subtle defects (scratch, crack, missing part, misalignment) to find,
classify and localise, with defect-free control images."""

from __future__ import annotations

import math
import random
from typing import Any

from PIL import Image, ImageDraw

from suitegen.core import (
    Box,
    Point,
    Suite,
    bbox_of,
    box_json,
    boxes_json,
    case,
    center,
    noise_background,
    pad_box,
    rect_poly,
    shift_box,
)

FOLDER = "defect_detection"
W, H = 640, 480


# -- circuit boards -------------------------------------------------------------------------


def _board_layout(seed: int) -> list[tuple[str, Box]]:
    """Footprints (kind, silkscreen box) of a small PCB."""
    rng = random.Random(seed)
    parts: list[tuple[str, Box]] = []
    for k in range(3):  # chips along the top
        x = 70 + k * 180 + rng.randint(-10, 10)
        parts.append(("chip", [x, 60, x + 110, 140]))
    for r in range(2):  # resistor rows
        for k in range(6):
            x = 60 + k * 90 + rng.randint(-6, 6)
            y = 200 + r * 70
            parts.append(("resistor", [x, y, x + 56, y + 26]))
    for k in range(5):  # electrolytic capacitors
        x = 80 + k * 110 + rng.randint(-8, 8)
        parts.append(("capacitor", [x, 360, x + 52, 412]))
    return parts


def _draw_board(parts: list[tuple[str, Box]], missing: int | None) -> Image.Image:
    img = Image.new("RGB", (W, H), (18, 94, 48))
    d = ImageDraw.Draw(img)
    d.rectangle((8, 8, W - 9, H - 9), outline=(200, 200, 170), width=2)
    for i, (kind, (x1, y1, x2, y2)) in enumerate(parts):
        d.rectangle((x1 - 4, y1 - 4, x2 + 4, y2 + 4), outline=(235, 235, 225), width=1)
        if kind == "chip":
            for k in range(8):
                px = x1 + 8 + k * 13
                d.rectangle((px, y1 - 12, px + 6, y1), fill=(200, 200, 205))
                d.rectangle((px, y2, px + 6, y2 + 12), fill=(200, 200, 205))
            if i != missing:
                d.rectangle((x1, y1, x2, y2), fill=(30, 30, 34))
                d.ellipse((x1 + 6, y1 + 6, x1 + 14, y1 + 14), fill=(70, 70, 74))
        elif kind == "resistor":
            d.rectangle((x1, y1 + 5, x1 + 12, y2 - 5), fill=(200, 200, 205))  # pads
            d.rectangle((x2 - 12, y1 + 5, x2, y2 - 5), fill=(200, 200, 205))
            if i != missing:
                d.rounded_rectangle(
                    (x1 + 6, y1 + 2, x2 - 6, y2 - 2),
                    radius=6,
                    fill=(214, 190, 140),
                    outline=(120, 100, 70),
                )
                for b, col in enumerate([(150, 60, 20), (20, 20, 20), (200, 30, 30)]):
                    bx = x1 + 18 + b * 8
                    d.rectangle((bx, y1 + 2, bx + 4, y2 - 2), fill=col)
        else:  # capacitor
            d.rectangle((x1 + 14, y2 - 6, x1 + 22, y2 + 2), fill=(200, 200, 205))
            d.rectangle((x2 - 22, y2 - 6, x2 - 14, y2 + 2), fill=(200, 200, 205))
            if i != missing:
                d.ellipse((x1, y1, x2, y2), fill=(40, 60, 150), outline=(20, 20, 60), width=2)
                d.pieslice((x1, y1, x2, y2), 300, 360, fill=(200, 200, 220))
    return img


def _pcb(suite: Suite) -> list[dict[str, Any]]:
    parts = _board_layout(2101)
    rng = random.Random(2102)
    resistors = [i for i, (k, _) in enumerate(parts) if k == "resistor"]
    miss = rng.choice(resistors)
    fp = pad_box(parts[miss][1], 4, W, H)
    other = pad_box(parts[resistors[0] if resistors[0] != miss else resistors[1]][1], 4, W, H)
    p_missing = suite.image(FOLDER, "pcb_missing_resistor", _draw_board(parts, miss))
    p_ok = suite.image(FOLDER, "pcb_complete", _draw_board(_board_layout(2201), None))
    return [
        case(
            "pcb-missing-component-box",
            p_missing,
            "One component is missing from this circuit board. Locate its empty footprint.",
            {"box": {"box": fp, "min_iou": 0.3}},
            [box_json(shift_box(fp, 3, 2)), f"```json\n{box_json(fp)}\n```"],
            [box_json(other), "[40, 40, 600, 440]"],
            task="detection",
            box_format="xyxy_px",
        ),
        case(
            "pcb-missing-component-kind",
            p_missing,
            "One component is missing from this circuit board. What kind of component is it: "
            "chip, resistor or capacitor?",
            {
                "label": {
                    "label": "resistor",
                    "synonyms": ["resistors", "smd resistor"],
                    "forbidden": ["capacitor", "chip"],
                }
            },
            ["A resistor.", "The missing part is a resistor (bottom footprint is empty)."],
            ["A capacitor.", "One of the chips."],
            task="classification",
        ),
        case(
            "pcb-complete-no-defect",
            p_ok,
            "Inspect this circuit board. Is any component missing? Answer yes or no.",
            {"yes_no": "no"},
            ["No.", "No, every footprint is populated."],
            ["Yes.", "Yes, a resistor is missing."],
        ),
        case(
            "pcb-missing-yes",
            p_missing,
            "Inspect this circuit board. Is any component missing? Answer yes or no.",
            {"yes_no": "yes"},
            ["Yes.", "Yes - one resistor footprint is empty."],
            ["No.", "No, all components are present."],
        ),
    ]


def _pcb_two_defects(suite: Suite) -> list[dict[str, Any]]:
    parts = _board_layout(2301)
    caps = [i for i, (k, _) in enumerate(parts) if k == "capacitor"]
    res = [i for i, (k, _) in enumerate(parts) if k == "resistor"]
    missing, burnt = caps[3], res[2]
    img = _draw_board(parts, missing)
    d = ImageDraw.Draw(img)
    x1, y1, x2, y2 = parts[burnt][1]
    scorch: list[Point] = [
        (x1 + 14, y1 - 3),
        (x1 + 30, y1 - 7),
        (x2 - 6, y1 + 2),
        (x2 - 4, y2 + 1),
        (x1 + 28, y2 + 7),
        (x1 + 8, y2 + 2),
    ]
    d.polygon(scorch, fill=(58, 38, 22))
    d.ellipse((x1 + 22, y1 + 6, x1 + 34, y2 - 6), fill=(25, 18, 12))
    mb = pad_box(parts[missing][1], 4, W, H)
    bb = pad_box(bbox_of(scorch), 2, W, H)
    expected = [{"box": mb, "label": "missing component"}, {"box": bb, "label": "burn mark"}]
    path = suite.image(FOLDER, "pcb_two_defects", img)

    def ans(items: list[tuple[str, list[int]]]) -> str:
        body = ", ".join(f'{{"label": "{lab}", "box": {box_json(b)}}}' for lab, b in items)
        return f"```json\n[{body}]\n```"

    other_cap = pad_box(parts[caps[0]][1], 4, W, H)
    return [
        case(
            "pcb-two-defects-labelled",
            path,
            "This circuit board has two defects: a missing component and a burn mark. Locate "
            "each defect and label it 'missing component' or 'burn mark'.",
            {
                "boxes": {
                    "boxes": expected,
                    "iou": 0.3,
                    "min_recall": 1.0,
                    "synonyms": {
                        "missing component": [
                            "missing part",
                            "missing capacitor",
                            "empty footprint",
                        ],
                        "burn mark": ["burn", "scorch mark", "burnt resistor", "burned component"],
                    },
                }
            },
            [
                ans([("missing component", shift_box(mb, 2, 2)), ("burn mark", bb)]),
                ans([("burnt resistor", bb), ("missing capacitor", mb)]),
            ],
            [
                ans([("missing component", bb), ("burn mark", mb)]),
                ans([("missing component", other_cap), ("burn mark", bb)]),
            ],
            task="detection",
            box_format="xyxy_px",
        )
    ]


def _solder_bridge(suite: Suite) -> list[dict[str, Any]]:
    img = Image.new("RGB", (W, H), (18, 94, 48))
    d = ImageDraw.Draw(img)
    chip = (170, 150, 470, 330)
    d.rectangle(chip, fill=(30, 30, 34))
    pins: list[Box] = []
    for k in range(14):
        px = 184 + k * 20
        for y1, y2 in ((118, 150), (330, 362)):
            d.rectangle((px, y1, px + 9, y2), fill=(205, 205, 210))
            d.rectangle(
                (px - 2, y1 - 10 if y1 < 200 else y2, px + 11, y1 if y1 < 200 else y2 + 10),
                fill=(190, 190, 180),
            )
            pins.append([px, y1, px + 9, y2])
    k = 9  # the bridge joins bottom pins 9 and 10
    bx = 184 + k * 20
    blob: list[Point] = [
        (bx + 4, 344),
        (bx + 12, 339),
        (bx + 24, 341),
        (bx + 28, 350),
        (bx + 20, 358),
        (bx + 6, 356),
    ]
    d.polygon(blob, fill=(215, 215, 205), outline=(160, 160, 150))
    truth = pad_box(bbox_of(blob), 3, W, H)
    path = suite.image(FOLDER, "solder_bridge", img)
    return [
        case(
            "solder-bridge-box",
            path,
            "Two neighbouring pins of this chip are shorted by a solder bridge. Locate the "
            "solder bridge.",
            {"box": {"box": truth, "min_iou": 0.3}},
            [box_json(shift_box(truth, 1, 2))],
            [box_json(shift_box(truth, -120, 0)), box_json([bx, 118, bx + 30, 150])],
            task="detection",
            box_format="xyxy_px",
        )
    ]


# -- surfaces -----------------------------------------------------------------------------


def _jagged(rng: random.Random, start: Point, end: Point, steps: int, jitter: float) -> list[Point]:
    out: list[Point] = []
    for k in range(steps + 1):
        t = k / steps
        x = start[0] + (end[0] - start[0]) * t
        y = start[1] + (end[1] - start[1]) * t
        if 0 < k < steps:
            x += rng.uniform(-jitter, jitter)
            y += rng.uniform(-jitter, jitter)
        out.append((x, y))
    return out


def _scratches(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(2301)
    img = noise_background(2301, (W, H), (168, 170, 174), 4, horizontal=True)
    d = ImageDraw.Draw(img)
    a = (rng.uniform(120, 200), rng.uniform(100, 160))
    b = (a[0] + 170, a[1] + 120)
    line = _jagged(rng, a, b, 12, 1.5)
    d.line(line, fill=(205, 207, 212), width=2)
    d.line([(p[0] + 1, p[1] + 2) for p in line], fill=(120, 122, 128), width=1)
    truth = pad_box(bbox_of(line), 4, W, H)
    one = suite.image(FOLDER, "metal_scratch", img)

    img2 = noise_background(2302, (W, H), (168, 170, 174), 4, horizontal=True)
    d2 = ImageDraw.Draw(img2)
    many: list[Box] = []
    for x, y, dx, dy in ((80, 90, 110, 30), (390, 70, 60, 120), (230, 330, 150, -40)):
        seg = _jagged(rng, (x, y), (x + dx, y + dy), 10, 1.2)
        d2.line(seg, fill=(206, 208, 214), width=2)
        d2.line([(p[0] + 1, p[1] + 2) for p in seg], fill=(118, 120, 126), width=1)
        many.append(pad_box(bbox_of(seg), 4, W, H))
    three = suite.image(FOLDER, "metal_three_scratches", img2)
    wrong_far = [shift_box(b, 0, 200 if b[1] < 200 else -200) for b in many]
    return [
        case(
            "scratch-box",
            one,
            "This brushed metal plate has a thin scratch. Locate it.",
            {"box": {"box": truth, "min_iou": 0.4}},
            [box_json(shift_box(truth, 2, 3)), f"The scratch is at {box_json(truth)}."],
            [box_json(shift_box(truth, 250, 150)), "[0, 0, 640, 480]"],
            task="detection",
            box_format="xyxy_px",
        ),
        case(
            "scratch-defect-kind",
            one,
            "What kind of surface defect does this metal plate have: scratch, dent, crack, "
            "stain or none?",
            {
                "label": {
                    "label": "scratch",
                    "synonyms": ["scratched", "scratches"],
                    "forbidden": ["dent", "stain", "none"],
                }
            },
            ["Scratch.", "There is a thin diagonal scratch on the plate."],
            ["Dent.", "None - the plate looks clean."],
            task="classification",
        ),
        case(
            "three-scratches-boxes",
            three,
            "Locate every scratch on this metal plate.",
            {"boxes": {"boxes": many, "iou": 0.3, "min_recall": 0.66, "min_precision": 0.66}},
            [boxes_json([shift_box(b, 2, -2) for b in many]), boxes_json(many[:2])],
            [boxes_json(wrong_far), boxes_json(many[:1])],
            task="detection",
            box_format="xyxy_px",
        ),
    ]


def _tile(seed: int, crack: bool) -> tuple[Image.Image, Box | None]:
    rng = random.Random(seed)
    img = noise_background(seed, (W, H), (226, 220, 204), 3)
    d = ImageDraw.Draw(img)
    for x in (0, 213, 426, 639):  # grout lines: a 3x2 tile pattern
        d.line([(x, 0), (x, H)], fill=(170, 165, 155), width=5)
    for y in (0, 240, 479):
        d.line([(0, y), (W, y)], fill=(170, 165, 155), width=5)
    if not crack:
        return img, None
    start = (rng.uniform(250, 300), rng.uniform(30, 60))
    pts = _jagged(rng, start, (start[0] + 110, start[1] + 160), 16, 5)
    d.line(pts, fill=(128, 122, 112), width=1)
    return img, pad_box(bbox_of(pts), 4, W, H)


def _cracks(suite: Suite) -> list[dict[str, Any]]:
    img, truth = _tile(2401, True)
    assert truth is not None
    cracked = suite.image(FOLDER, "tile_hairline_crack", img)
    ok_img, _ = _tile(2402, False)
    clean = suite.image(FOLDER, "tile_clean", ok_img)
    return [
        case(
            "hairline-crack-box",
            cracked,
            "One of these ceramic tiles has a hairline crack. Locate the crack.",
            {"box": {"box": truth, "min_iou": 0.3}},
            [box_json(shift_box(truth, -3, 2))],
            [box_json([20, 262, 139, 431]), box_json([0, 0, 213, 240])],
            task="detection",
            box_format="xyxy_px",
        ),
        case(
            "tile-clean-no-crack",
            clean,
            "Is any of these ceramic tiles cracked? Answer yes or no.",
            {"yes_no": "no"},
            ["No.", "No, all tiles are intact."],
            ["Yes.", "Yes, the middle tile has a crack."],
        ),
        case(
            "tile-cracked-yes",
            cracked,
            "Is any of these ceramic tiles cracked? Answer yes or no.",
            {"yes_no": "yes"},
            ["Yes.", "Yes - a thin crack runs across the top middle tile."],
            ["No.", "No, the tiles look fine."],
        ),
    ]


# -- assemblies ------------------------------------------------------------------------------


def _labels(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(2501)
    img = Image.new("RGB", (W, H), (232, 236, 240))
    d = ImageDraw.Draw(img)
    bad = rng.randrange(1, 5)  # 0-based index of the misaligned label
    label_box: Box = [0, 0, 0, 0]
    for k in range(6):
        x = 40 + k * 98
        d.rectangle((x + 30, 90, x + 50, 130), fill=(60, 100, 60))  # neck
        d.rectangle((x + 28, 80, x + 52, 92), fill=(200, 200, 200))  # cap
        d.rounded_rectangle(
            (x, 130, x + 80, 420), radius=16, fill=(70, 120, 70), outline=(40, 70, 40)
        )
        cx, cy, ang = x + 40, 260, 0.0
        if k == bad:
            cy, ang = 274, 7.0  # shifted down and slightly rotated
        poly = rect_poly(cx, cy, 72, 90, ang)
        d.polygon(poly, fill=(245, 240, 220), outline=(120, 110, 90))
        d.line([(cx - 24, cy - 10), (cx + 24, cy - 10)], fill=(180, 40, 40), width=4)
        if k == bad:
            label_box = bbox_of(poly)
    path = suite.image(FOLDER, "misaligned_label", img)
    pos = bad + 1
    ordinals = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth"}
    return [
        case(
            "misaligned-label-position",
            path,
            "One bottle has a misaligned label. Which bottle is it, counting from the left "
            "(1-6)? Answer with a number.",
            {"number": {"value": pos}},
            [f"Bottle {pos}.", f"{pos}"],
            [f"Bottle {pos + 1}.", f"{pos - 1}"],
        ),
        case(
            "misaligned-label-box",
            path,
            "Locate the misaligned label on the bottles.",
            {"box": {"box": label_box, "min_iou": 0.5}},
            [box_json(shift_box(label_box, 2, 2))],
            [box_json(shift_box(label_box, 98, -14))],
            task="detection",
            box_format="xyxy_px",
        ),
        case(
            "misaligned-label-ordinal",
            path,
            "Which bottle has a misaligned label? Answer with an ordinal word such as "
            "'first' or 'second', counting from the left.",
            {
                "one_of": {
                    "values": [
                        ordinals[pos],
                        f"{ordinals[pos]} bottle",
                        f"the {ordinals[pos]} bottle",
                    ]
                }
            },
            [ordinals[pos].capitalize(), f"The {ordinals[pos]} bottle."],
            [ordinals[pos + 1], f"The {ordinals[pos - 1]} bottle."],
        ),
    ]


def _missing_screw(suite: Suite) -> list[dict[str, Any]]:
    img = noise_background(2601, (W, H), (150, 154, 160), 3, horizontal=True)
    d = ImageDraw.Draw(img)
    d.rounded_rectangle(
        (60, 50, 580, 430), radius=18, fill=(190, 194, 200), outline=(90, 92, 96), width=3
    )
    d.rectangle((200, 170, 440, 310), fill=(40, 44, 50))  # a display window
    corners = {
        "top left": (100, 90),
        "top right": (540, 90),
        "bottom left": (100, 390),
        "bottom right": (540, 390),
    }
    missing = "bottom left"
    hole: Box = [0, 0, 0, 0]
    for name, (cx, cy) in corners.items():
        if name == missing:
            d.ellipse(
                (cx - 7, cy - 7, cx + 7, cy + 7),
                fill=(30, 30, 30),
                outline=(120, 120, 120),
                width=2,
            )
            hole = [cx - 14, cy - 14, cx + 14, cy + 14]
            continue
        d.ellipse(
            (cx - 14, cy - 14, cx + 14, cy + 14),
            fill=(170, 172, 176),
            outline=(80, 80, 84),
            width=2,
        )
        d.line([(cx - 8, cy), (cx + 8, cy)], fill=(60, 60, 60), width=3)
        d.line([(cx, cy - 8), (cx, cy + 8)], fill=(60, 60, 60), width=3)
    path = suite.image(FOLDER, "panel_missing_screw", img)
    hx, hy = center(hole)
    return [
        case(
            "missing-screw-corner",
            path,
            "This panel should have a screw in each corner. Which corner is missing its screw?",
            {
                "label": {
                    "label": "bottom left",
                    "synonyms": ["bottom-left", "lower left", "lower-left", "left bottom"],
                    "forbidden": ["top", "upper", "right"],
                }
            },
            ["The bottom left corner.", "Bottom-left"],
            ["The top left corner.", "Bottom right."],
            task="classification",
        ),
        case(
            "missing-screw-point",
            path,
            "Point at the screw hole that has no screw.",
            {"point": {"box": hole}},
            [f"[{hx + 2}, {hy - 1}]"],
            [f"[{hx + 440}, {hy}]", f"[{hx}, {hy - 300}]"],
            task="detection",
            box_format="xyxy_px",
        ),
    ]


def _blister(suite: Suite) -> list[dict[str, Any]]:
    img = Image.new("RGB", (W, H), (60, 70, 90))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle(
        (70, 90, 570, 390), radius=16, fill=(205, 208, 212), outline=(150, 150, 155), width=2
    )
    empty_rc = (1, 3)
    truth: Box = [0, 0, 0, 0]
    for r in range(2):
        for c in range(5):
            cx, cy = 130 + c * 95, 175 + r * 130
            box = (cx - 34, cy - 42, cx + 34, cy + 42)
            if (r, c) == empty_rc:  # torn foil, no tablet
                d.rounded_rectangle(
                    box, radius=30, fill=(150, 152, 158), outline=(100, 100, 106), width=2
                )
                d.line(
                    [(cx - 20, cy - 10), (cx + 5, cy + 6), (cx + 22, cy - 4)],
                    fill=(230, 230, 236),
                    width=2,
                )
                truth = [cx - 34, cy - 42, cx + 34, cy + 42]
                continue
            d.rounded_rectangle(
                box, radius=30, fill=(225, 228, 234), outline=(170, 170, 176), width=2
            )
            d.ellipse(
                (cx - 24, cy - 32, cx + 24, cy + 32), fill=(240, 200, 60), outline=(190, 150, 40)
            )
    path = suite.image(FOLDER, "blister_empty_cell", img)
    return [
        case(
            "blister-empty-cell",
            path,
            "One cell of this blister pack is empty. Locate the empty cell.",
            {"box": {"box": truth, "min_iou": 0.5}},
            [box_json(shift_box(truth, 2, -3))],
            [box_json(shift_box(truth, -95, 0)), box_json(shift_box(truth, 0, -130))],
            task="detection",
            box_format="xyxy_px",
        )
    ]


def _gear(suite: Suite) -> list[dict[str, Any]]:
    img = Image.new("RGB", (W, H), (236, 236, 232))
    d = ImageDraw.Draw(img)
    cx, cy, r_out, r_in, teeth = 320, 240, 170, 145, 18
    broken = 11
    pts: list[Point] = []
    tip: list[Point] = []
    for k in range(teeth):
        a0 = 2 * math.pi * k / teeth
        step = 2 * math.pi / teeth
        ro = r_in + 8 if k == broken else r_out  # a snapped tooth barely rises
        for frac, rr in ((0.0, r_in), (0.15, ro), (0.45, ro), (0.6, r_in)):
            a = a0 + frac * step
            p = (cx + rr * math.cos(a), cy + rr * math.sin(a))
            pts.append(p)
            if k == broken:
                tip.append(p)
        if k == broken:
            for frac in (0.15, 0.45):  # where the whole tooth would have been
                a = a0 + frac * step
                tip.append((cx + r_out * math.cos(a), cy + r_out * math.sin(a)))
    d.polygon(pts, fill=(120, 124, 132), outline=(60, 60, 66))
    d.ellipse(
        (cx - 40, cy - 40, cx + 40, cy + 40), fill=(236, 236, 232), outline=(60, 60, 66), width=3
    )
    truth = pad_box(bbox_of(tip), 6, W, H)
    tx, ty = center(truth)
    opp = (2 * cx - tx, 2 * cy - ty)
    path = suite.image(FOLDER, "gear_broken_tooth", img)
    return [
        case(
            "gear-broken-tooth-point",
            path,
            "One tooth of this gear is broken off. Point at it.",
            {"point": {"box": truth}},
            [f"[{tx}, {ty}]", f"The broken tooth is at ({tx}, {ty})."],
            [f"[{opp[0]}, {opp[1]}]", f"[{cx}, {cy}]"],
            task="detection",
            box_format="xyxy_px",
        )
    ]


def build(suite: Suite) -> None:
    a = suite.new_file(FOLDER, "electronics", "vqa", ["defects", "pcb"])
    for c in _pcb(suite) + _pcb_two_defects(suite) + _solder_bridge(suite):
        a.add(c)
    b = suite.new_file(FOLDER, "surfaces", "vqa", ["defects", "surface"])
    for c in _scratches(suite) + _cracks(suite):
        b.add(c)
    e = suite.new_file(FOLDER, "assembly", "vqa", ["defects", "assembly"])
    for fn in (_labels, _missing_screw, _blister, _gear):
        for c in fn(suite):
            e.add(c)
