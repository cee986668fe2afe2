"""README's Python blocks run as written, and its commands are the ones CI uses."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_code():
    assert python_blocks(), "README.md should show a runnable API example"


@pytest.mark.parametrize("i", range(len(python_blocks())))
def test_readme_block_runs(i, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(python_blocks()[i], f"README.md block {i}", "exec"), {"__name__": "__readme__"})


def test_readme_commands_are_marked():
    text = README.read_text()
    for marker in ("<!-- ci:run -->", "<!-- ci:test -->"):
        assert marker in text
        after = text.split(marker, 1)[1].lstrip()
        assert after.startswith("```bash\n"), f"{marker} must be followed by a bash block"
