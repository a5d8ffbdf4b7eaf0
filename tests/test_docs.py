"""The front door: every link in the README and the docs resolves, the README's marked blocks are what CI runs
(and are valid bash), and the media script prints only its path, so ``MEDIA=$(bash scripts/fetch_media.sh)`` works."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
        *sorted((REPO / "benchmarks" / "results").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub makes of a file's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+\s+(.*?)\s*$", FENCE.sub("", markdown), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def links(path: Path) -> list[str]:
    return [target for target in LINK.findall(FENCE.sub("", path.read_text(encoding="utf-8")))
            if not re.match(r"^[a-z]+:", target)]  # http:, https:, mailto: are not ours to check


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(doc):
    broken = []
    for target in links(doc):
        path, _, anchor = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading for #{anchor}")
    assert not broken, f"{doc.relative_to(REPO)}: " + "; ".join(broken)


def test_the_link_checker_sees_a_broken_link_and_a_missing_anchor(tmp_path):
    (tmp_path / "a.md").write_text("# Title here\n\n[ok](#title-here) [gone](b.md) [bad](#nope)\n```\n[x](in-code.md)\n```\n")
    doc = tmp_path / "a.md"
    assert links(doc) == ["#title-here", "b.md", "#nope"] and "title-here" in anchors(doc.read_text())


def readme_blocks(*names: str) -> str:
    done = subprocess.run(["sh", str(REPO / ".ci" / "readme_blocks.sh"), *names], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_readme_marks_the_blocks_ci_runs_and_they_are_valid_bash(tmp_path):
    setup, main, tests = (readme_blocks(name) for name in ("setup", "main", "tests"))
    assert "python3 -m venv .venv" in setup and "pip install ." in setup and "scripts/fetch_media.sh" in setup
    assert main.startswith("u2live video $MEDIA/") and "python -m pytest" in tests
    assert "download.pytorch.org" not in setup + main + tests  # CI reaches PyPI only
    script = tmp_path / "readme.sh"
    script.write_text(setup + main + tests)
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "readme_blocks.sh setup main" in (REPO / ".ci" / "run").read_text()  # CI runs them, not a copy


def test_readme_blocks_refuse_a_missing_marker():
    done = subprocess.run(["sh", str(REPO / ".ci" / "readme_blocks.sh"), "no-such-block"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode != 0 and "ci: no-such-block" in done.stderr


def test_readme_is_a_manual_not_a_notebook():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    assert not re.search(r"\b\d{1,2}:\d{2}\b(?! ?UTC)", FENCE.sub("", text))  # no clock times of runs
    assert "DESIGN.md" not in text  # the design notes are docs/design.md, in the repository


def test_fetch_media_prints_only_the_media_folder():
    media = REPO / ".cache" / "opencv-doc" / "usr" / "share" / "doc" / "opencv-doc" / "examples" / "data"
    if not (media / "Megamind.avi").is_file():
        pytest.skip("the media are not fetched yet: bash scripts/fetch_media.sh (the quick start runs it)")
    done = subprocess.run(["bash", str(REPO / "scripts" / "fetch_media.sh")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and Path(done.stdout.strip()).resolve() == media.resolve()
