"""Every repository path that the docs, comments and docstrings cite exists.

What counts as a cited path (``extract_paths``):
- a token that starts with a top-level folder of the repository (``synthgen/``, ``api/``,
  ``pipelines/``, ``reports/``, ``benchmarks/``, ``tests/``, ``docs/``, ``docker/``,
  ``scripts/``, ``.ci/``), backticked or bare, not preceded by a path or word character
  (so URLs and ``runs/x/docs/...`` do not count);
- a bare ``NAME.md`` (root documents such as ``README.md``), which may also sit next to the
  citing Markdown file;
- the target of a relative Markdown link, resolved from the citing file's folder.
A ``::symbol`` suffix, a line number (``file.py:60``, ``file.py:60-70``) and trailing
punctuation are dropped; ``#anchor`` on a Markdown file must name one of its headings.
A section cited as ``file.md, "Section"`` must begin one of that file's headings.
Placeholders are not paths: tokens with ``...``, ``*``, ``<``, ``{``, ``$``, or a segment
written in capitals without an extension (``MODEL_DIR``), or ``YYYY``.

Sources: README.md and docs/**/*.md (all text), and the comments and docstrings of the
product code (synthgen, api, pipelines, reports) and of benchmarks.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP_FOLDERS = (
    "synthgen",
    "api",
    "pipelines",
    "reports",
    "benchmarks",
    "tests",
    "docs",
    "docker",
    "scripts",
    ".ci",
)
CODE_FOLDERS = ("synthgen", "api", "pipelines", "reports", "benchmarks")

_PATH_CHARS = r"[\w.\-/#:*{}<>$]"
_PREFIXED = re.compile(
    r"(?<![\w/.\-])((?:" + "|".join(re.escape(f) for f in TOP_FOLDERS) + r")/" + _PATH_CHARS + r"*)"
)
_ROOT_MD = re.compile(r"(?<![\w/.\-])([A-Za-z][\w\-]*\.md(?:#[\w\-]+)?)(?![\w/])")
_MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
_PLACEHOLDER_SEGMENT = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _clean(token: str) -> str | None:
    """The repository path a token cites, or None for a placeholder."""
    if any(mark in token for mark in ("...", "*", "<", "{", "$", "YYYY")):
        return None
    token = token.split("::", 1)[0]
    token = re.sub(r":\d+(?:-\d+)?$", "", token.rstrip(".,;:)'\"`"))
    token = token.rstrip(".,;:)'\"`")
    path = token.split("#", 1)[0]
    if not path or any(_PLACEHOLDER_SEGMENT.match(seg) for seg in path.split("/") if seg):
        return None
    return token


def extract_paths(text: str, *, markdown: bool = False) -> list[str]:
    """Repository paths cited in ``text`` (relative Markdown links keep a leading ``./`` or
    ``../`` so the caller resolves them from the citing file)."""
    found: list[str] = []
    for match in _PREFIXED.finditer(text):
        cleaned = _clean(match.group(1))
        if cleaned:
            found.append(cleaned)
    for match in _ROOT_MD.finditer(text):
        cleaned = _clean(match.group(1))
        if cleaned:
            found.append(cleaned)
    if markdown:
        for match in _MD_LINK.finditer(text):
            target = match.group(1)
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            cleaned = _clean(target)
            if cleaned and (cleaned.startswith(("./", "../")) or "/" in cleaned):
                found.append(cleaned if cleaned.startswith(("./", "../")) else "./" + cleaned)
    return found


_SECTION_REF = re.compile(r"((?:[\w.\-]+/)*[\w.\-]+\.md),? \"([^\"\n]+)\"")


def section_refs(text: str) -> list[tuple[str, str]]:
    """``(file, section)`` for each ``file.md, "Section"`` citation."""
    return [(m.group(1), m.group(2)) for m in _SECTION_REF.finditer(text)]


def missing_sections(refs: list[tuple[str, str]], root: Path = ROOT) -> list[str]:
    """The cited sections that no heading of an existing file starts with."""
    missing = []
    for name, section in refs:
        target = root / name
        if not target.is_file():
            continue  # a missing file is reported by missing_paths
        headings = [
            line.lstrip("#").strip().lower()
            for line in target.read_text(encoding="utf-8").splitlines()
            if line.startswith("#")
        ]
        if not any(h.startswith(section.strip().lower()) for h in headings):
            missing.append(f'{name}, "{section}"')
    return missing


def _slug(heading: str) -> str:
    text = re.sub(r"[^\w\s\-]", "", heading.strip().lower())
    return re.sub(r"\s", "-", text)


def _anchors(md: Path) -> set[str]:
    return {
        _slug(line.lstrip("#"))
        for line in md.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }


def missing_paths(cited: list[str], citing: Path, root: Path = ROOT) -> list[str]:
    """The citations of ``citing`` that name no file or folder (or no heading) in ``root``."""
    missing = []
    for token in cited:
        path, _, anchor = token.partition("#")
        if path.startswith(("./", "../")):
            target = (citing.parent / path).resolve()
        else:
            target = root / path
            if not target.exists() and "/" not in path:
                target = citing.parent / path  # a Markdown file next to the citing one
        if not target.exists() or (
            anchor and target.suffix == ".md" and anchor not in _anchors(target)
        ):
            missing.append(token)
    return missing


def _comments_and_docstrings(source: str) -> str:
    parts = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            parts.append(tok.string)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                parts.append(doc)
    return "\n".join(parts)


def _sources() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for folder in CODE_FOLDERS:
        files += sorted(p for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts)
    return [f for f in files if f.exists()]


def test_extractor_finds_and_flags_a_missing_path(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n## Use it\n")
    (tmp_path / "README.md").write_text("# Read me\n")
    text = (
        "See `docs/guide.md#use-it`, docs/guide.md:12 and README.md; "
        "`synthgen/gone.py::Thing` moved, docs/guide.md#no-such-heading too, and "
        "docs/absent.md, docs/absent.md#x. Not paths: MODEL_DIR/spec.json, docs/research/YYYY-MM-DD-x.md, "
        "https://example.org/docs/x.md, runs/docs/y.md, tests/privacy/*.py, PRIVACY.md."
        " Link: [guide](docs/guide.md), [gone](../nowhere.md)."
    )
    cited = extract_paths(text, markdown=True)
    refs = section_refs('docs/guide.md, "Use it" and docs/guide.md, "Sampling" and x.md "y"')
    assert missing_sections(refs, root=tmp_path) == ['docs/guide.md, "Sampling"']
    assert "synthgen/gone.py" in cited
    assert not any("MODEL_DIR" in c or "YYYY" in c or "example.org" in c for c in cited)
    assert not any(c.startswith("docs/y") or c.endswith("*.py") for c in cited)
    missing = missing_paths(cited, tmp_path / "README.md", root=tmp_path)
    assert sorted(missing) == sorted(
        [
            "synthgen/gone.py",
            "docs/guide.md#no-such-heading",
            "docs/absent.md",
            "docs/absent.md#x",
            "PRIVACY.md",
            "../nowhere.md",
        ]
    )


@pytest.mark.parametrize("source", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_cited_paths_exist(source: Path) -> None:
    text = source.read_text(encoding="utf-8")
    if source.suffix == ".py":
        text = _comments_and_docstrings(text)
        cited = extract_paths(text)
    else:
        cited = extract_paths(text, markdown=True)
    assert missing_paths(cited, source) == []
    assert missing_sections(section_refs(text)) == []
