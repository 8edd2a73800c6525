"""vit_gpt2's light repair of generated programs (pure Python: runs without torch)."""

from submissions.vit_gpt2.repair import (RepairStats, fix_degenerate_arcs, open_brackets, parses,
                                         repair)

VALID = ("import cadquery as cq\n"
         "wp = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 0.0), cq.Vector(1.0, 0.0, 0.0), "
         "cq.Vector(0.0, 0.0, 1.0)))\n"
         "solid = wp.moveTo(0.1, 0.2).circle(0.3).extrude(0.5)\n")


def test_valid_code_is_untouched():
    r = repair(VALID)
    assert r.code == VALID and not r.changed


def test_unclosed_call_gets_its_brackets_closed():
    cut = VALID.rstrip("\n")[:-3]  # "...extrude(0." -> brackets left open
    assert not parses(cut)
    r = repair(cut)
    assert parses(r.code) and r.actions == ("closed_brackets",)
    assert r.code.startswith(cut.rstrip(".")) and r.code.rstrip().endswith(")")


def test_truncated_last_line_is_dropped_when_closing_is_not_enough():
    cut = VALID + "solid = solid.union(cq.Vector(0.1, 0.2 +"  # a dangling operator
    r = repair(cut)
    assert parses(r.code)
    assert "dropped_last_line" in r.actions
    assert r.code.rstrip().endswith("extrude(0.5)")


def test_open_brackets_ignore_strings_and_comments():
    assert open_brackets("x = f('(', \"[\")  # (((\ny = g(") == ["("]


def test_hopeless_code_is_returned_unchanged():
    junk = "))) = = (\n+*\n"
    assert repair(junk).code == junk and not repair(junk).changed


def test_stats_count_raw_repaired_and_unparsed_separately():
    stats = RepairStats()
    stats.add(repair(VALID), raw_ok=True, truncated=False)
    cut = VALID.rstrip("\n")[:-3]
    stats.add(repair(cut), raw_ok=False, truncated=True)
    junk = "))) = = (\n"
    stats.add(repair(junk), raw_ok=False, truncated=False)
    d = stats.to_dict()
    assert (d["outputs"], d["parsed_raw"], d["repaired"], d["unparsed"], d["truncated"]) == \
        (3, 1, 1, 1, 1)
    assert d["actions"] == {"closed_brackets": 1}


def test_degenerate_arcs_become_lines_and_real_arcs_stay():
    line = ("loop1=wp_sketch0.moveTo(0.0, 0.0).lineTo(1.0, 0.0)"
            ".threePointArc((1.5, 0.0), (2.0, 0.0))"        # collinear: no circle
            ".threePointArc((2.5, 0.5), (2.0, 1.0))"        # a real arc
            ".threePointArc((2.0, 1.0), (3.0, 1.0))"        # mid point == start
            ".threePointArc((1.0, 1.0), (3.0, 1.0)).close()")  # ends where it starts
    fixed, n = fix_degenerate_arcs("import cadquery as cq\n" + line + "\n")
    assert n == 3
    assert fixed.split("\n")[1] == ("loop1=wp_sketch0.moveTo(0.0, 0.0).lineTo(1.0, 0.0)"
                                    ".lineTo(2.0, 0.0).threePointArc((2.5, 0.5), (2.0, 1.0))"
                                    ".lineTo(3.0, 1.0).close()")
    valid = "loop0=wp.moveTo(0.0, 0.0).threePointArc((0.5, 0.5), (1.0, 0.0)).close()\n"
    assert fix_degenerate_arcs(valid) == (valid, 0)


def test_degenerate_arc_fixes_are_counted_apart():
    stats = RepairStats()
    stats.add_arc_fix(0)
    stats.add_arc_fix(2)
    d = stats.to_dict()
    assert d["arcs_fixed"] == 1 and d["actions"] == {"degenerate_arc_to_line": 2}
