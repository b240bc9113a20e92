"""Every Python example in the README and in docs/ runs (the engine's against a real local
server)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.scripted_server import Reply, ScriptedServer

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FOUND = [
    (page.relative_to(ROOT).as_posix(), i, code)
    for page in PAGES
    for i, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S))
]
BLOCKS = [code for _, _, code in FOUND]
JOB = {"id": 1, "status": "OK", "result": {"url": "s3://results/1"}}


def test_readme_and_docs_have_examples():
    assert {page for page, _, _ in FOUND} >= {"README.md", "docs/engine.md"}


@pytest.mark.parametrize(
    ("page", "code"),
    [(page, code) for page, _, code in FOUND],
    ids=[f"{page}:block{i}" for page, i, _ in FOUND],
)
def test_readme_example_runs(page: str, code: str, server: ScriptedServer):
    for module in re.findall(r"# needs: ([\w.]+)", code):  # e.g. a provider we compare with
        pytest.importorskip(module)
    server.script(Reply(body=JOB))
    exec(compile(code.replace("http://127.0.0.1:8088", server.url("")), page, "exec"), {})
    if "httsleep(" in code or ".run()" in code:  # engine examples poll; Airflow ones only build
        assert server.received, "the example sent no request"
