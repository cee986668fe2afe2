"""`slaf-np bench` runs end to end (a smoke test: timings are never asserted)."""

import json

from slaf_np.cli import main


def test_bench_quick_writes_every_result(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(out)]) == 0
    res = json.loads(out.read_text())["results"]
    assert set(res) == {"slaf", "mlp", "expand", "conv", "networks"}
    assert res["expand"]["n_terms"] == 203_490 and res["expand"]["max_rel_error"] < 1e-8
    for r in res.values():
        assert r["seconds"] > 0 and r["table"]
    assert "expand(Boston SLNN)" in capsys.readouterr().out


def test_conv_bench_quick_has_a_row_per_shape_and_the_settings():
    from slaf_np.benchmarks.conv import bench_conv
    from slaf_np.kernels.conv import conv_shapes

    res = bench_conv(quick=True)
    names = [r["name"] for r in res["rows"]]
    assert [n for n in names if "first layer" not in n] == [c["name"] for c in conv_shapes()]
    # a one-channel convolution (a network's first layer) is also timed as the network runs it
    first = [r for r in res["rows"] if not r["input_gradient"]]
    assert [r["name"] for r in first] == ["MNIST conv1 (first layer: no dx)"]
    assert first[0]["as_in_network"] and not res["rows"][0]["as_in_network"]
    for r in res["rows"]:
        assert r["ms"] > 0 and r["gemm_ms"] > 0 and r["peak_mem_x_lowered"] > 0
        assert abs(r["share"] - r["gflops"] / r["gemm_gflops"]) < 0.01
    assert res["numpy_traced"]          # else the peak memory column would read zero
    assert "OPENBLAS_CORETYPE=" in res["table"] and res["settings"]["numba_threads"] >= 1


def test_networks_bench_quick_times_the_three_networks_and_the_first_use():
    from slaf_np.benchmarks.conv import NETWORKS, bench_networks
    from slaf_np.experiments.polyfeatures import mnist_cnn_params

    res = bench_networks(quick=True)
    assert [r["name"] for r in res["rows"]] == list(NETWORKS)
    assert res["rows"][0]["params"] == mnist_cnn_params()[0]      # the paper's MNIST SLNN
    assert all(r["fit_ms"] > 0 and r["loop_ms"] > 0 for r in res["rows"])
    parts = {p["part"] for p in res["breakdown"]}
    assert {"0:Conv2D", "7:Dense", "adam_step"} <= parts
    assert res["first_use"]["cached"]["first_s"] > 0 and "cold" not in res["first_use"]
