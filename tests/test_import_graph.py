"""The import graph: no module imports itself back through others, and lib/ imports
nothing that does I/O (docs/style.md R1, R12).

Every import counts, at the top of a file or inside a function (a lazy import
still ties the two modules together). Modules: firmware/*.py by file name (the
device runs them from its top folder), lib/metereye/** as the package metereye,
tools/metereye_tools/** as the package metereye_tools. An import by a computed
name (protocols.load, __import__ with a variable) is not seen: the protocol table
is what keeps those one-way.
"""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IO_MODULES = ("machine", "network", "socket", "usocket", "select", "uselect", "serial", "esp", "esp32",
              "termios")


def _modules():
    """{module name: (path, is a package __init__)} of every module the graph covers."""
    found = {}
    firmware = os.path.join(ROOT, "firmware")
    for name in sorted(os.listdir(firmware)):
        if name.endswith(".py"):
            found[name[:-3]] = (os.path.join(firmware, name), False)
    for top, package in (("lib/metereye", "metereye"), ("tools/metereye_tools", "metereye_tools")):
        base = os.path.join(ROOT, top)
        for folder, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            parts = [package] + [p for p in os.path.relpath(folder, base).split(os.sep) if p != "."]
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                init = name == "__init__.py"
                found[".".join(parts if init else parts + [name[:-3]])] = (os.path.join(folder, name), init)
    return found


def _imports(module, path, is_package, known):
    """The known modules `module` imports, anywhere in its file."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = module if is_package else module.rpartition(".")[0]
    out = set()

    def longest_known(name):
        while name:
            if name in known:
                return name
            name = name.rpartition(".")[0]
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = longest_known(alias.name)
                if target:
                    out.add(target)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                target = longest_known(base + "." + alias.name) if base else longest_known(alias.name)
                target = target or longest_known(base)
                if target:
                    out.add(target)
    out.discard(module)
    return out


def _graph():
    known = _modules()
    return {m: _imports(m, path, init, known) for m, (path, init) in known.items()}


def _cycles(graph, nodes):
    """One cycle among `nodes` (a path back to its start) per strongly connected group,
    with the group's members (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, groups = {}, {}, set(), [], []
    counter = [0]

    def strongconnect(start):
        work = [(start, iter(sorted(graph[start] & nodes)))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child] & nodes))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(group)

    for node in sorted(nodes):
        if node not in index:
            strongconnect(node)
    return [(_one_cycle(graph, set(group)), sorted(group)) for group in groups]


def _one_cycle(graph, group):
    """A path inside a strongly connected group from its first member back to it."""
    start = min(group)
    paths = {start: [start]}
    todo = [start]
    while todo:
        node = todo.pop(0)
        for child in sorted(graph[node] & group):
            if child == start:
                return paths[node] + [start]
            if child not in paths:
                paths[child] = paths[node] + [child]
                todo.append(child)
    return sorted(group)


def _describe(cycles):
    return "import cycles:\n" + "\n".join("  %s (all of %s import each other, in a ring)"
                                           % (" -> ".join(c), ", ".join(group)) for c, group in cycles)


def test_lib_and_tools_have_no_import_cycle():
    graph = _graph()
    nodes = {m for m in graph if m.split(".")[0] in ("metereye", "metereye_tools")}
    assert len(nodes) > 40
    cycles = _cycles(graph, nodes)
    assert not cycles, _describe(cycles)


def test_firmware_has_no_import_cycle():
    graph = _graph()
    cycles = _cycles(graph, set(graph))
    assert not cycles, _describe(cycles)


def test_the_cycle_finder_finds_a_cycle_and_names_it():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph, set(graph)) == [(["a", "b", "c", "a"], ["a", "b", "c"])]
    assert _cycles({"a": {"b"}, "b": set()}, {"a", "b"}) == []


def test_lazy_and_relative_imports_count():
    graph = _graph()
    # cli imports its command modules only when a command runs: still edges.
    assert "metereye_tools.config_command" in graph["metereye_tools.cli"]
    assert "metereye.meters" in graph["metereye.config"]


def _io_uses(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in IO_MODULES]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if node.module.split(".")[0] in IO_MODULES:
                found.append(node.module)
            if node.module in ("time", "utime") and any(a.name.startswith("sleep") for a in node.names):
                found.append("from %s import sleep" % node.module)
        elif isinstance(node, ast.Attribute) and node.attr.startswith("sleep") \
                and isinstance(node.value, ast.Name) and node.value.id in ("time", "utime"):
            found.append("%s.%s" % (node.value.id, node.attr))
    return found


def test_lib_imports_nothing_that_does_io():
    bad = {}
    for module, (path, _) in _modules().items():
        if module.split(".")[0] == "metereye":
            uses = _io_uses(path)
            if uses:
                bad[os.path.relpath(path, ROOT)] = uses
    assert not bad, bad


def test_the_io_check_sees_lazy_imports_and_sleeps(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import machine\n    from select import poll\n    import time\n"
                      "    time.sleep_ms(5)\n    time.sleep(1)\n")
    assert _io_uses(str(sample)) == ["machine", "select", "time.sleep_ms", "time.sleep"]
