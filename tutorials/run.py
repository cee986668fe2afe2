"""Run the tutorials' code blocks; check or rewrite the outputs they show.

Usage::

    python tutorials/run.py [NN ...] [--check | --write]

Each tutorial is a Markdown document ``tutorials/NN_slug.md``. Its fenced blocks tagged
```` ```python ```` run in order in one namespace (like a notebook), in a fresh process whose
working directory is where figures go. What a block prints is shown in the ```` ```text ````
block right after it (only blank lines between); a block that prints nothing has no text block.

``--check`` (the default) runs every block in a temporary folder and reports each block whose shown
output differs from what it prints now (compared after stripping trailing whitespace on each line
and trailing blank lines), a block that raises, a figure the document shows that the code did not
write, and any file the code wrote that the document does not show. It exits 1 on any problem.

``--write`` runs the blocks with ``tutorials/figures/`` as the working directory (so the figures
are regenerated there) and rewrites the text blocks with what the code printed, inserting or
removing them as needed. ``python tutorials/run.py --write`` regenerates everything.

``NN`` selects tutorials by their number (``01``, ``4``); none selects all.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIGURES = HERE / "figures"
TIMEOUT = 600  # seconds per tutorial; generous for a cold numba cache

FENCE = re.compile(r"^```(\S*)\s*$")
# an image in figures/; its alt text may span lines and hold one level of brackets
FIGURE = re.compile(r"!\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(figures/([^)\s]+)\)")
NOT_PYTHON = {"py", "python3", "Python", "pycon"}  # tags that look like code but would not run


@dataclass
class Block:
    """One fenced block: its tag, the line numbers (0-based) of its two fences, and its body."""

    tag: str
    start: int
    end: int
    body: list[str]


@dataclass
class Result:
    """What running one tutorial found: printed outputs and problems (empty when all is well)."""

    path: Path
    outputs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    raised: bool = False


def parse(lines: list[str]) -> list[Block]:
    """The fenced blocks of a Markdown document (fences at the start of a line, no nesting)."""
    blocks, open_at, tag = [], None, ""
    for i, line in enumerate(lines):
        m = FENCE.match(line)
        if not m:
            continue
        if open_at is None:
            open_at, tag = i, m.group(1)
        elif m.group(1) == "":
            blocks.append(Block(tag, open_at, i, lines[open_at + 1:i]))
            open_at = None
    if open_at is not None:
        raise ValueError(f"the fence opened on line {open_at + 1} is never closed")
    return blocks


def pairs(lines: list[str], blocks: list[Block]) -> list[tuple[Block, Block | None]]:
    """Each python block with the text block right after it (only blank lines between), or None."""
    out = []
    for i, b in enumerate(blocks):
        if b.tag != "python":
            continue
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        if (nxt is not None and nxt.tag == "text"
                and all(not s.strip() for s in lines[b.end + 1:nxt.start])):
            out.append((b, nxt))
        else:
            out.append((b, None))
    return out


def normalise(text: str) -> list[str]:
    """Lines with trailing whitespace stripped, trailing blank lines dropped."""
    lines = [s.rstrip() for s in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def worker(md: Path) -> None:
    """Run the python blocks of ``md`` in the current folder; write JSON to the original stdout.

    The JSON is ``{"outputs": [...], "error": null | {"line": n, "traceback": "..."}}``; blocks
    after one that raises are not run. File descriptor 1 is pointed at stderr while the code runs,
    so nothing but the JSON reaches the parent's pipe.
    """
    real_stdout = os.dup(1)
    os.dup2(2, 1)
    lines = md.read_text().splitlines()
    namespace: dict = {"__name__": "__main__"}
    outputs: list[str] = []
    error = None
    for block, _ in pairs(lines, parse(lines)):
        # pad so that line numbers in tracebacks are the Markdown file's
        source = "\n" * (block.start + 1) + "\n".join(block.body) + "\n"
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                exec(compile(source, str(md), "exec"), namespace)
        except BaseException:  # noqa: B036 - report anything, including SystemExit
            error = {"line": block.start + 1, "traceback": traceback.format_exc()}
            outputs.append(buf.getvalue())
            break
        outputs.append(buf.getvalue())
    with os.fdopen(real_stdout, "w") as f:
        json.dump({"outputs": outputs, "error": error}, f)


def execute(md: Path, workdir: Path, timeout: float = TIMEOUT) -> Result:
    """Run the python blocks of ``md`` in a fresh process with working directory ``workdir``."""
    result = Result(md)
    # SLAF_NP_REPO: the repository's root, for a tutorial that reads the committed results in
    # figures/ (the code runs in a temporary folder, and slaf_np may be installed elsewhere)
    env = dict(os.environ, MPLBACKEND="Agg", SLAF_NP_REPO=str(HERE.parent))
    try:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(md.resolve())]
        proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        result.problems.append(f"{md.name}: did not finish within {timeout:g} s")
        return result
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        result.problems.append(f"{md.name}: the runner's worker failed (exit {proc.returncode}):\n"
                               f"{proc.stderr[-3000:]}")
        return result
    result.outputs = report["outputs"]
    if report["error"] is not None:
        result.raised = True
        result.problems.append(f"{md.name}:{report['error']['line']}: the block raised\n"
                               f"{report['error']['traceback']}")
    return result


def compare(md: Path, outputs: list[str]) -> list[str]:
    """One message per python block whose shown output differs from ``outputs`` (with a diff)."""
    lines = md.read_text().splitlines()
    problems = []
    for (block, text), printed in zip(pairs(lines, parse(lines)), outputs, strict=False):
        shown = normalise("\n".join(text.body)) if text else []
        now = normalise(printed)
        if shown != now:
            where = text.start + 1 if text else block.start + 1
            what = "text block" if text else "python block (no text block after it)"
            diff = "\n".join(difflib.unified_diff(shown, now, "shown", "printed now", lineterm=""))
            problems.append(f"{md.name}:{where}: the {what} differs from what the code prints:\n"
                            f"{diff}")
    return problems


def figures_shown(md: Path) -> list[str]:
    """The figure file names the document shows (``![...](figures/NAME)``)."""
    return FIGURE.findall(md.read_text())


def check(md: Path, workdir: Path, timeout: float = TIMEOUT) -> Result:
    """Run ``md`` in ``workdir`` (an empty folder) and list every problem found."""
    lines = md.read_text().splitlines()
    result = execute(md, workdir, timeout)
    result.problems += compare(md, result.outputs)
    for b in parse(lines):
        if b.tag in NOT_PYTHON:
            result.problems.append(f"{md.name}:{b.start + 1}: a block tagged {b.tag!r} does not "
                                   "run; tag it 'python'")
    if not result.raised:
        shown = set(figures_shown(md))
        written = {p.relative_to(workdir).as_posix() for p in workdir.rglob("*") if p.is_file()}
        written = {w for w in written if "__pycache__" not in w}
        for name in sorted(shown - written):
            result.problems.append(f"{md.name}: shows figures/{name}, which its code did not write")
        for name in sorted(written - shown):
            result.problems.append(f"{md.name}: its code wrote {name}, which it does not show "
                                   "(tutorials may write only the figures they show)")
    return result


def write(md: Path, outputs: list[str]) -> bool:
    """Rewrite the text blocks of ``md`` with ``outputs``; True when the file changed."""
    old = md.read_text()
    lines = old.splitlines()
    found = pairs(lines, parse(lines))
    # edit from the bottom up so earlier line numbers stay valid
    for (block, text), printed in reversed(list(zip(found, outputs, strict=False))):
        now = normalise(printed)
        if text is not None and now:
            lines[text.start + 1:text.end] = now
        elif text is not None:
            del lines[block.end + 1:text.end + 1]
        elif now:
            lines[block.end + 1:block.end + 1] = ["", "```text", *now, "```"]
    new = "\n".join(lines) + "\n"
    if new != old:
        md.write_text(new)
    return new != old


def tutorials(numbers: list[str]) -> list[Path]:
    """The tutorial documents whose numbers are in ``numbers`` (all when empty)."""
    every = sorted(HERE.glob("[0-9][0-9]_*.md"))
    if not numbers:
        return every
    chosen = []
    for n in numbers:
        match = [p for p in every if p.name[:2] == f"{int(n):02d}"]
        if not match:
            raise SystemExit(f"no tutorial numbered {n!r} in {HERE} "
                             f"(there are {', '.join(p.name[:2] for p in every)})")
        chosen += match
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("numbers", nargs="*", help="tutorial numbers (default: all)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="report differences (the default)")
    mode.add_argument("--write", action="store_true",
                      help="rewrite the shown outputs and regenerate the figures")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(args.worker)
        return 0
    failed = False
    for md in tutorials(args.numbers):
        if args.write:
            FIGURES.mkdir(exist_ok=True)
            result = execute(md, FIGURES)
            if result.problems:  # a block raised: leave the document as it is
                status = "not rewritten"
            else:
                status = "rewritten" if write(md, result.outputs) else "unchanged"
            for p in result.problems:
                print(p, file=sys.stderr)
            failed |= bool(result.problems)
            print(f"{md.name}: {status}")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                result = check(md, Path(tmp))
            for p in result.problems:
                print(p, file=sys.stderr)
            failed |= bool(result.problems)
            print(f"{md.name}: {'FAILED' if result.problems else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
