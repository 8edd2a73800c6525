"""The submission protocol, the registry and discovery.

A submission turns images into CadQuery programs. Subclass `Submission`, decorate it with
`@register_submission`, and cadbench can list it, train it, run it and put it on a leaderboard:

    from cadbench.submissions import Submission, register_submission

    @register_submission
    class MySubmission(Submission):
        name = "mine"
        description = "One line shown by `cadbench list`."
        default_options = {"batch_size": 16}

        def generate(self, samples):          # each sample: a TaskInput (id, image)
            return ["import cadquery as cq\\nsolid = cq.Workplane().box(1, 1, 1)\\n"
                    for _ in samples]

What `generate` sees: `TaskInput`s (id, image, an allow-listed `meta`), never the ground
truth; only an oracle (`uses_ground_truth = True`) gets the full `Sample`. A submission that
samples sets `stochastic = True` and overrides `generate_many(samples, sampling)`, seeding
each sample from `sampling.seed_for(sample.id, candidate)` so resumes and batch sizes never
change a prediction.

A candidate is a program (a `str`) or, for a model that outputs geometry, a `pathlib.Path` to
a geometry file (STEP, STL, OBJ, PLY, glTF: `inputs.GEOMETRY_FORMATS`). The run copies the
file into its folder at once (the submission may delete it afterwards) and scores it as a
mesh prediction in the sandbox, like `cadbench score` does an {id, path} row. A candidate
that failed is the empty program "" (it scores as a failure).

Where submissions come from (`get_submission(spec)` resolves a spec in this order):
  1. a file path `path/to/module.py:ClassName` (or `path/to/module.py` with one submission);
  2. a `package.module:ClassName` import path;
  3. the built-ins (`BUILTIN_SUBMISSIONS`: `baselines/` and `submissions/`), which win clashes;
  4. modules dropped into the repository's `submissions/` folder (any module or package there);
  5. third-party packages through the entry-point group `cadbench.submissions`
     (`[project.entry-points."cadbench.submissions"] mine = "my_pkg.mod:MySubmission"`).

Heavy imports (torch, transformers) belong inside methods, never at a submission module's top
level: `cadbench list` imports every module to read its description.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import CadbenchError, InputError

if TYPE_CHECKING:  # only for annotations: keep this module import-light
    from .datasets.base import Sample, TaskInput

ENTRY_POINT_GROUP = "cadbench.submissions"

# One candidate of a submission: a CadQuery program, or a geometry file it wrote.
Output = str | Path

# name -> "module:Class". Imported only when listed or used.
BUILTIN_SUBMISSIONS: dict[str, str] = {
    "constant": "baselines.constant:ConstantSubmission",
    "gold": "baselines.gold:GoldSubmission",
    "retrieval": "baselines.retrieval:RetrievalSubmission",
    "simple": "submissions.simple:SimpleSubmission",
    "vit_gpt2": "submissions.vit_gpt2:VitGpt2Submission",
    "openai": "submissions.openai:OpenAISubmission",
    "hf": "submissions.hf:HFSubmission",
}


class SubmissionError(InputError):
    """A submission that cannot be found, imported or configured: the message says which."""


@dataclass(frozen=True)
class Sampling:
    """The sampling controls `cadbench run` hands every submission (`--samples K
    --temperature T --top-p P --seed S`). None means "the submission's own default"."""

    k: int = 1                         # candidates per sample
    temperature: float | None = None
    top_p: float | None = None
    seed: int = 0                      # the run seed

    def __post_init__(self):
        if self.k < 1:
            raise InputError(f"sampling: k={self.k}; at least 1 candidate per sample")
        if self.temperature is not None and not self.temperature >= 0:
            raise InputError(f"sampling: temperature={self.temperature}; must be >= 0")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise InputError(f"sampling: top_p={self.top_p}; must be in (0, 1]")

    def seed_for(self, sample_id: str, candidate: int = 0) -> int:
        """A seed for one sample's candidate from the run seed and the sample id only (32 bits:
        fits torch, numpy and API seeds), so neither the batch a sample lands in nor an
        interrupted and resumed run changes what it generates."""
        blob = f"{int(self.seed)}\0{sample_id}\0{int(candidate)}".encode()
        return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelCard:
    """What a model is, in a few words the leaderboard shows next to its numbers."""

    architecture: str                  # e.g. "ViT encoder (2 layers) + GPT-2 decoder (4 layers)"
    pretrained: str = "from scratch"   # or "pretrained <weights>", "no learned weights"
    training_data: str = "none"        # e.g. "synth train (5,000 programs)"
    test_time_search: str = "none"     # e.g. "9 candidates executed and ranked by render"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class Submission:
    """Base class of every submission. Override `generate`; the rest has working defaults.

    Class attributes describe the submission (shown by `cadbench list`, written to records):
      name            registry key, used by `--model NAME` and as the leaderboard row name
      description     one line
      dependencies    pip requirement names beyond cadbench's core (e.g. ("torch",))
      result_var      the variable holding the final solid in generated programs
      needs_training  True when `fit` must run before `generate` is meaningful
      uses_ground_truth  True only for oracles (gold): they get the full `Sample`; every
                      other submission gets `TaskInput`s (id, image, allow-listed meta)
      stochastic      True when `generate_many` samples (honours Sampling): a deterministic
                      submission asked for K > 1 candidates generates one per sample
      default_options every option `__init__` accepts, with its default; CLI strings
                      (`--opt size=64`) are converted to the default's type
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    dependencies: ClassVar[tuple[str, ...]] = ()
    result_var: ClassVar[str] = "solid"
    needs_training: ClassVar[bool] = False
    uses_ground_truth: ClassVar[bool] = False
    stochastic: ClassVar[bool] = False
    default_options: ClassVar[dict[str, Any]] = {}
    card: ClassVar[ModelCard | None] = None   # shown on the leaderboard with the row

    def __init__(self, **options: Any):
        self.options: dict[str, Any] = parse_options(type(self), options)

    # -- generation ------------------------------------------------------------------------
    def generate(self, samples: list["TaskInput"]) -> list[Output]:
        """One program (or geometry file, a Path) per sample, in order (batched: `samples`
        is a batch)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement generate()")

    def generate_many(self, samples: list["TaskInput"], sampling: Sampling
                      ) -> list[list[Output]]:
        """The candidates (programs or geometry files) of each sample, in order: `sampling.k`
        of them for a
        stochastic submission (seeded per sample by `sampling.seed_for`), one otherwise.

        The default suits deterministic submissions: one `generate` call, one candidate each
        (K copies of one program would fake best-of-K). Stochastic submissions override it.
        """
        if self.stochastic:
            raise NotImplementedError(f"{type(self).__name__} says it samples (stochastic = "
                                      f"True) but does not implement generate_many()")
        return [[c] for c in self.generate(samples)]

    # -- training and checkpoints ----------------------------------------------------------
    def fit(self, train: list["Sample"], val: list["Sample"] | None = None, *,
            epochs: int | None = None, seed: int = 0) -> None:
        """Learn from the training samples. The default does nothing (nothing to learn)."""
        if self.needs_training:
            raise NotImplementedError(f"{type(self).__name__} needs training but has no fit()")

    def save(self, dir: Path) -> None:
        """Write everything `load` needs into `dir`. Default: nothing to save."""
        Path(dir).mkdir(parents=True, exist_ok=True)

    @classmethod
    def load(cls, dir: Path, **options: Any) -> "Submission":
        """Rebuild a fitted submission from `save`'s folder. Default: a fresh instance."""
        return cls(**options)

    @classmethod
    def default_checkpoint(cls) -> Path | None:
        """The committed checkpoint folder (e.g. `submissions/simple/checkpoint/`), or None."""
        return None

    # -- description -----------------------------------------------------------------------
    def num_parameters(self) -> int:
        """Learned parameters (stored numbers for non-neural models). Default 0."""
        return 0

    def training_seconds(self) -> float | None:
        """Training time the fitted model holds in all, when the submission keeps count:
        a training resumed from a saved state took longer than the last `fit` call (which
        is what the harness can time). None: the `fit` call's time is the whole of it."""
        return None

    def run_name(self) -> str:
        """The leaderboard row this instance's runs belong to: the class's name, unless its
        options make it another model (`openai` serves many models: `openai-<model>`)."""
        return self.name or type(self).__name__

    def model_card(self) -> ModelCard | None:
        """This instance's card: the class's `card` unless options change what it is."""
        return self.card

    def compute_used(self) -> dict[str, float]:
        """Test-time work done by this instance so far, for the record's per-sample compute:
        counts such as `candidates_executed` (programs run to choose an answer), `model_calls`
        and `tokens`. Generation time is measured by the harness. Default: nothing counted."""
        return {}

    def metadata(self) -> dict[str, Any]:
        """What a run record says about this submission."""
        return {
            "card": card.to_dict() if (card := self.model_card()) else None,
            "name": self.name,
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "description": self.description,
            "dependencies": list(self.dependencies),
            "result_var": self.result_var,
            "needs_training": self.needs_training,
            "uses_ground_truth": self.uses_ground_truth,
            "stochastic": self.stochastic,
            "num_parameters": int(self.num_parameters()),
            "options": dict(self.options),
        }


def checkpoint_exists(path: Path | None) -> bool:
    """A checkpoint folder counts when it exists and holds at least one file."""
    return path is not None and Path(path).is_dir() and any(Path(path).iterdir())


# -- options -------------------------------------------------------------------------------

def parse_options(cls: type[Submission], options: dict[str, Any]) -> dict[str, Any]:
    """Merge `options` into `cls.default_options`; convert CLI strings; reject unknown keys."""
    known = dict(cls.default_options)
    unknown = sorted(set(options) - set(known))
    if unknown:
        listed = ", ".join(f"{k}={v!r}" for k, v in known.items()) or "none"
        raise SubmissionError(f"submission {cls.name or cls.__name__!r} has no option "
                              f"{', '.join(unknown)}; its options: {listed}")
    for key, value in options.items():
        known[key] = _convert(cls, key, value, known[key])
    return known


def _convert(cls: type[Submission], key: str, value: Any, default: Any) -> Any:
    if not isinstance(value, str) or default is None or isinstance(default, str):
        return value
    from .keyvalue import text_to
    try:
        for kind in (bool, int, float):   # bool first: it is an int too
            if isinstance(default, kind):
                return text_to(kind, value)
    except ValueError:
        raise SubmissionError(f"option {key}={value!r} of submission "
                              f"{cls.name or cls.__name__!r}: expected "
                              f"{type(default).__name__}") from None
    return value


def parse_option_strings(pairs: list[str] | None) -> dict[str, str]:
    """`["size=64", "device=cpu"]` -> {"size": "64", "device": "cpu"} (the CLI's --opt)."""
    from .keyvalue import parse_key_values
    return parse_key_values(pairs, "--opt", SubmissionError)


# -- registry ------------------------------------------------------------------------------

_REGISTRY: dict[str, type[Submission]] = {}


def register_submission(cls: type[Submission]) -> type[Submission]:
    """Class decorator: make `cls` known by its `name`. Built-ins win name clashes."""
    if not (isinstance(cls, type) and issubclass(cls, Submission)):
        raise TypeError("@register_submission decorates subclasses of Submission")
    if not cls.name or not isinstance(cls.name, str):
        raise SubmissionError(f"{cls.__module__}.{cls.__qualname__} needs a `name`")
    here = f"{cls.__module__}:{cls.__qualname__}"
    builtin = BUILTIN_SUBMISSIONS.get(cls.name)
    if builtin is not None and not _is_target(cls, builtin):
        warnings.warn(f"submission {here} is named {cls.name!r} like a built-in ({builtin}); "
                      f"the built-in wins: reach this one by its path", stacklevel=2)
        return cls
    _REGISTRY[cls.name] = cls
    return cls


def _is_target(cls: type, target: str) -> bool:
    """Whether `cls` is what `target` names (a package may re-export it from a submodule)."""
    mod, _, qualname = target.partition(":")
    return cls.__qualname__ == qualname and (cls.__module__ == mod or
                                             cls.__module__.startswith(mod + "."))


@dataclass
class SubmissionInfo:
    """One line of `cadbench list`."""

    name: str
    source: str        # "builtin", "folder", "entry point"
    target: str        # "module:Class"
    description: str = ""
    needs_training: bool = False
    dependencies: tuple[str, ...] = ()
    error: str | None = None


def get_submission(spec: str) -> type[Submission]:
    """Resolve a name, a `module:Class`, or a `path/to/file.py[:Class]` to a Submission class."""
    spec = spec.strip()
    if not spec:
        raise SubmissionError("empty submission name")
    file_part = spec.split(":", 1)[0]
    if file_part.endswith(".py") or "/" in file_part or "\\" in file_part:
        path, _, cls_name = spec.partition(":")
        return load_from_file(Path(path), cls_name or None)
    if ":" in spec:
        return _import_target(spec)
    if spec in BUILTIN_SUBMISSIONS:
        return _import_target(BUILTIN_SUBMISSIONS[spec])
    if spec in _REGISTRY:
        return _REGISTRY[spec]
    for info in _folder_infos() + _entry_point_infos():
        if info.name == spec:
            return _import_target(info.target)
    known = ", ".join(sorted(i.name for i in list_submissions())) or "none"
    raise SubmissionError(f"unknown submission {spec!r}; known: {known} "
                          f"(or pass path/to/module.py:ClassName)")


def load_from_file(path: Path, cls_name: str | None = None) -> type[Submission]:
    """Import a submission class from a Python file, outside any package."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise SubmissionError(f"{path}: no such submission file")
    mod_name = f"cadbench_user_submission_{abs(hash(str(path.resolve())))}"
    module = sys.modules.get(mod_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise SubmissionError(f"{path}: cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[mod_name]
            raise SubmissionError(f"{path}: importing it failed: "
                                  f"{type(e).__name__}: {e}") from e
    return _pick_class(module, cls_name, str(path))


def _import_target(target: str) -> type[Submission]:
    mod_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(mod_name)
    except Exception as e:
        raise SubmissionError(f"submission {target}: importing {mod_name} failed: "
                              f"{type(e).__name__}: {e}") from e
    return _pick_class(module, cls_name or None, target)


def _pick_class(module, cls_name: str | None, where: str) -> type[Submission]:
    if cls_name:
        cls = getattr(module, cls_name, None)
        if cls is None:
            raise SubmissionError(f"{where}: has no class {cls_name}")
        if not (isinstance(cls, type) and issubclass(cls, Submission)):
            raise SubmissionError(f"{where}: {cls_name} is not a cadbench Submission subclass")
        return cls
    found = [v for v in vars(module).values() if isinstance(v, type) and
             issubclass(v, Submission) and v is not Submission and
             v.__module__ == module.__name__]
    if len(found) != 1:
        names = ", ".join(c.__name__ for c in found) or "none"
        raise SubmissionError(f"{where}: name the class as {where}:ClassName "
                              f"(submission classes found: {names})")
    return found[0]


# -- discovery for `cadbench list` ---------------------------------------------------------

def _info_from_class(cls: type[Submission], source: str, target: str) -> SubmissionInfo:
    return SubmissionInfo(name=cls.name, source=source, target=target,
                          description=cls.description, needs_training=cls.needs_training,
                          dependencies=tuple(cls.dependencies))


def _folder_infos() -> list[SubmissionInfo]:
    """Modules dropped into the repository's `submissions/` folder (beyond the built-ins)."""
    try:
        import submissions as pkg
    except ImportError:
        return []
    import pkgutil
    builtin_modules = {t.split(":")[0] for t in BUILTIN_SUBMISSIONS.values()}
    out = []
    for mod in pkgutil.iter_modules(pkg.__path__, prefix="submissions."):
        if mod.name in builtin_modules or mod.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        try:
            module = importlib.import_module(mod.name)
        except Exception as e:
            out.append(SubmissionInfo(name=mod.name.split(".")[-1], source="folder",
                                      target=mod.name, error=f"{type(e).__name__}: {e}"))
            continue
        for v in vars(module).values():
            if (isinstance(v, type) and issubclass(v, Submission) and v is not Submission
                    and v.__module__ == module.__name__ and v.name):
                out.append(_info_from_class(v, "folder", f"{mod.name}:{v.__qualname__}"))
    return out


def _entry_point_infos() -> list[SubmissionInfo]:
    from importlib.metadata import entry_points
    out = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        out.append(SubmissionInfo(name=ep.name, source="entry point", target=ep.value))
    return out


def list_submissions(describe: bool = True) -> list[SubmissionInfo]:
    """Every submission cadbench can find; built-ins first and winning name clashes.

    With `describe`, imports each module (cheap when heavy imports stay inside methods) to
    read its description; a module that fails to import is listed with its error.
    """
    infos: list[SubmissionInfo] = []
    seen: set[str] = set()

    def add(info: SubmissionInfo) -> None:
        if info.name in seen:
            builtin = BUILTIN_SUBMISSIONS.get(info.name)
            if builtin is not None and builtin != info.target:
                warnings.warn(f"{info.source} submission {info.name!r} ({info.target}) "
                              f"clashes with a built-in; the built-in wins", stacklevel=3)
            return
        seen.add(info.name)
        if describe and info.error is None and not info.description:
            try:
                cls = _import_target(info.target)
            except CadbenchError as e:
                info.error = str(e)
            else:  # keep the name it is found by (an entry point's name may differ)
                listed = info.name
                info = _info_from_class(cls, info.source, info.target)
                info.name = listed
        infos.append(info)

    for name, target in BUILTIN_SUBMISSIONS.items():
        add(SubmissionInfo(name=name, source="builtin", target=target))
    for info in _folder_infos():
        add(info)
    for info in _entry_point_infos():
        add(info)
    for name, cls in sorted(_REGISTRY.items()):  # registered in this process by other means
        if name in BUILTIN_SUBMISSIONS and _is_target(cls, BUILTIN_SUBMISSIONS[name]):
            continue  # the built-in itself, defined in a submodule of its package
        add(_info_from_class(cls, "registered", f"{cls.__module__}:{cls.__qualname__}"))
    return infos
