"""The submission protocol, registry and discovery (built-ins, files, folders, entry points)."""

import importlib.metadata
import sys
import textwrap
import warnings

import pytest

from cadbench import submissions as subs
from cadbench.cli import main
from cadbench.submissions import (Submission, SubmissionError, get_submission,
                                  list_submissions, parse_option_strings)

MODULE = textwrap.dedent('''
    from cadbench.submissions import Submission, register_submission

    @register_submission
    class {cls}(Submission):
        name = "{name}"
        description = "{desc}"
        default_options = {{"size": 1.0, "count": 2, "flag": False, "label": "x"}}

        def generate(self, samples):
            s = self.options["size"]
            return [f"import cadquery as cq\\nsolid = cq.Workplane().box({{s}}, {{s}}, {{s}})\\n"
                    for _ in samples]
''')


def write_module(folder, filename, cls="TmpSubmission", name="tmp_sub", desc="a temporary one"):
    path = folder / filename
    path.write_text(MODULE.format(cls=cls, name=name, desc=desc))
    return path


def test_builtin_baselines_are_listed_with_descriptions():
    infos = {i.name: i for i in list_submissions()}
    for name in ("constant", "gold", "retrieval"):
        assert name in infos, name
        assert infos[name].error is None
        assert infos[name].description
        assert infos[name].source == "builtin"
    assert infos["retrieval"].needs_training


def test_list_cli_prints_every_builtin(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in subs.BUILTIN_SUBMISSIONS:
        assert name in out


def test_listing_imports_no_torch():
    # `cadbench list` must stay light: the core and the baselines never import torch.
    import subprocess
    code = ("import sys; from cadbench.submissions import get_submission;"
            "[get_submission(n) for n in ('constant', 'gold', 'retrieval')];"
            "print('torch' in sys.modules, 'cadquery' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_options_are_converted_and_unknown_ones_rejected(tmp_path):
    cls = get_submission(f"{write_module(tmp_path, 'm1.py')}:TmpSubmission")
    sub = cls(**parse_option_strings(["size=2.5", "count=3", "flag=yes", "label=hello"]))
    assert sub.options == {"size": 2.5, "count": 3, "flag": True, "label": "hello"}
    with pytest.raises(SubmissionError, match="no option bogus.*size=1.0"):
        cls(bogus="1")
    with pytest.raises(SubmissionError, match="count.*expected int"):
        cls(count="many")
    with pytest.raises(SubmissionError, match="KEY=VALUE"):
        parse_option_strings(["novalue"])


def test_file_path_with_and_without_class_name(tmp_path):
    path = write_module(tmp_path, "m2.py", cls="Mine", name="mine_file")
    assert get_submission(f"{path}:Mine").name == "mine_file"
    assert get_submission(str(path)).__name__ == "Mine"  # the file's only submission
    with pytest.raises(SubmissionError, match="has no class Nope"):
        get_submission(f"{path}:Nope")
    with pytest.raises(SubmissionError, match="no such submission file"):
        get_submission(str(tmp_path / "absent.py"))


def test_broken_module_gives_a_clear_error(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("import this_module_does_not_exist\n")
    with pytest.raises(SubmissionError, match="broken.py: importing it failed.*"
                                              "this_module_does_not_exist"):
        get_submission(f"{path}:X")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(SubmissionError, match="unknown submission 'nope'.*constant"):
        get_submission("nope")


def test_builtins_win_name_clashes(tmp_path):
    path = write_module(tmp_path, "clash.py", cls="FakeConstant", name="constant")
    with pytest.warns(UserWarning, match="built-in wins"):
        cls = get_submission(f"{path}:FakeConstant")
    assert cls.__name__ == "FakeConstant"          # reachable by its path ...
    assert get_submission("constant").__module__ == "baselines.constant"  # ... not by name


def test_entry_point_discovery(tmp_path, monkeypatch):
    write_module(tmp_path, "ep_pkg_mod.py", cls="EpSubmission", name="from_ep",
                 desc="installed by a third-party package")
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [importlib.metadata.EntryPoint(name="from_ep", value="ep_pkg_mod:EpSubmission",
                                         group=subs.ENTRY_POINT_GROUP),
           importlib.metadata.EntryPoint(name="gold", value="ep_pkg_mod:EpSubmission",
                                         group=subs.ENTRY_POINT_GROUP)]

    def fake_entry_points(group=None, **kw):
        return [e for e in eps if e.group == group]
    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    assert get_submission("from_ep").__name__ == "EpSubmission"
    with pytest.warns(UserWarning, match="clashes with a built-in"):
        infos = {i.name: i for i in list_submissions()}
    assert infos["from_ep"].source == "entry point"
    assert infos["from_ep"].description == "installed by a third-party package"
    assert infos["gold"].source == "builtin"
    assert get_submission("gold").__module__ == "baselines.gold"


def test_module_dropped_into_submissions_folder(tmp_path, monkeypatch):
    import submissions
    folder = tmp_path / "extra"
    folder.mkdir()
    write_module(folder, "dropped_in.py", cls="DroppedIn", name="dropped_in",
                 desc="dropped into submissions/")
    # Extend the package's search path instead of writing into the repository.
    monkeypatch.setattr(submissions, "__path__", [*submissions.__path__, str(folder)])
    monkeypatch.delitem(sys.modules, "submissions.dropped_in", raising=False)
    assert get_submission("dropped_in").__name__ == "DroppedIn"
    infos = {i.name: i for i in list_submissions()}
    assert infos["dropped_in"].source == "folder"


def test_defaults_of_the_base_class():
    class Det(Submission):
        name = "det_for_test"

        def generate(self, samples):
            return [f"p{s}" for s in samples]
    sub = Det()
    # deterministic: one candidate each whatever K (K copies would fake best-of-K)
    assert sub.generate_many([1, 2], subs.Sampling(k=3, seed=0)) == [["p1"], ["p2"]]
    assert not sub.stochastic and sub.metadata()["stochastic"] is False
    assert sub.num_parameters() == 0 and sub.default_checkpoint() is None
    meta = sub.metadata()
    assert meta["name"] == "det_for_test" and meta["result_var"] == "solid"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sub.fit([])   # nothing to learn: no error
