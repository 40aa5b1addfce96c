"""``h3r.load``: the one home of model loading; the layers below it never import it, so no import circle."""

import ast
from pathlib import Path

import pytest

import h3r
from h3r.load import load_detector, model_files, model_format, resolve_model

SOURCE = Path(h3r.__file__).parent
LOWER_LAYERS = ("models", "inference", "engine/checkpoint.py", "engine/evaluate.py", "engine/pose.py", "pretrained")


def module_level_imports(path: Path) -> set[str]:
    """The h3r modules a file imports when it is imported (not those imported inside functions)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("h3r"):
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


def test_the_layers_below_the_model_loader_do_not_import_it():
    files = [path for layer in LOWER_LAYERS for path in sorted((SOURCE / layer).rglob("*.py")) or [SOURCE / layer]]
    assert len(files) > 10
    for path in files:
        assert "h3r.load" not in module_level_imports(path), path
    loader = module_level_imports(SOURCE / "load.py")
    assert not any(name.startswith(("h3r.cli", "h3r.engine.train")) for name in loader)


def test_every_format_is_told_apart(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("{}")
    (tmp_path / "run" / "last.ckpt").write_bytes(b"")
    (tmp_path / "torchalign").mkdir()
    (tmp_path / "torchalign" / "config.yaml").write_text("{}")
    (tmp_path / "model.onnx").write_bytes(b"")
    (tmp_path / "model.ckpt").write_bytes(b"")
    names = ("run", "torchalign", "model.onnx", "model.ckpt")
    kinds = {name: model_format(resolve_model(tmp_path / name)) for name in names}
    assert kinds == {"run": "run", "torchalign": "torchalign", "model.onnx": "onnx", "model.ckpt": "checkpoint"}
    assert model_format(resolve_model("face68")) == "bundle"
    assert [path.name for path in model_files(tmp_path / "run")] == ["config.yaml", "last.ckpt"]
    (tmp_path / "model.pth").write_bytes(b"")
    with pytest.raises(ValueError, match="model.pth: no such model folder, .ckpt or .onnx file, nor a bundled model"):
        load_detector(tmp_path / "model.pth")
