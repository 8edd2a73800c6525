"""vit_gpt2's offline model management and `cadbench models` (standard library only)."""

import json

import pytest

from cadbench.cli import main as cli_main
from cadbench.errors import InputError
from submissions.vit_gpt2 import weights


def make_model_folder(path, model_type="gpt2", weights_file="model.safetensors",
                      tokenizer=False):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": model_type}))
    if weights_file:
        (path / weights_file).write_bytes(b"not real weights")
    if tokenizer:
        (path / "vocab.json").write_text("{}")
        (path / "merges.txt").write_text("#version: 0.2\n")
    return path


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hf_hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def test_a_local_folder_resolves_to_itself(tmp_path):
    folder = make_model_folder(tmp_path / "my_vit", model_type="vit")
    m = weights.resolve(str(folder))
    assert m.path == str(folder.resolve()) and m.source == "path" and m.model_type == "vit"
    assert m.has_weights and not m.has_tokenizer


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no such model folder"):
        weights.resolve(str(tmp_path / "absent"))


def test_a_folder_without_weights_is_an_error(tmp_path):
    folder = make_model_folder(tmp_path / "half_copied", weights_file=None)
    with pytest.raises(InputError, match="without weights"):
        weights.resolve(str(folder))


def test_a_folder_without_config_is_an_error(tmp_path):
    (tmp_path / "notamodel").mkdir()
    with pytest.raises(InputError, match="no config.json"):
        weights.resolve(str(tmp_path / "notamodel"))


def test_hub_names_resolve_from_the_local_cache_only(hf_cache):
    repo = hf_cache / "models--google--vit-tiny"
    make_model_folder(repo / "snapshots" / "abc123", model_type="vit")
    make_model_folder(repo / "snapshots" / "old000", model_type="vit")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    m = weights.resolve("google/vit-tiny")
    assert m.source == "hf-cache" and m.path.endswith("abc123") and m.name == "google/vit-tiny"
    assert weights.resolve("gpt2") is None  # not cached: None, no network, no error


def test_enforce_offline_sets_the_hub_switches(monkeypatch):
    for k in weights.OFFLINE_ENV:
        monkeypatch.delenv(k, raising=False)
    weights.enforce_offline()
    import os
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"


def test_import_then_resolve_by_name_then_list(tmp_path, hf_cache, monkeypatch):
    monkeypatch.setenv("CADBENCH_HOME", str(tmp_path / "home"))
    src = make_model_folder(tmp_path / "downloaded_gpt2", tokenizer=True)
    imported = weights.import_model(src, name="gpt2")
    assert imported.source == "cadbench" and imported.has_tokenizer
    m = weights.resolve("gpt2")
    assert m is not None and m.source == "cadbench"
    assert (tmp_path / "home" / "models" / "gpt2" / "config.json").is_file()
    assert [x.name for x in weights.list_models()] == ["gpt2"]


def test_cli_models_import_and_list(tmp_path, hf_cache, monkeypatch, capsys):
    monkeypatch.setenv("CADBENCH_HOME", str(tmp_path / "home"))
    src = make_model_folder(tmp_path / "vit_folder", model_type="vit")
    assert cli_main(["models", "import", str(src), "--name", "org/vit-small"]) == 0
    assert "use it with: --opt encoder=org/vit-small" in capsys.readouterr().out
    assert cli_main(["models", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["name"], r["model_type"], r["source"]) for r in rows] == \
        [("org/vit-small", "vit", "cadbench")]
    assert cli_main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "org/vit-small" in out and "gpt2: missing" in out


def test_cli_models_import_of_a_bad_folder_says_why(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CADBENCH_HOME", str(tmp_path / "home"))
    assert cli_main(["models", "import", str(tmp_path / "nope")]) == 2
    assert "no such model folder" in capsys.readouterr().err
