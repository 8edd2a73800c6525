"""Agreement of each protocol with its peer's own values on the fixture pairs
(tests/protocols/fixtures), and cadbench's time per pair.

    python benchmarks/bench_protocol_agreement.py [PROTOCOL ...]

Per metric: pairs, deterministic pairs (the peer gave the same value on every run and on
inputs moved by 1e-3), how many of those cadbench reproduces within 0.005, the largest
|difference| there, and for the peer's non-deterministic values (unseeded sampling) how many
lie within 0.005 + 4 sd of the peer's runs. Same rule as tests/protocols/test_peer_fixtures.py."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "protocols"))

from test_peer_fixtures import PROTOCOLS, TOLERANCE, load_fixture, pair_meshes, tolerance  # noqa: E402

from cadbench.protocols import evaluate_pair, get_protocol  # noqa: E402


def main(names: list[str]) -> None:
    for name in names or PROTOCOLS:
        protocol = get_protocol(name)
        fixture, meshes = load_fixture(name)
        if fixture.get("meshes_after_repair"):
            protocol = replace(protocol, repair="none")
        stats = {m.name: {"n": 0, "det": 0, "det_ok": 0, "det_max": 0.0, "nd": 0, "nd_ok": 0}
                 for m in protocol.metrics}
        seconds = []
        for pair in fixture["pairs"]:
            ref, pred = pair_meshes(meshes, pair["mesh_index"])
            t0 = time.perf_counter()
            row = evaluate_pair(protocol, ref, pred, seed=0)
            seconds.append(time.perf_counter() - t0)
            for spec in protocol.metrics:
                peer = pair["peer"][spec.name]
                if peer is None or row[spec.name] is None:
                    continue
                runs = [peer] + list(pair.get("peer_runs", {}).get(spec.name, []))
                noise = pair.get("peer_input_noise", {}).get(spec.name, [])
                centre, tol, det = tolerance([v * spec.scale for v in runs],
                                             [v * spec.scale for v in noise])
                d = abs(row[spec.name] - centre)
                s = stats[spec.name]
                s["n"] += 1
                if det:
                    s["det"] += 1
                    s["det_ok"] += d <= TOLERANCE
                    s["det_max"] = max(s["det_max"], d)
                else:
                    s["nd"] += 1
                    s["nd_ok"] += d <= tol
        print(f"{name}: {len(fixture['pairs'])} pairs, peer {fixture['peer']['repo']} "
              f"@ {fixture['peer']['commit'][:12]}; cadbench {np.mean(seconds):.2f} s/pair "
              f"(median {np.median(seconds):.2f})")
        for metric, s in stats.items():
            print(f"  {metric:22s} deterministic {s['det_ok']}/{s['det']} within {TOLERANCE} "
                  f"(max |d| {s['det_max']:.4f}); not deterministic {s['nd_ok']}/{s['nd']} "
                  "within the widened tolerance (sampling or input noise)")


if __name__ == "__main__":
    main(sys.argv[1:])
