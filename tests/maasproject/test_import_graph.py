"""The structure drawn from imports: no circle of files, imports inside functions included.

A cycle hidden by a function-level import still ties two modules together: neither can be
understood, tested or moved without the other. grimp (import-linter's graph) reads every
import statement, wherever it sits.
"""
import grimp

PACKAGES = ("maasproject", "nodes", "zones", "power", "rack_worker", "bootsvc", "lab")


def strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's components of more than one module (iterative: the graph is deep)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, _children(graph, root))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, _children(graph, child)))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def _children(graph: grimp.ImportGraph, module: str):
    return iter(sorted(graph.find_modules_directly_imported_by(module)))


def test_no_import_cycle_between_files():
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False, cache_dir=None)
    assert strongly_connected(graph) == []


def test_a_cycle_is_found():
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="a")
    graph.add_import(importer="b", imported="c")
    assert strongly_connected(graph) == [{"a", "b"}]
