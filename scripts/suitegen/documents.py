"""Document Understanding: receipts, invoices and forms with fields to read, plus OCR of
labels, plates and signs (easy, small, rotated)."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from suitegen.core import Suite, case, font

FOLDER = "document_understanding"


def money(cents: int) -> str:
    return f"{cents // 100:,}.{cents % 100:02d}"


def _right(
    d: ImageDraw.ImageDraw, x_right: int, y: int, text: str, size: int, fill: Any = (20, 20, 20)
) -> None:
    w = d.textlength(text, font=font(size))
    d.text((x_right - w, y), text, font=font(size), fill=fill)


def _receipt(suite: Suite) -> list[dict[str, Any]]:
    items = [
        ("Cordless drill 18V", 2, 38900),
        ("Drill bit set 29pc", 1, 4650),
        ("Circular saw 1400W", 1, 21999),
        ("Workbench oak 1.8m", 1, 114900),
        ("Wood screws 4x40 (500)", 3, 1295),
        ("Safety glasses", 2, 899),
    ]
    subtotal = sum(q * p for _, q, p in items)
    tax = round(subtotal * 0.08)
    total = subtotal + tax
    date = "2026-03-14"
    img = Image.new("RGB", (420, 680), (252, 251, 246))
    d = ImageDraw.Draw(img)
    d.text((80, 20), "NORTHWIND HARDWARE", font=font(24), fill=(0, 0, 0))
    d.text((112, 52), "41 Harbour Road, Leeds", font=font(15), fill=(60, 60, 60))
    d.text((24, 90), f"Date: {date}   Time: 16:42", font=font(16), fill=(0, 0, 0))
    d.text((24, 112), "Receipt #: R-558201   Till 3", font=font(16), fill=(0, 0, 0))
    d.line([(20, 140), (400, 140)], fill=(0, 0, 0), width=1)
    y = 152
    for name, qty, price in items:
        d.text((24, y), name, font=font(16), fill=(0, 0, 0))
        d.text((40, y + 20), f"{qty} x {money(price)}", font=font(14), fill=(80, 80, 80))
        _right(d, 396, y + 20, money(qty * price), 16)
        y += 50
    d.line([(20, y), (400, y)], fill=(0, 0, 0), width=1)
    for label, val, size in (("Subtotal", subtotal, 16), ("VAT 8%", tax, 16), ("TOTAL", total, 22)):
        d.text((24, y + 10), label, font=font(size), fill=(0, 0, 0))
        _right(d, 396, y + 10, money(val), size)
        y += 34
    d.text((120, y + 30), "Thank you for shopping!", font=font(15), fill=(60, 60, 60))
    path = suite.image(FOLDER, "receipt_hardware", img)
    tot = money(total)
    wrong_tot = money(total + 900)
    tot_value = total / 100
    date_re = r"(2026-03-14|14[./]03[./]2026|03/14/2026|March 14,? 2026|14 March 2026)"
    return [
        case(
            "receipt-total",
            path,
            "What is the total amount on this receipt (including VAT)? Answer with the number.",
            {"number": {"value": tot_value, "abs_tol": 0.005}},
            [f"The total is {tot}.", f"**TOTAL: {tot}**", f"{tot.replace(',', '')}"],
            [
                f"The total is {wrong_tot}.",
                f"{money(subtotal)}",
                f"{tot.replace(',', '.', 1)[:-3]}",
            ],
        ),
        case(
            "receipt-date",
            path,
            "On what date was this purchase made?",
            {"regex": {"pattern": date_re}},
            [f"It was made on {date}.", "14/03/2026", "March 14, 2026"],
            ["2026-04-14", "It was made on 13 March 2026."],
        ),
        case(
            "receipt-json",
            path,
            "Return the receipt fields as JSON with the keys merchant, date (YYYY-MM-DD), "
            "receipt_number and total (a number).",
            {
                "json": {
                    "fields": {
                        "merchant": {"contains": "Northwind Hardware"},
                        "date": {"equals": date},
                        "receipt_number": {"equals": "R-558201"},
                        "total": {"number": {"value": tot_value, "abs_tol": 0.005}},
                    },
                    "schema": {
                        "type": "object",
                        "required": ["merchant", "date", "receipt_number", "total"],
                    },
                }
            },
            [
                '```json\n{"merchant": "Northwind Hardware", "date": "'
                + date
                + '", "receipt_number": "R-558201", "total": '
                + f"{tot_value:.2f}"
                + "}\n```",
                'Here are the fields: {"merchant": "NORTHWIND HARDWARE", "date": "'
                + date
                + '", "receipt_number": "R-558201", "total": '
                + f"{tot_value:.2f}"
                + ', "currency": "GBP"}',
            ],
            [
                '{"merchant": "Northwind Hardware", "date": "'
                + date
                + '", "receipt_number": "R-558201", "total": '
                + f"{subtotal / 100:.2f}"
                + "}",
                '{"merchant": "Northwind Hardware", "date": "2026-03-41", "total": '
                + f"{tot_value:.2f}"
                + "}",
            ],
        ),
        case(
            "receipt-item-quantity",
            path,
            "How many packs of wood screws were bought? Answer with a number.",
            {"count": 3},
            ["3 packs.", "Three packs of wood screws were bought."],
            ["500", "1 pack."],
        ),
    ]


def _invoice(suite: Suite) -> list[dict[str, Any]]:
    rng = random.Random(3101)
    lines = [
        ("M8 hex bolt, box of 100", 12, 2450),
        ("Flange nut M8, box of 200", 6, 3120),
        ("Steel bracket 90deg", 140, 385),
        ("Torque wrench 20-100Nm", 4, 14999),
        ("Anchor plate 300mm", 25, 27500),
    ]
    total = sum(q * p for _, q, p in lines)
    inv_no = "INV-2026-004817"
    img = Image.new("RGB", (760, 560), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 760, 70), fill=(30, 60, 110))
    d.text((30, 18), "INVOICE", font=font(32), fill=(255, 255, 255))
    d.text((470, 14), "Kestrel Fasteners Ltd", font=font(18), fill=(255, 255, 255))
    d.text((470, 38), "VAT GB 902 4417 21", font=font(14), fill=(220, 220, 230))
    d.text((30, 90), f"Invoice No.: {inv_no}", font=font(16), fill=(0, 0, 0))
    d.text((30, 114), "Invoice date: 2026-10-02", font=font(16), fill=(0, 0, 0))
    d.text((30, 138), "Due date: 2026-11-01", font=font(16), fill=(0, 0, 0))
    d.text((440, 90), "Bill to:", font=font(16), fill=(0, 0, 0))
    d.text((440, 114), "Brightline Cranes plc", font=font(16), fill=(0, 0, 0))
    d.text((440, 138), "Unit 7, Dock Street, Hull", font=font(16), fill=(0, 0, 0))
    y = 190
    d.rectangle((30, y, 730, y + 30), fill=(230, 234, 240))
    for x, head in ((40, "Description"), (400, "Qty"), (480, "Unit price"), (620, "Amount")):
        d.text((x, y + 6), head, font=font(16), fill=(0, 0, 0))
    y += 38
    for name, qty, price in lines:
        d.text((40, y), name, font=font(16), fill=(0, 0, 0))
        _right(d, 430, y, str(qty), 16)
        _right(d, 570, y, money(price), 16)
        _right(d, 720, y, money(qty * price), 16)
        y += 30 + rng.randint(0, 2)
    d.line([(30, y + 4), (730, y + 4)], fill=(0, 0, 0), width=1)
    d.text((480, y + 18), "Total due (GBP)", font=font(18), fill=(0, 0, 0))
    _right(d, 720, y + 18, money(total), 18)
    d.text(
        (30, 500),
        "Payment within 30 days. Late payments incur 2% monthly interest.",
        font=font(13),
        fill=(90, 90, 90),
    )
    path = suite.image(FOLDER, "invoice_fasteners", img)
    t = money(total)
    return [
        case(
            "invoice-number",
            path,
            "What is the invoice number?",
            {"contains": inv_no},
            [f"The invoice number is {inv_no}.", inv_no],
            ["INV-2026-004871", "The invoice number is 2026-004817."],
        ),
        case(
            "invoice-total-due",
            path,
            "What is the total amount due on this invoice?",
            {"number": {"value": total / 100, "abs_tol": 0.005}},
            [f"The total due is GBP {t}.", f"£{t}"],
            [f"The total due is {money(total - 10000)}.", f"{t.replace(',', '')[:-1]}"],
        ),
        case(
            "invoice-bracket-quantity",
            path,
            "How many steel brackets were ordered? Answer with a number.",
            {"count": 140},
            ["140 steel brackets.", "140"],
            ["14", "They ordered 385 brackets."],
        ),
    ]


def _form(suite: Suite) -> list[dict[str, Any]]:
    img = Image.new("RGB", (640, 520), (250, 250, 252))
    d = ImageDraw.Draw(img)
    d.text((30, 20), "HOME INSURANCE CLAIM FORM", font=font(24), fill=(0, 0, 80))
    fields = [
        ("Policy No.", "PN-83-55012-B"),
        ("Policyholder", "Amelia R. Okafor"),
        ("Date of loss", "2026-08-29"),
        ("Estimated loss", "7,350.00"),
    ]
    y = 75
    for label, val in fields:
        d.text((30, y + 6), label, font=font(16), fill=(60, 60, 60))
        d.rectangle((190, y, 600, y + 32), outline=(120, 120, 140), width=1)
        d.text((198, y + 6), val, font=font(17), fill=(10, 30, 120))
        y += 46
    d.text((30, y + 10), "Type of claim (tick all that apply):", font=font(16), fill=(0, 0, 0))
    y += 44
    options = [
        ("Fire", False),
        ("Water damage", True),
        ("Theft", True),
        ("Storm", False),
        ("Accidental damage", False),
    ]
    for k, (opt, ticked) in enumerate(options):
        x = 40 + (k % 3) * 190
        yy = y + (k // 3) * 40
        d.rectangle((x, yy, x + 20, yy + 20), outline=(0, 0, 0), width=2)
        if ticked:
            d.line(
                [(x + 3, yy + 10), (x + 8, yy + 17), (x + 18, yy + 2)], fill=(10, 30, 120), width=3
            )
        d.text((x + 30, yy), opt, font=font(16), fill=(0, 0, 0))
    d.text((30, 470), "Signature: ________________________", font=font(16), fill=(0, 0, 0))
    path = suite.image(FOLDER, "claim_form", img)
    return [
        case(
            "form-policy-number",
            path,
            "What is the policy number on this claim form?",
            {"regex": {"pattern": r"PN-83-55012-B"}},
            ["The policy number is PN-83-55012-B.", "PN-83-55012-B"],
            ["PN-83-55021-B", "The policy number is PN-83-55012."],
        ),
        case(
            "form-ticked-claim-types",
            path,
            "Which claim types are ticked on this form?",
            {
                "all": [
                    {"contains": {"value": ["water damage", "theft"], "all": True, "weight": 2}},
                    {"not": {"regex": r"\b(fire|storm|accidental)\b"}},
                ]
            },
            ["Water damage and Theft.", "The ticked boxes are: Water damage, Theft."],
            ["Water damage only.", "Water damage, Theft and Fire."],
        ),
        case(
            "form-estimated-loss",
            path,
            "What is the estimated loss stated on the form?",
            {"number": {"value": 7350, "abs_tol": 0.005}},
            ["7,350.00", "The estimated loss is 7350."],
            ["7.35", "735.00"],
        ),
    ]


def _text_image(
    lines: list[tuple[str, int]],
    size: tuple[int, int],
    bg: tuple[int, int, int],
    fg: tuple[int, int, int],
    x: int,
    y: int,
    gap: int = 10,
) -> Image.Image:
    img = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(img)
    for text, fsize in lines:
        d.text((x, y), text, font=font(fsize), fill=fg)
        y += fsize + gap
    return img


def _rotated_text(
    text: str,
    fsize: int,
    angle: float,
    canvas: tuple[int, int],
    bg: tuple[int, int, int],
    fg: tuple[int, int, int],
) -> Image.Image:
    f = font(fsize)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    _, _, r, b = probe.textbbox((0, 0), text, font=f)
    layer = Image.new("L", (int(r) + 20, int(b) + 20), 0)
    ImageDraw.Draw(layer).text((10, 10), text, font=f, fill=255)
    layer = layer.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    img = Image.new("RGB", canvas, bg)
    ink = Image.new("RGB", layer.size, fg)
    img.paste(ink, ((canvas[0] - layer.width) // 2, (canvas[1] - layer.height) // 2), layer)
    return img


def _arc_text(text: str, size: int, radius: int, span_deg: float, canvas: int = 480) -> Image.Image:
    """A round seal: one glyph at a time along the top arc (hard for line-based OCR)."""
    ink = (30, 60, 140)
    img = Image.new("RGB", (canvas, canvas), (240, 236, 226))
    d = ImageDraw.Draw(img)
    c = canvas / 2
    d.ellipse(
        (c - radius - 34, c - radius - 34, c + radius + 34, c + radius + 34), outline=ink, width=4
    )
    d.ellipse(
        (c - radius + 20, c - radius + 20, c + radius - 20, c + radius - 20), outline=ink, width=2
    )
    start = -90 - span_deg / 2
    for k, ch in enumerate(text):
        ang = start + span_deg * (k + 0.5) / len(text)
        a = math.radians(ang)
        layer = Image.new("L", (size * 2, size * 2), 0)
        ImageDraw.Draw(layer).text((size, size), ch, font=font(size), fill=255, anchor="mm")
        layer = layer.rotate(-(ang + 90), resample=Image.Resampling.BICUBIC)
        x = c + radius * math.cos(a) - size
        y = c + radius * math.sin(a) - size
        img.paste(Image.new("RGB", layer.size, ink), (round(x), round(y)), layer)
    return img


def _dot_matrix(text: str, size: int, pitch: int) -> Image.Image:
    """Inkjet-style dot-matrix print, as on cans and cartons."""
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    _, _, rf, bf = probe.textbbox((0, 0), text, font=font(size))
    r, b = int(rf), int(bf)
    m = Image.new("L", (r + 10, b + 10), 0)
    ImageDraw.Draw(m).text((5, 5), text, font=font(size), fill=255)
    arr = np.asarray(m)
    img = Image.new("RGB", (r + 50, b + 50), (190, 192, 196))
    d = ImageDraw.Draw(img)
    for y in range(0, arr.shape[0], pitch):
        for x in range(0, arr.shape[1], pitch):
            if arr[y : y + pitch, x : x + pitch].mean() > 90:
                d.ellipse((x + 20, y + 20, x + 19 + pitch, y + 19 + pitch), fill=(30, 30, 40))
    return img


def _ocr(suite: Suite) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    prompt = "Read all the text in the image exactly as written. Output only the text."

    def ocr_case(
        cid: str, name: str, img: Image.Image, text: str, wrong: list[str], max_cer: float = 0.1
    ) -> None:
        path = suite.image(FOLDER, name, img)
        out.append(
            case(
                cid,
                path,
                prompt,
                {"ocr": {"text": text, "max_cer": max_cer}},
                [text, f"```\n{text}\n```"],
                wrong,
                task="ocr",
            )
        )

    sign = ["CAUTION", "HIGH VOLTAGE", "KEEP OUT"]
    img = _text_image([(s, 40) for s in sign], (420, 230), (250, 210, 20), (0, 0, 0), 40, 30)
    ocr_case(
        "ocr-warning-sign",
        "ocr_warning_sign",
        img,
        "\n".join(sign),
        ["CAUTION\nLOW VOLTAGE\nKEEP CLEAR", "DANGER"],
    )

    label = ["SHIP TO:", "Marta Lindqvist", "Storgatan 18", "114 55 Stockholm", "SWEDEN"]
    img = _text_image([(s, 24) for s in label], (420, 240), (255, 255, 255), (0, 0, 0), 30, 20)
    ocr_case(
        "ocr-shipping-label",
        "ocr_shipping_label",
        img,
        "\n".join(label),
        ["SHIP TO:\nMartin Lindgren\nStorgatan 81\n114 55 Stockholm", "Sweden"],
    )

    plate = ["MODEL XR-220", "SERIAL 4471-A9-0032", "230V 50Hz 1.5kW", "MADE IN PORTUGAL"]
    img = _text_image(
        [(s, 15) for s in plate], (300, 130), (200, 204, 210), (30, 30, 40), 16, 14, gap=8
    )
    ocr_case(
        "ocr-serial-plate-small",
        "ocr_serial_plate",
        img,
        "\n".join(plate),
        ["MODEL XR-220\nSERIAL 4471-A9-0023\n230V 60Hz 1.5kW", "XR-220"],
    )

    fine = "Warranty void if seal is broken. Ref 88-1204/C"
    img = _text_image([(fine, 11)], (320, 40), (255, 255, 255), (70, 70, 70), 8, 12)
    ocr_case(
        "ocr-fine-print",
        "ocr_fine_print",
        img,
        fine,
        ["Warranty void if seal is broken.", "Warranty valid if seal is broken. Ref 38-1240/G"],
    )

    stamp = "APPROVED QC-7 2026-11-03"
    img = _rotated_text(stamp, 28, 24, (480, 300), (245, 240, 230), (170, 20, 30))
    ocr_case(
        "ocr-rotated-stamp",
        "ocr_rotated_stamp",
        img,
        stamp,
        ["REJECTED QC-7 2026-11-03", "APPROVED QC-1 2025-11-08"],
    )

    spine = "ARCHIVE 2019-2023 BOX 14"
    img = _rotated_text(spine, 22, 90, (120, 420), (60, 80, 120), (240, 240, 240))
    ocr_case(
        "ocr-vertical-spine",
        "ocr_vertical_spine",
        img,
        spine,
        ["ARCHIVE 2018-2022 BOX 41", "ARCHIVE"],
    )

    faint = ["Batch 7F-2291", "Best before 11/2027"]
    img = _text_image(
        [(s, 18) for s in faint], (300, 100), (200, 200, 196), (150, 150, 146), 20, 20
    )
    ocr_case(
        "ocr-low-contrast",
        "ocr_low_contrast",
        img,
        "\n".join(faint),
        ["Batch 7F-2291", "Batch 7E-2219\nBest before 11/2021"],
    )

    seal = "QUALITY CONTROL PASSED"
    ocr_case(
        "ocr-curved-seal",
        "ocr_curved_seal",
        _arc_text(seal, 30, 170, 200),
        seal,
        ["QUALITY CONTROL FAILED", "PASSED"],
    )

    lot = "LOT 26K0412 EXP 2028-05"
    # A lot code must be exact: one misread digit is a wrong code, hence the tight CER.
    ocr_case(
        "ocr-dot-matrix-lot",
        "ocr_dot_matrix_lot",
        _dot_matrix(lot, 48, 4),
        lot,
        ["LOT 26K0412 EXP 2026-08", "LOT 28K0412 EXP 2028-05 BATCH 7"],
        max_cer=0.04,
    )
    return out


def build(suite: Suite) -> None:
    a = suite.new_file(FOLDER, "receipts_and_forms", "vqa", ["documents", "fields"])
    for c in _receipt(suite) + _invoice(suite) + _form(suite):
        a.add(c)
    b = suite.new_file(FOLDER, "ocr", "ocr", ["documents", "ocr"])
    for c in _ocr(suite):
        b.add(c)
