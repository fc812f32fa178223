"""docs/design.md keeps up with the code: every "docs/design.md section N" pointer in src/ and stages/
names a section that exists, the layout section names every package and top-level module of
src/asvit, and the command-line section names every ``asvit`` command."""

from __future__ import annotations

import re
from pathlib import Path

from asvit.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
DESIGN = ROOT / "docs" / "design.md"
PACKAGE = ROOT / "src" / "asvit"
HEADING = re.compile(r"^## (\d+)\. (.+)$", re.MULTILINE)
POINTER = re.compile(r"docs/design\.md section (\d+)")
SKIPPED_DIRS = {"__pycache__"}


def sections() -> dict[int, tuple[str, str]]:
    """Section number -> (title, body up to the next numbered section)."""
    text = DESIGN.read_text()
    found = list(HEADING.finditer(text))
    ends = [m.start() for m in found[1:]] + [len(text)]
    return {int(m.group(1)): (m.group(2), text[m.end():end]) for m, end in zip(found, ends)}


def section_titled(word: str) -> str:
    """The body of the one section whose title contains ``word``."""
    matches = [body for title, body in sections().values() if word.lower() in title.lower()]
    assert len(matches) == 1, f"docs/design.md: expected one section titled with {word!r}, found {len(matches)}"
    return matches[0]


def source_files() -> list[Path]:
    """Every text file under src/ and stages/ (build outputs such as *.egg-info left out)."""
    files = []
    for top in ("src", "stages"):
        for path in sorted((ROOT / top).rglob("*")):
            parts = set(path.relative_to(ROOT).parts)
            if not path.is_file() or parts & SKIPPED_DIRS or any(p.endswith(".egg-info") for p in parts):
                continue
            files.append(path)
    return files


def pointers(path: Path) -> list[int]:
    """The section numbers ``path`` points to. Whitespace is normalised first, so a pointer may break
    over lines between "docs/design.md" and "section N" (also across a ``#`` comment marker)."""
    text = " ".join(path.read_text(errors="ignore").split())
    text = re.sub(r"docs/design\.md\s*(?:#\s*)?section", "docs/design.md section", text)
    return [int(n) for n in POINTER.findall(text)]


def test_the_sections_are_numbered_in_order():
    numbers = list(sections())
    assert numbers == list(range(1, len(numbers) + 1))


def test_the_source_points_into_the_design_notes():
    # a guard against the scan finding nothing (a moved file, a changed phrase)
    assert sum(len(pointers(path)) for path in source_files()) >= 10


def test_every_pointer_names_an_existing_section():
    existing = sections()
    dangling = {str(path.relative_to(ROOT)): missing for path in source_files()
                if (missing := sorted({n for n in pointers(path) if n not in existing}))}
    assert dangling == {}, f"pointers to sections docs/design.md does not have (it has {sorted(existing)}): " \
                           f"{dangling}"


def test_a_pointer_split_over_lines_is_found(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""See docs/design.md\nsection 11 and docs/design.md section 4."""\n'
                      '# docs/design.md\n# section 7\n')
    assert pointers(sample) == [11, 4, 7]


def test_the_layout_names_every_package_and_top_level_module():
    layout = section_titled("Layout")
    packages = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert packages and modules
    missing = [f"{p}/" for p in packages if not re.search(rf"(?<![\w/.]){re.escape(p)}/", layout)]
    missing += [m for m in modules if not re.search(rf"(?<![\w/.]){re.escape(m)}", layout)]
    assert missing == [], f"docs/design.md's layout section does not name {missing}"


def test_the_command_line_section_names_every_command():
    cli = section_titled("`asvit` command")
    missing = [name for name in COMMANDS if f"asvit {name}" not in cli]
    assert missing == [], f"docs/design.md's command-line section does not describe {missing}"
