"""The package's shape: imports point one way (no cycle, counting imports inside functions too)."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "perturb_lib"


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, from every ``import`` and ``from`` statement anywhere."""
    modules = {}
    for f in root.rglob("*.py"):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = f

    def resolve(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {m: set() for m in modules}
    for m, f in modules.items():
        base = m.split(".") if f.name == "__init__.py" else m.split(".")[:-1]
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                prefix = base[:len(base) - (node.level - 1)] if node.level else []
                mod = ".".join(prefix + ([node.module] if node.module else [])) if node.level else node.module or ""
                targets = [f"{mod}.{a.name}" for a in node.names] + [mod]
            else:
                continue
            for t in targets:
                r = resolve(t) if t.split(".")[0] == root.name else None
                # a package's own submodules and a module's parent packages are not edges: Python imports the
                # parents first anyway (the same rule as ../shared/tools/import_cycles.py)
                inside = (f.name == "__init__.py" and r and r.startswith(m + ".")) or (r and m.startswith(r + "."))
                if r and r != m and not inside:
                    graph[m].add(r)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = "done"
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_inside_the_package():
    graph = import_graph(PACKAGE)
    assert len(graph) > 40
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def layer_of(module: str) -> int:
    """The layer index of a module (``perturb_lib.x.y`` or ``x.y``) in the README's layers."""
    from perturb_lib.layers import LAYERS
    name = module.removeprefix("perturb_lib.")
    for i, (_, members, _) in enumerate(LAYERS):
        if any(name == m or name.startswith(m + ".") for m in members):
            return i
    raise KeyError(f"module {module!r} is in no layer of perturb_lib.layers.LAYERS")


def test_imports_point_down_the_layers_the_readme_draws():
    from perturb_lib.layers import LAYERS
    graph = import_graph(PACKAGE)
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {n} ({LAYERS[layer_of(n)][0]})"
              for m, targets in graph.items() if m != "perturb_lib" for n in targets
              if n != "perturb_lib" and layer_of(n) > layer_of(m)]
    assert upward == []


def test_readme_generated_sections_are_in_sync():
    from perturb_lib import readme
    assert readme.stale() == [], "run `make readme`"


def test_the_frontier_says_which_targets_were_reached(tmp_path):
    """A target counts as reached only by a run on unshared cores; shared cores reach the accuracy alone."""
    from perturb_lib import readme
    path = tmp_path / "frontier.csv"
    path.write_text("recipe,precision,minutes,cpu_share,val_raw_flip,test_acc,test_disgust,test_fear\n"
                    "A,bf16,4.0,0.99,0.63,0.652,0.2,0.3\n"
                    "B,bf16,24.0,0.71,0.67,0.681,0.4,0.4\n"
                    "C,bf16,9.0,0.95,0.66,,,\n")
    text = readme.recipe_frontier(path)
    assert "| C | bf16 | 9.0 | 66.0 % | (not read: not a finalist) | -- |" in text
    assert "- 65 % in at most 5 minutes: **reached**: A, 65.2 % in 4.0 minutes." in text
    assert "- 68 % in at most 15 minutes: **accuracy reached, time not measured**: B, 68.1 % in 24.0 minutes" in text
    assert "- 70 % in at most 30 minutes: **not reached**: the best finalist, B, has 68.1 %, 1.9 points short." in text


def test_study_time_counts_only_the_runs_its_results_name(tmp_path, monkeypatch):
    import json
    from perturb_lib import readme
    root = tmp_path / "figures" / "s"
    (root / "results").mkdir(parents=True)
    (root / "timings.json").write_text(json.dumps({"notebooks": {"01_x": {"seconds": 90}}, "total_seconds": 90}))
    (root / "results" / "maskfer.json").write_text(json.dumps({"runs": {"clean": "r1"}}))
    (root / "results" / "scheme.json").write_text(json.dumps({"runs": {"baseline": "r1", "perturb": "r2"}}))
    for name, wall, speed, share in (("r1", 60, 100, 0.99), ("r2", 120, 300, 0.5), ("r3", 600, 900, 0.99)):
        (root / "records" / name).mkdir(parents=True)
        (root / "records" / name / "env.json").write_text(
            json.dumps({"wall_seconds": wall, "images_per_s": speed, "cpu_share": share}))
    monkeypatch.setattr(readme, "PROJECT_ROOT", tmp_path)
    text = readme.study_time("s")
    # r3 is in the ledger but no result names it: 2 runs, 3.0 minutes; the median speed of r1 and r2 is 200
    assert "its 2 training runs took 3.0 minutes in all at a median 200 training images/s" in text
    assert "01 1.0 (1 runs), 03 3.0 (2 runs)" in text
    assert "1 of the runs trained while their cores were shared" in text
    assert "holds 1 more run record(s) that these results do not use" in text
    assert "resumed after an interruption" not in text
    env = root / "records" / "r2" / "env.json"
    env.write_text(json.dumps({**json.loads(env.read_text()), "resumed_at_epoch": 3}))
    assert "; 1 run(s) were resumed after an interruption and count the minutes of their last sitting only" in (
        readme.study_time("s"))
