import json

from click.testing import CliRunner

from h3r.cli.main import cli


def test_quantization_command_writes_json_and_plot(tmp_path):
    json_path, plot_path = tmp_path / "q.json", tmp_path / "q.png"
    result = CliRunner().invoke(
        cli,
        ["analyze", "quantization", "--points", "3000", "--strides", "4,16", "--codecs", "h3r,vanilla-round,dark",
         "--json", str(json_path), "--plot", str(plot_path)],
    )
    assert result.exit_code == 0, result.output
    assert "Mean round-trip error" in result.output and "vanilla-round" in result.output
    results = json.loads(json_path.read_text())
    assert results["input_size"] == 256
    assert set(results["codecs"]) == {"h3r", "vanilla-round", "dark"}
    assert set(results["codecs"]["h3r"]) == {"4", "16"}
    assert set(results["codecs"]["dark"]["16"]) == {"mean_px", "max_px"}
    assert results["codecs"]["h3r"]["16"]["mean_px"] <= 1e-3
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_options_get_clear_messages():
    runner = CliRunner()
    result = runner.invoke(cli, ["analyze", "quantization", "--codecs", "h3r,argmax"])
    assert result.exit_code == 2 and "unknown codec(s) argmax" in result.output
    result = runner.invoke(cli, ["analyze", "quantization", "--strides", "3"])
    assert result.exit_code == 2 and "stride 3 must be a positive divisor" in result.output
    result = runner.invoke(cli, ["analyze", "quantization", "--strides", "four"])
    assert result.exit_code == 2 and "comma-separated list" in result.output
    result = runner.invoke(cli, ["analyze", "quantization", "--noise", "-1"])
    assert result.exit_code == 2
