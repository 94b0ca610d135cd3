"""The Mermaid diagrams of the docs, parsed and rendered by Mermaid itself.

Each ```mermaid block names itself on the line above it (`<!-- diagram: pipeline -->`) and is
rendered to `docs/diagrams/<name>.svg` by `invoke docs.render`. The SVG's first line records the
sha256 of its source, so the docs gate tells a stale or missing SVG without a browser. The
diagrams gate renders every block with Mermaid's CLI (`@mermaid-js/mermaid-cli`, pinned by
`tools/mermaid/package-lock.json` and installed with `npm ci` into the work directory on first
use) driving a Chromium or Chrome of the machine; Mermaid's own parser is the only one that
covers every diagram type, so nothing here parses Mermaid itself."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bbws_infra.core.errors import OperationError, UserError
from bbws_infra.core.paths import REPO_ROOT, file_lock, install_once, relative_name, work_dir
from bbws_infra.docs import markdown
from bbws_infra.docs.doc_commands import DocProblem

DIAGRAMS_DIR = Path("docs") / "diagrams"
PACKAGE_DIR = REPO_ROOT / "tools" / "mermaid"
BROWSER_VARIABLE = "BBWS_CHROMIUM"
_NAME = re.compile(r"<!--\s*diagram:\s*(\S+?)\s*-->")
_VALID_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_STAMP = re.compile(r'<!-- diagram "([^"]+)" of (\S+), source sha256 ([0-9a-f]{64})')
_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
             "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
             "/Applications/Chromium.app/Contents/MacOS/Chromium")
# Headless and quiet: the machines reach only package registries, so Chromium must not try to
# phone home (each refused connection costs time).
_BROWSER_ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
TIMEOUT_S = 600
# How puppeteer says the browser itself failed (as opposed to Mermaid rejecting a diagram).
_BROWSER_FAILURE = re.compile(r"Failed to launch the browser process|Browser was not found|"
                              r"TimeoutError|ProtocolError|Target closed|ECONNREFUSED")


@dataclass(frozen=True)
class Diagram:
    """One ```mermaid block: its name, where it is and its source."""

    name: str | None
    file: str
    line: int
    source: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    def svg(self, root: Path) -> Path:
        return root / DIAGRAMS_DIR / f"{self.name}.svg"

    def stamp(self) -> str:
        return (f'<!-- diagram "{self.name}" of {self.file}, source sha256 {self.digest}; '
                "made by invoke docs.render from the block, edit the block instead -->\n")


def diagrams(root: Path = REPO_ROOT) -> list[Diagram]:
    """Every Mermaid block of the tree's Markdown, with the name on the line above it."""
    found = []
    for path in markdown.files(root):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for block in markdown.blocks(text):
            if block.language != "mermaid":
                continue
            above = next((lines[i] for i in range(block.line - 2, -1, -1) if lines[i].strip()),
                         "")
            match = _NAME.search(above)
            found.append(Diagram(match.group(1) if match else None, relative_name(path, root),
                                 block.line, block.text))
    return found


def _recorded_digest(svg: Path) -> tuple[str, str] | None:
    with svg.open(encoding="utf-8") as handle:
        match = _STAMP.match(handle.readline())
    return (match.group(1), match.group(3)) if match else None


def problems(root: Path = REPO_ROOT) -> list[DocProblem]:
    """Names and rendered SVGs, without a browser: every block named once, its SVG present and
    made from its current source, no SVG left from a removed block."""
    found: list[DocProblem] = []
    seen: dict[str, str] = {}
    for diagram in diagrams(root):
        where = (diagram.file, diagram.line)
        if diagram.name is None:
            found.append(DocProblem(*where, "a Mermaid block needs its name on the line above "
                                            "it: <!-- diagram: some-name -->."))
            continue
        if not _VALID_NAME.fullmatch(diagram.name):
            found.append(DocProblem(*where, f"diagram name {diagram.name!r} must be lower-case "
                                            "letters, digits and hyphens."))
            continue
        if diagram.name in seen:
            found.append(DocProblem(*where, f"diagram name {diagram.name!r} is already used at "
                                            f"{seen[diagram.name]}."))
            continue
        seen[diagram.name] = f"{diagram.file}:{diagram.line}"
        svg = diagram.svg(root)
        if not svg.exists():
            found.append(DocProblem(*where, f"{relative_name(svg, root)} is missing; run: "
                                            "invoke docs.render"))
        elif _recorded_digest(svg) != (diagram.name, diagram.digest):
            found.append(DocProblem(*where, f"{relative_name(svg, root)} was made from another "
                                            "version of this block; run: invoke docs.render"))
    for svg in sorted((root / DIAGRAMS_DIR).glob("*.svg")):
        if svg.stem not in seen:
            found.append(DocProblem(relative_name(svg, root), 1, "no Mermaid block of this name "
                                    "is left in the docs; run: invoke docs.render"))
    return found


# ---- the tools: a browser, Node.js and Mermaid's CLI ----------------------------------------


def _apt_install(*packages: str) -> bool:
    """Debian's packages, when this process may install them (root with apt-get): what the
    project's own files do on a fresh machine of the kind CI uses."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    print(f"installing Debian's {', '.join(packages)} for the Mermaid diagrams (once)",
          file=sys.stderr, flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with file_lock(work_dir() / "tools" / "apt.lock"):
        for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
            done = subprocess.run(argv, capture_output=True, text=True, env=environment,
                                  stdin=subprocess.DEVNULL, timeout=TIMEOUT_S)
            if done.returncode:
                raise OperationError(f"apt-get could not install {', '.join(packages)}, so the "
                                     "diagrams were not checked.", done.stderr)
    return True


def browser() -> str:
    """The Chromium or Chrome that renders: BBWS_CHROMIUM, else the usual names; on a Debian
    machine run as root, Debian's chromium is installed when none is found."""
    named = os.environ.get(BROWSER_VARIABLE)
    if named:
        if not Path(named).is_file():
            raise UserError(f"{BROWSER_VARIABLE}={named} names no file; point it at a Chromium "
                            "or Chrome binary.")
        return named
    for _ in range(2):
        for candidate in _BROWSERS:
            found = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
            if found:
                return found
        if not _apt_install("chromium"):
            break
    raise OperationError("Mermaid needs a Chromium or Chrome to render diagrams and none was "
                         "found: install one (Debian: apt-get install chromium) or set "
                         f"{BROWSER_VARIABLE} to its binary.")


def _npm() -> str:
    npm = shutil.which("npm")
    if not npm and _apt_install("nodejs", "npm"):
        npm = shutil.which("npm")
    if not npm:
        raise OperationError("Mermaid's CLI needs Node.js 18.19 or newer with npm, and npm was "
                             "not found: install Node.js (Debian: apt-get install nodejs npm).")
    return npm


def _package_digest() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((PACKAGE_DIR / name).read_bytes())
    return digest.hexdigest()


def mermaid_cli() -> Path:
    """Mermaid's CLI, installed from the committed lock file on first use (and again when the
    lock file changes). Install scripts are skipped: puppeteer's would download a browser."""
    target = work_dir() / "tools" / "mermaid"
    binary = target / "node_modules" / ".bin" / "mmdc"

    def build() -> None:
        npm = _npm()
        target.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(PACKAGE_DIR / name, target / name)
        done = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=target, capture_output=True, text=True, stdin=subprocess.DEVNULL,
            env={**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"}, timeout=TIMEOUT_S)
        if done.returncode or not binary.exists():
            raise OperationError("npm could not install Mermaid's CLI from "
                                 "tools/mermaid/package-lock.json, so the diagrams were not "
                                 "checked.", done.stderr or done.stdout)

    install_once(target, ".package.sha256", _package_digest(), binary,
                 "installing Mermaid's CLI with npm (once, about 30 s)", build)
    return binary


# ---- rendering ------------------------------------------------------------------------------


def _parse_error(output: str, diagram: Diagram) -> str:
    """Mermaid's message in one line, its line number turned into the Markdown file's."""
    lines = [line for line in output.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.startswith("Error:")), None)
    if start is None:
        return lines[-1] if lines else "Mermaid failed without a message"
    message = []
    for line in lines[start:]:
        if line.lstrip().startswith("at ") or re.search(r"\((?:https?|file):", line):
            break  # the stack trace
        message.append(line.strip())
    text = " ".join(message).removeprefix("Error: ")
    at = re.search(r"on line (\d+)", text)
    if at:
        text = text.replace(at.group(0), f"on line {diagram.line + int(at.group(1))}")
    return re.sub(r"\s*\.\.\..*?\^\s*", " ", text)


def render(items: list[Diagram], out_dir: Path) -> tuple[list[Path | None], list[DocProblem]]:
    """Render each diagram to an SVG in out_dir (one browser for all): the SVG of each, None
    for one Mermaid rejects, and the problems, each at its file and line."""
    binary, chromium = mermaid_cli(), browser()
    out_dir.mkdir(parents=True, exist_ok=True)
    config = out_dir / "puppeteer.json"
    args = _BROWSER_ARGS + (["--no-sandbox"] if os.geteuid() == 0 else [])
    config.write_text(json.dumps({"executablePath": chromium, "args": args}))
    results: list[Path | None] = [None] * len(items)
    found: list[DocProblem] = []
    start = 0
    while start < len(items):
        batch = items[start:]
        source = out_dir / f"batch-{start}.md"
        source.write_text("".join(f"```mermaid\n{d.source}```\n\n" for d in batch))
        done = subprocess.run(
            [str(binary), "--quiet", "--puppeteerConfigFile", str(config), "--input",
             str(source), "--output", str(out_dir / f"batch-{start}.out.md")],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=TIMEOUT_S,
            env={**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"})
        rendered = 0
        for offset in range(len(batch)):
            svg = out_dir / f"batch-{start}.out-{offset + 1}.svg"
            if not svg.exists():
                break
            results[start + offset] = svg
            rendered += 1
        if done.returncode == 0 and rendered == len(batch):
            break
        output = done.stderr + done.stdout
        if _BROWSER_FAILURE.search(output):
            raise OperationError(f"Mermaid's CLI could not drive the browser {chromium}, so the "
                                 "diagrams were not checked.", output)
        failed = items[start + rendered]
        found.append(DocProblem(failed.file, failed.line,
                                f"Mermaid rejects diagram {failed.name or '(unnamed)'}: "
                                f"{_parse_error(output, failed)}"))
        start += rendered + 1
    return results, found


def check(root: Path = REPO_ROOT) -> list[DocProblem]:
    """Every block parsed by Mermaid (rendered into a throw-away directory)."""
    items = diagrams(root)
    if not items:
        return []
    with tempfile.TemporaryDirectory(dir=_scratch()) as scratch:
        return render(items, Path(scratch))[1]


def _scratch() -> Path:
    path = work_dir() / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def render_docs(root: Path = REPO_ROOT, every: bool = False) -> list[Path]:
    """`invoke docs.render`: write docs/diagrams/<name>.svg for each named block whose SVG is
    missing or was made from another source (every one with `every`), and remove the SVGs no
    block names any more. Refuses, writing nothing, when a block is unnamed, a name is taken
    twice, or Mermaid rejects a block. The files written or removed."""
    items = diagrams(root)
    naming = [p for p in problems(root) if "run: invoke docs.render" not in p.message]
    if naming:
        raise UserError("Nothing was rendered: " + "; ".join(map(str, naming)))
    # Mermaid's SVGs are not byte-stable (some carry random ids): leave current ones alone.
    stale = [d for d in items if every or not d.svg(root).exists()
             or _recorded_digest(d.svg(root)) != (d.name, d.digest)]
    written = []
    if stale:
        with tempfile.TemporaryDirectory(dir=_scratch()) as scratch:
            svgs, rejected = render(stale, Path(scratch))
            if rejected:
                raise UserError("Nothing was rendered: " + "; ".join(map(str, rejected)))
            for diagram, svg in zip(stale, svgs, strict=True):
                if svg is None:  # never: a block Mermaid rejected stopped the run above
                    raise UserError(f"Nothing was rendered: no SVG for {diagram.name}")
                target = diagram.svg(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(diagram.stamp() + svg.read_text(encoding="utf-8"),
                                  encoding="utf-8")
                written.append(target)
    names = {d.name for d in items}
    for orphan in (root / DIAGRAMS_DIR).glob("*.svg"):
        if orphan.stem not in names:
            orphan.unlink()
            written.append(orphan)
    return written
