"""The module map (docs/design.md) names every module of the package, and nothing that is not there (issue 11)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "u2live"


def module_map() -> dict[str, str]:
    """First column -> the rest of its lines, from the code block under '## Module map'."""
    section = (ROOT / "docs" / "design.md").read_text().split("## Module map", 1)[1]
    block = section.split("```", 2)[1]
    entries: dict[str, str] = {}
    name = None
    for line in block.splitlines():
        if line.strip() and not line.startswith(" "):
            name, _, text = line.partition(" ")
            entries[name] = text
        elif name is not None:
            entries[name] += " " + line.strip()
    return entries


def test_every_module_and_package_is_on_the_map_and_nothing_else():
    tree = {p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    tree |= {p.name + "/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert set(module_map()) == tree


def test_each_package_line_names_its_modules():
    for name, text in module_map().items():
        if name.endswith("/"):
            words = set(re.findall(r"\w+", text))
            modules = {p.stem for p in (PACKAGE / name).glob("*.py") if p.stem not in ("__init__", "__main__")}
            assert modules <= words, f"{name} misses {sorted(modules - words)}"
