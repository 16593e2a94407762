"""The package's room rules, counted from its imports (see tests/structure_check.py)."""

from structure_check import analyse, room


def test_rooms_have_no_import_cycles_cli_imports_or_private_crossings():
    rep = analyse()
    assert rep.cycles == [], rep.cycles
    assert rep.cli_imports == [], rep.cli_imports
    assert rep.private_uses == [], rep.private_uses


def test_only_shared_basics_sit_at_the_top_level():
    """Application glue lives in tasks/; the top level holds only modules every room may use."""
    rep = analyse()
    assert set(rep.top_level_modules) <= {"energy3d.config", "energy3d.errors", "energy3d.losses", "energy3d.metrics",
                                          "energy3d.paths"}, rep.top_level_modules


def test_geometry_imports_nothing_else_of_the_package_and_tasks_are_imported_only_by_tasks_and_cli():
    rep = analyse()
    geo = [(a, b) for a, b in rep.edges if room(a) == "geometry" and room(b) not in ("geometry", "errors")]
    assert geo == [], geo
    into_tasks = [(a, b) for a, b in rep.edges if room(b) == "tasks" and room(a) not in ("tasks", "cli")]
    assert into_tasks == [], into_tasks


def test_the_checker_sees_a_cycle_and_a_private_crossing(tmp_path):
    """The checker itself: a two-module cycle and a private name used from another room are found."""
    pkg = tmp_path / "src" / "energy3d"
    (pkg / "a").mkdir(parents=True)
    (pkg / "b").mkdir()
    for d in (pkg, pkg / "a", pkg / "b"):
        (d / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("def f():\n    from energy3d.b.y import _hidden\n")
    (pkg / "b" / "y.py").write_text("from energy3d.a import x\n_hidden = 1\n")
    (pkg / "c.py").write_text("import energy3d.cli.main\n")
    rep = analyse(tmp_path / "src", extra_dirs=())
    assert rep.cycles == [["energy3d.a.x", "energy3d.b.y"]]
    assert len(rep.private_uses) == 1 and "_hidden" in rep.private_uses[0]
    assert rep.top_level_modules == ["energy3d.c"]
