"""Generate the built-in eval suite: images in fixtures/images/ and YAML in evals/.

Every image is drawn from seeded random generators, and each case's expectation is
written from the same values that drew the image (counts, boxes, strings, positions),
so the truth and the picture cannot drift apart. Two runs give byte-identical files.

    python scripts/generate_suite.py            # regenerate in the repository
    python scripts/generate_suite.py --out DIR  # write DIR/fixtures/images and DIR/evals
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suitegen import counting, defects, documents, objects, spatial
from suitegen.core import Suite

REPO = Path(__file__).resolve().parent.parent


def build_suite() -> Suite:
    suite = Suite()
    for module in (defects, documents, counting, objects, spatial):
        module.build(suite)
    return suite


def write_suite(suite: Suite, out: Path) -> list[Path]:
    """Write every file under ``out``; return the paths written, sorted."""
    written: list[Path] = []
    for rel, data in sorted(suite.images.items()):
        path = out / "fixtures" / "images" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    for rel, text in sorted(suite.yaml_files().items()):
        path = out / "evals" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))  # bytes: no platform newline translation
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO,
        help="root to write fixtures/images/ and evals/ under (default: repo)",
    )
    args = parser.parse_args(argv)
    suite = build_suite()
    written = write_suite(suite, args.out)
    n_cases = sum(len(f.cases) for f in suite.files)
    size = sum(len(b) for b in suite.images.values())
    print(
        f"wrote {len(written)} files: {len(suite.images)} images ({size / 1e6:.2f} MB), "
        f"{len(suite.files)} eval files, {n_cases} cases"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
