"""The package's layout rules, checked on the source: where landmark indices live, who may import
whom, no import cycles, every package in the wheel.

These read the code (``ast``, ``tokenize``), so a new stray literal or a new cycle fails here the
moment it is added, with the file and line.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import tomllib
from pathlib import Path

import numpy as np

from realtime import geometry, topology

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "realtime"
# Compatibility shims at the old paths (``realtime.cli``: the entry point of installs made before
# the layout; ``realtime.bust``, ``realtime.pipeline``: public API): they only re-export.
SHIMS = {"realtime.cli", "realtime.bust", "realtime.pipeline"}
# Runtime packages: what a user's frame or photo flows through. They never import the programs
# built on them (apps) nor the development tools.
RUNTIME = ("realtime.stages", "realtime.render", "realtime.accessories", "realtime.printing")
# Literal landmark indices below this are too common as plain numbers (array columns, byte
# offsets, small counts) to judge in a subscript; named groups of them are still caught below.
SUBSCRIPT_MIN_INDEX = 20
# Constant names that say "this is a landmark": one assigned a literal landmark index is a
# definition outside topology.
LANDMARK_NAME = re.compile(r"EYE|NOSE|CHIN|FOREHEAD|MOUTH|LIP|BROW|CHEEK|GLABELLA|TEMPLE|JAW|IRIS|FACE_|LANDMARK|VERTEX|VERTICES")
# ...unless the name says it holds something else: colours, iteration counts, measurements in units.
NOT_LANDMARK_NAME = re.compile(r"BGR|RGB|COLOU?R|ITERATIONS|_PX$|_MM$|_DEG$")


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _named_landmarks() -> set[int]:
    """Every vertex index topology names (single landmarks and groups, not the 68-point map's
    triangles, which are a fitted table rather than names)."""
    named = set()
    for name in dir(topology):
        if not name.isupper() or name.startswith("IBUG68"):
            continue
        value = getattr(topology, name)
        if isinstance(value, (int, tuple, np.ndarray)) and not isinstance(value, bool):
            array = np.asarray(value)
            if array.dtype.kind in "iu":
                named.update(int(v) for v in array.ravel())
    return {v for v in named if 0 <= v < topology.N_VERTICES}


NAMED = _named_landmarks()


def stray_landmark_literals(source: str) -> list[tuple[int, str]]:
    """``(line, what)`` for each landmark definition or index literal in ``source`` (Python code;
    strings and comments are not code): the vertex counts 468 / 478 anywhere; a named landmark
    index (>= ``SUBSCRIPT_MIN_INDEX``) as a subscript (``v[234]``); a literal tuple, list or set
    of two or more named landmarks, one of them at least ``SUBSCRIPT_MIN_INDEX`` (``(33, 263)``)
    or assigned to a landmark-like name (``MOUTH_INNER = (13, 14)``); a landmark-like name given
    a named index (``CHIN = 152``)."""
    found, not_landmarks = [], set()
    counts = {str(topology.N_VERTICES), str(topology.N_REFINED_VERTICES)}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NUMBER and token.string in counts:
            found.append((token.start[0], f"vertex count {token.string}"))

    def ints(node) -> list[int] | None:
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts and all(
                isinstance(e, ast.Constant) and type(e.value) is int for e in node.elts):
            return [e.value for e in node.elts]
        return None

    tree = ast.parse(source)
    in_slice = {id(n) for s in ast.walk(tree) if isinstance(s, ast.Slice) for n in ast.walk(s)}
    landmark_targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            names += [e.id for t in node.targets if isinstance(t, ast.Tuple) for e in t.elts if isinstance(e, ast.Name)]
            if any(LANDMARK_NAME.search(n) for n in names) and not any(NOT_LANDMARK_NAME.search(n) for n in names):
                for value in ast.walk(node.value):
                    landmark_targets.add(id(value))
                    direct = value is node.value or (isinstance(node.value, ast.Tuple) and value in node.value.elts)
                    if (isinstance(value, ast.Constant) and type(value.value) is int and value.value in NAMED
                            and id(value) not in in_slice and (direct or value.value >= SUBSCRIPT_MIN_INDEX)):
                        found.append((node.lineno, f"landmark constant {'/'.join(names)} = {value.value}"))
            elif any(NOT_LANDMARK_NAME.search(n) for n in names):
                landmark_targets.update(id(value) for value in ast.walk(node.value))
                not_landmarks.update(id(value) for value in ast.walk(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice):
            for part in (node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]):
                if isinstance(part, ast.Constant) and type(part.value) is int and part.value in NAMED \
                        and part.value >= SUBSCRIPT_MIN_INDEX:
                    found.append((node.lineno, f"landmark index [{part.value}]"))
        values = ints(node)
        if isinstance(node, ast.Call) and id(node) in landmark_targets:  # FacePrior("eye_corners", 33, 263, ...)
            values = [a.value for a in node.args if isinstance(a, ast.Constant) and type(a.value) is int] or None
        if values and id(node) not in not_landmarks and all(0 <= v < topology.N_VERTICES for v in values):
            named = [v for v in values if v in NAMED]
            if len([v for v in named if v >= SUBSCRIPT_MIN_INDEX]) >= 2 or (len(named) >= 2 and id(node) in landmark_targets):
                found.append((node.lineno, f"landmark indices {tuple(values[:6])}"))
    return sorted(set(found))


def test_landmarks_and_the_vertex_count_are_defined_only_in_topology():
    strays = []
    for name, path in MODULES.items():
        if name == "realtime.topology":
            continue
        strays += [f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in stray_landmark_literals(path.read_text())]
    assert not strays, "use realtime.topology's names:\n" + "\n".join(strays)


def test_the_stray_literal_check_finds_what_it_must():
    # Each of these was in the package before topology became the one home.
    for code in ("EYE_CORNER_PRIOR = FacePrior('eye_corners', 33, 263, 89.5, 3.6)", "hinge = 0.5 * (head[234] + head[454])", "FACE_WIDTH_LANDMARKS = (234, 454)",
                 "FOREHEAD, CHIN = 10, 152", "MOUTH_INNER = (13, 14)", "NUM_VERTICES = 468",
                 "x = check_shape('v', v, (468, 3))", "GLABELLA = 9", "FACE_WIDTH_PRIOR = FacePrior('face_width', 234, 454, 132.0, 6.3)",
                 "TEMPLE_SIDE_POINTS = ((234, 127, 162, 93),)"):
        assert stray_landmark_literals(code), code
    # ...and these are not landmarks: array columns, slices, byte offsets, colours, counts.
    for code in ("y = v[:, 1]", "upper = LIPS_INNER[:11]", "size = data[16:24]", "colour = (255, 200, 60)",
                 "p50, p95, p99 = np.percentile(values, [50, 95, 99])", "'468 vertices'  # 468 in a comment",
                 "frames = (10, 30, 90)", "n = topology.N_VERTICES",
                 "FILL_BGR = (230, 160, 40)", "pose_deg = ((40, 0, 0), (25, 15, 20))", "MOUTH_SMOOTH_ITERATIONS = 8",
                 "UPPER, LOWER = topology.NOSE_BRIDGE[:2]",
                 "BACKGROUND, FACE, HAIR = 0, 1, 2", "FACE_EDGE_INSET_PX = 2",
                 "ROUND = GlassesSpec('round', 49, 21, 145, 45)"):
        assert not stray_landmark_literals(code), code


def _imports(path: Path, module: str) -> list[tuple[str, list[str], bool]]:
    """``(imported module, names, at module level)`` of every ``import`` in a file; relative
    imports resolved; ``from package import module`` counts as importing the module."""
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [alias.name for alias in node.names]
            found.append((base, names, id(node) in top_level))
            found += [(f"{base}.{n}", [], id(node) in top_level) for n in names if f"{base}.{n}" in MODULES]
    return [(m, n, top) for m, n, top in found if m.startswith("realtime")]


def _graph(module_level_only: bool) -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        targets = set()
        for imported, _, top in _imports(path, name):
            if module_level_only and not top:
                continue
            while imported and imported not in MODULES:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):  # a package's own __init__
                targets.add(imported)
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def test_no_import_cycles_not_even_through_imports_inside_functions():
    # A package's __init__ re-exporting its modules is not a cycle of theirs: packages are left
    # out, modules only.
    graph = {m: {t for t in ts if MODULES[t].name != "__init__.py"} for m, ts in _graph(False).items()
             if MODULES[m].name != "__init__.py"}
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_runtime_packages_never_import_apps_or_tools_and_apps_never_import_tools():
    wrong = []
    for name, path in MODULES.items():
        if name in SHIMS or name == "realtime.__main__":  # __main__ is `selfie3d`
            continue
        runtime = name.startswith(RUNTIME) or name.count(".") == 1  # realtime.<module>: the foundation
        for imported, _, _ in _imports(path, name):
            if runtime and imported.startswith(("realtime.apps", "realtime.tools")):
                wrong.append(f"{name} imports {imported}")
            # The command line dispatches to the tools (``selfie3d bench``); no other app uses one.
            if name.startswith("realtime.apps") and name != "realtime.apps.cli" and imported.startswith("realtime.tools"):
                wrong.append(f"{name} imports {imported}")
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_fusion_for_its_mathematics():
    # Fusion is a stage; its mathematics are realtime.geometry's. What may be imported from it is
    # the stage itself, its options, results, figures and the pose weights it measured.
    stage_names = {"Fusion", "FusionOptions", "FusionResult", "FusionBenchmark", "fusion_benchmark", "POSE_WEIGHTS",
                   "pose_vertex_weights", "filter_noise_scales", "synthetic_observation"}
    wrong = []
    for name, path in MODULES.items():
        for imported, names, _ in _imports(path, name):
            if imported == "realtime.stages.fusion":
                wrong += [f"{name}: {n}" for n in names if n not in stage_names]
            if imported == "realtime.stages" and "fusion" in names and name != "realtime.stages":
                wrong.append(f"{name}: the fusion module")
    assert not wrong, "\n".join(wrong)
    fusion = ast.parse(MODULES["realtime.stages.fusion"].read_text())
    defined = {node.name for node in fusion.body if isinstance(node, ast.FunctionDef)}
    assert not defined & {name for name in dir(geometry) if callable(getattr(geometry, name))}


def test_one_head_frame_function():
    definitions = [f"{name}: {node.name}" for name, path in MODULES.items()
                   for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.FunctionDef) and re.fullmatch(r"(head|face|canonical)_frame", node.name)]
    assert sorted(definitions) == ["realtime.geometry: canonical_frame", "realtime.geometry: face_frame",
                                   "realtime.geometry: head_frame"]


def test_pyproject_lists_every_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    packages = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    assert packages <= listed, sorted(packages - listed)
    assert listed - packages == {"realtime.models", "realtime.shaders", "realtime.calibration"}


def test_the_bust_vocabulary_is_stated_once():
    # Styles, expressions and formats as literal lists anywhere but printing/vocabulary.py were
    # five diverging copies once (the command line, the web API, the jobs, the live window).
    from realtime.printing import vocabulary

    lists = [vocabulary.STYLES, vocabulary.EXPRESSIONS, vocabulary.FORMATS]
    wrong = []
    for name, path in MODULES.items():
        if name == "realtime.printing.vocabulary":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 2 and all(
                    isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
                words = {e.value for e in node.elts}
                # The whole list, or three of its words: a copy (a pair like ("stl", "3mf") is a
                # statement about those formats).
                if any(words >= set(v) or len(words & set(v)) >= 3 for v in lists):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: {sorted(words)}")
    assert not wrong, "use realtime.printing.vocabulary:\n" + "\n".join(wrong)
