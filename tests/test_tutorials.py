"""The tutorials run, and show what their code prints now.

Each tutorial ``tutorials/NN_slug.md`` is executed by ``tutorials/run.py``'s check (its python
blocks in order, in one namespace, in a fresh process whose working directory is a temporary
folder), and fails on any block whose shown output differs from what it prints now, naming the
tutorial, the line and a diff. About 10 s in all with a warm numba cache (a cold one compiles the
kernels first). The runner itself is tested on small documents that need nothing but Python.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
DOCUMENTS = sorted(p.name for p in TUTORIALS.glob("[0-9][0-9]_*.md"))
MAX_FIGURE_BYTES = 150_000


def load_runner():
    spec = importlib.util.spec_from_file_location("tutorials_run", TUTORIALS / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module            # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


run = load_runner()


#: Tutorials that train on a real data set: they run where it can be had (a fresh machine fetches
#: it once through the registry client) and are skipped only where it cannot.
NEEDS_DATA = {"06_reproducing_the_paper.md": "mnist"}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_tutorial_shows_what_it_prints(name, tmp_path):
    if name in NEEDS_DATA:
        from slaf_np import datasets

        try:
            datasets.fetch(NEEDS_DATA[name], verbose=False)
        except datasets.DataUnavailable as e:
            pytest.skip(f"{name} trains on {NEEDS_DATA[name]}, which cannot be had here: {e}")
    result = run.check(TUTORIALS / name, tmp_path)
    assert not result.problems, "\n\n".join(result.problems) + (
        "\n(if the change is intended: python tutorials/run.py --write)")


def test_there_are_tutorials():
    assert len(DOCUMENTS) >= 3, DOCUMENTS


@pytest.mark.parametrize("name", DOCUMENTS)
def test_figures_are_committed_and_small(name):
    for fig in run.figures_shown(TUTORIALS / name):
        path = TUTORIALS / "figures" / fig
        assert path.is_file(), f"{name} shows figures/{fig}, missing: run tutorials/run.py --write"
        assert path.stat().st_size < MAX_FIGURE_BYTES, (
            f"figures/{fig} is {path.stat().st_size:,} bytes (limit {MAX_FIGURE_BYTES:,}): lower "
            "its dpi or size")


def test_every_figure_is_shown_by_a_tutorial():
    shown = {f for name in DOCUMENTS for f in run.figures_shown(TUTORIALS / name)}
    stray = sorted(p.name for p in (TUTORIALS / "figures").glob("*") if p.name not in shown)
    assert not stray, f"tutorials/figures/ holds files no tutorial shows: {stray}"


@pytest.mark.parametrize("name", DOCUMENTS)
def test_tutorial_cites_the_project_paper_notes(name):
    text = (TUTORIALS / name).read_text()
    assert "PAPER.md" not in text, f"{name} cites PAPER.md; cite docs/paper.md"
    assert "docs/paper.md" in text, f"{name} does not say which claim of docs/paper.md it shows"


# ------------------------------------------------------------------------------------ the runner

DOC = """# A document

```python
x = 2
print("x is", x)
```

```text
x is 2
```

Prose between blocks.

```python
y = x + 1
```

```python
print(f"{y}  ")
print()
```

```text
3
```
"""


def write_doc(tmp_path: Path, text: str) -> Path:
    md = tmp_path / "doc" / "09_doc.md"
    md.parent.mkdir(exist_ok=True)
    md.write_text(text)
    (tmp_path / "work").mkdir(exist_ok=True)
    return md


def test_runner_passes_a_document_that_shows_its_outputs(tmp_path):
    # trailing spaces and a trailing blank line printed are not differences
    result = run.check(write_doc(tmp_path, DOC), tmp_path / "work")
    assert result.problems == []
    assert result.outputs == ["x is 2\n", "", "3  \n\n"]


def test_runner_reports_a_drifted_output_with_its_line_and_a_diff(tmp_path):
    md = write_doc(tmp_path, DOC.replace("x = 2", "x = 5"))
    problems = run.check(md, tmp_path / "work").problems
    assert len(problems) == 2, problems
    assert problems[0].startswith("09_doc.md:8: the text block differs")   # the x block's text
    assert "-x is 2" in problems[0] and "+x is 5" in problems[0]
    assert problems[1].startswith("09_doc.md:23:") and "+6" in problems[1]


def test_runner_reports_output_with_no_text_block_and_a_stale_text_block(tmp_path):
    md = write_doc(tmp_path, DOC.replace('print("x is", x)', "pass").replace(
        "y = x + 1\n", 'y = x + 1\nprint("new")\n'))
    problems = run.check(md, tmp_path / "work").problems
    assert any(p.startswith("09_doc.md:8: the text block differs") and "-x is 2" in p
               for p in problems), problems
    assert any(p.startswith("09_doc.md:14: the python block (no text block after it)")
               and "+new" in p for p in problems), problems


def test_runner_write_inserts_replaces_and_removes_text_blocks(tmp_path):
    md = write_doc(tmp_path, DOC.replace('print("x is", x)', "pass").replace(
        "y = x + 1\n", 'y = x + 1\nprint("new")\n').replace("{y}", "{y + 1}"))
    result = run.execute(md, tmp_path / "work")
    assert run.write(md, result.outputs)
    text = md.read_text()
    assert "x is 2" not in text                             # removed: the block prints nothing
    assert '```python\ny = x + 1\nprint("new")\n```\n\n```text\nnew\n```\n' in text  # inserted
    assert "```text\n4\n```" in text                       # replaced
    assert run.check(md, tmp_path / "work").problems == []
    assert not run.write(md, result.outputs)                # a second write changes nothing


def test_runner_reports_the_line_of_a_block_that_raises(tmp_path):
    md = write_doc(tmp_path, DOC.replace("y = x + 1", "y = 1 / 0"))
    result = run.check(md, tmp_path / "work")
    assert result.raised
    assert result.problems[0].startswith("09_doc.md:14: the block raised")
    assert "ZeroDivisionError" in result.problems[0]
    assert "09_doc.md\", line 15" in result.problems[0]      # the traceback's line is the file's


def test_runner_checks_figures_written_against_figures_shown(tmp_path):
    code = '```python\nopen("09_a.png", "w").write("a")\nopen("junk.txt", "w").write("b")\n```\n'
    md = write_doc(tmp_path, code + "\n![a [figure] whose alt text\nspans lines]"
                   "(figures/09_a.png)\n![b](figures/09_b.png) and [a link](../figures/09_c.png)\n")
    problems = run.check(md, tmp_path / "work").problems
    assert problems == [
        "09_doc.md: shows figures/09_b.png, which its code did not write",
        "09_doc.md: its code wrote junk.txt, which it does not show (tutorials may write only "
        "the figures they show)"]


def test_runner_flags_a_code_block_that_would_not_run(tmp_path):
    md = write_doc(tmp_path, "```py\nprint(1)\n```\n")
    problems = run.check(md, tmp_path / "work").problems
    assert problems == ["09_doc.md:1: a block tagged 'py' does not run; tag it 'python'"]
