"""Submissions get only the task (issue 14.3): an allow-list decides what reaches `generate`
(id, image, allow-listed meta). A probe that uses everything the harness hands it, and would
find the answer through `meta` or a path beside the data, scores no better than `constant`."""

import dataclasses
import pickle
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from baselines.constant import ConstantSubmission
from baselines.gold import GoldSubmission
from cadbench.datasets.base import TASK_META_KEYS, Sample, TaskInput
from cadbench.run import RunSettings, run_model, task_view
from cadbench.submissions import get_submission

PROBE = textwrap.dedent('''
    import dataclasses
    import json
    from pathlib import Path

    from baselines.constant import ConstantSubmission, box_program
    from cadbench.submissions import Submission

    SEEN = []   # (type name, field names, meta) of every input it was handed


    def everything(obj, depth=0):
        """Every string and number reachable from obj (fields, attributes, containers)."""
        if depth > 6:
            return []
        if isinstance(obj, (str, int, float)) and not isinstance(obj, bool):
            return [obj]
        if isinstance(obj, dict) or hasattr(obj, "items"):
            return [x for k, v in obj.items() for x in [k, *everything(v, depth + 1)]]
        if isinstance(obj, (list, tuple)):
            return [x for v in obj for x in everything(v, depth + 1)]
        if dataclasses.is_dataclass(obj):
            return [x for f in dataclasses.fields(obj)
                    for x in everything(getattr(obj, f.name), depth + 1)]
        return []


    class Probe(Submission):
        """Uses whatever it is given: the program, a path beside the data, the true box."""
        name = "tmp_probe"

        def generate(self, samples):
            out = []
            for s in samples:
                names = ([f.name for f in dataclasses.fields(s)]
                         if dataclasses.is_dataclass(s) else sorted(vars(s)))
                SEEN.append((type(s).__name__, names, dict(getattr(s, "meta", {}))))
                out.append(self.cheat(s) or ConstantSubmission().generate([s])[0])
            return out

        def cheat(self, s):
            found = everything(s)
            for v in found:                       # the program itself
                if isinstance(v, str) and "cadquery" in v:
                    return v
            for v in found:                       # a file beside the data
                if isinstance(v, str) and len(v) < 4096 and "/" in v and Path(v).exists():
                    for folder in Path(v).parents[:3]:
                        for f in folder.glob("*.jsonl"):
                            for line in f.read_text().splitlines():
                                row = json.loads(line)
                                if row.get("id") == s.id and row.get("code"):
                                    return row["code"]
            meta = getattr(s, "meta", {}) or {}
            if "geom_key" in meta:               # the true bounding box
                nums = [float(x) for x in str(meta["geom_key"]).replace(",", " ").split()
                        if x.replace(".", "", 1).replace("-", "", 1).isdigit()]
                if len(nums) >= 3:
                    return box_program(*[abs(n) or 0.1 for n in nums[:3]])
            return None
''')


@pytest.fixture(scope="module")
def synth4():
    from cadbench.datasets.synth import load_synth
    return load_synth("test", size=4, n_jobs=1, progress=False)


@pytest.fixture(scope="module")
def probe_cls(tmp_path_factory):
    path = tmp_path_factory.mktemp("probe") / "probe.py"
    path.write_text(PROBE)
    return get_submission(f"{path}:Probe")


def test_task_input_holds_only_the_allow_listed_fields():
    img = np.zeros((4, 4, 3), np.uint8)
    smp = Sample("a", "import cadquery as cq", img,
                 {"family": "plate", "params": {"w": 1}, "geom_key": "1 2 3", "volume": 6.0,
                  "image_path": "images/a.png", "source": "synth", "split": "test",
                  "image_source": "rendered", "code": "leak"})
    t = TaskInput.of(smp)
    assert [f.name for f in dataclasses.fields(t)] == ["id", "image", "meta"]
    assert dict(t.meta) == {"source": "synth", "split": "test", "image_source": "rendered"}
    assert set(t.meta) <= set(TASK_META_KEYS)
    t.meta["family"] = "x"              # its own copy: the sample is untouched
    assert smp.meta["family"] == "plate"
    assert pickle.loads(pickle.dumps(t)).meta == t.meta   # inputs can go to worker processes
    with pytest.raises(ValueError):
        t.image[0, 0, 0] = 1            # a submission cannot alter the shared image
    assert img.flags.writeable          # the sample's own array is untouched


def test_only_an_oracle_gets_the_full_sample(synth4):
    assert all(isinstance(x, Sample) and x.code for x in task_view(GoldSubmission(), synth4))
    assert all(type(x) is TaskInput for x in task_view(ConstantSubmission(), synth4))


def test_the_probe_would_cheat_on_what_the_harness_used_to_hand_it(synth4, probe_cls):
    # The old view (a Sample with `code` blanked, meta intact): the path beside the image
    # leads to samples.jsonl, so the probe returns the ground truth. This is what the test
    # below would catch.
    old_view = [replace(s, code="") for s in synth4]
    assert probe_cls().generate(old_view) == [s.code for s in synth4]


def test_a_probe_using_everything_scores_no_better_than_constant(synth4, probe_cls, tmp_path):
    module = __import__(probe_cls.__module__)
    module.SEEN.clear()
    kw = dict(workers=1, progress=False, write_record=False,
              load_samples=lambda name, split: synth4)
    probe = run_model(RunSettings(model=f"{probe_cls.__module__}:Probe", dataset="synth4"),
                      run_dir=tmp_path / "probe", **kw)
    constant = run_model(RunSettings(model="constant", dataset="synth4"),
                         run_dir=tmp_path / "constant", **kw)
    assert len(module.SEEN) == len(synth4)
    for type_name, names, meta in module.SEEN:
        assert type_name == "TaskInput" and names == ["id", "image", "meta"]
        assert set(meta) <= set(TASK_META_KEYS)
        assert not any(isinstance(v, str) and Path(v).exists() for v in meta.values())
    assert probe.metrics["n"] == constant.metrics["n"] == len(synth4)
    assert probe.metrics["iou_all_mean"] <= constant.metrics["iou_all_mean"] + 1e-9
