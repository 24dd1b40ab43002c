"""docs/PYTHON.md's walkthrough runs as written: its Python blocks up to
the reference section, in order, in one namespace (blocks marked
`<!-- not run: ... -->` need a server and are skipped)."""

import re

from conftest import REPO


def test_walkthrough_runs(tmp_path, monkeypatch, capsys):
    text = (REPO / "docs" / "PYTHON.md").read_text()
    walkthrough = text.split("## Reference")[0]
    blocks = re.findall(r"(<!-- not run:[^>]*-->\n)?```python\n(.*?)```", walkthrough, re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for skip, code in blocks:
        if not skip:
            exec(compile(code, "docs/PYTHON.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "field `age`: expected a number, got the string 'forty'" in out
    assert namespace["report"].health == "alert"
    assert (tmp_path / "churn.wasm").exists()
