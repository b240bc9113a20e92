"""Every Python example in the README runs (the engine's against a real local server)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.scripted_server import Reply, ScriptedServer

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
JOB = {"id": 1, "status": "OK", "result": {"url": "s3://results/1"}}


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code: str, server: ScriptedServer):
    for module in re.findall(r"# needs: ([\w.]+)", code):  # e.g. a provider we compare with
        pytest.importorskip(module)
    server.script(Reply(body=JOB))
    exec(compile(code.replace("http://127.0.0.1:8088", server.url("")), "README.md", "exec"), {})
    if "httsleep(" in code or ".run()" in code:  # engine examples poll; Airflow ones only build
        assert server.received, "the example sent no request"
