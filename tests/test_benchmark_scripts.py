"""The index, serve and embed benchmark scripts run (``--smoke``: tiny sizes, figures meaningless),
so the commands the README and RESULTS.md give keep working."""
import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _script(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, keys", [
    ("bench_ann", ("query_process", "latency", "memory")),
    ("bench_serve", ("search, 1 thread(s)", "serve, 8 client(s)")),
    ("bench_embed_shards", ("shards", "overhead", "embed_alone_s")),
])
def test_smoke_run(name, keys, tmp_path, capsys):
    _script(name).main(["--smoke", "--json", str(tmp_path / "out.json"), "--workdir", str(tmp_path / "work")])
    result = json.loads((tmp_path / "out.json").read_text())
    assert all(key in result for key in keys)
    assert "==" in capsys.readouterr().out  # the summary was printed
