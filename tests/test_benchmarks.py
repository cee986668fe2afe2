"""`slaf-np bench` runs end to end (a smoke test: timings are never asserted)."""

import json

from slaf_np.cli import main


def test_bench_quick_writes_every_result(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(out)]) == 0
    res = json.loads(out.read_text())["results"]
    assert set(res) == {"slaf", "mlp", "expand"}
    assert res["expand"]["n_terms"] == 203_490 and res["expand"]["max_rel_error"] < 1e-8
    for r in res.values():
        assert r["seconds"] > 0 and r["table"]
    assert "expand(Boston SLNN)" in capsys.readouterr().out
