"""Jinja2's parse tree read for a template's inputs: which names are required, which optional.

Kept apart from :mod:`voicing_mcp.guard.templates` so that jinja2 is imported on the first template parsed
(a dial, a template listing or rendering), not when the server starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from jinja2 import nodes
from jinja2.nodes import Node

#: the statements that read another template file (refused: a template must stand alone to be shown)
PULLS_IN_ANOTHER_FILE = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


# ----- the analysis -------------------------------------------------------------------------------


class _Uses:
    def __init__(self) -> None:
        self.guarded: set[str] = set()
        self.unguarded: set[str] = set()


def analyse(ast: Node, *, ignore: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """Walk a parsed template; return sorted ``(required, optional)`` input names."""
    uses = _Uses()
    _walk(ast, uses, bound=frozenset(ignore), guarded=frozenset())
    required = sorted(uses.unguarded)
    optional = sorted(uses.guarded - uses.unguarded)
    return required, optional


def _defined_tests(test: Node) -> tuple[set[str], set[str]]:
    """Names proven defined when ``test`` is true, and names proven defined when it is false.

    Built from the parts up, so every combination of ``not``, ``and`` and ``or`` follows from three rules:
    ``not t`` swaps the two sets; ``l and r`` is true when both are (either's names) and false when ``l`` is
    false or ``l`` is true and ``r`` false; ``l or r`` is the mirror image. Any other test proves nothing.
    """
    if isinstance(test, nodes.Test) and test.name in {"defined", "undefined"}:
        root = _root_name(test.node)
        if root is None:
            return set(), set()
        return ({root}, set()) if test.name == "defined" else (set(), {root})
    if isinstance(test, nodes.Not):
        when_true, when_false = _defined_tests(test.node)
        return when_false, when_true
    if isinstance(test, nodes.And | nodes.Or):
        left_true, left_false = _defined_tests(test.left)
        right_true, right_false = _defined_tests(test.right)
        if isinstance(test, nodes.And):  # false: left false, or left true and right false
            return left_true | right_true, left_false & (left_true | right_false)
        return left_true & (left_false | right_true), left_false | right_false  # true: left, or not left and right
    return set(), set()


def _root_name(node: Node) -> str | None:
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        node = node.node
    if isinstance(node, nodes.Name):
        return node.name
    return None


def _targets(node: Node) -> set[str]:
    return {n.name for n in node.find_all(nodes.Name)} | ({node.name} if isinstance(node, nodes.Name) else set())


def _walk_all(items: Iterable[Node], uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> frozenset[str]:
    """Walk a statement list in order; ``set`` targets bind names for the statements after them."""
    for item in items:
        _walk(item, uses, bound, guarded)
        if isinstance(item, nodes.Assign | nodes.AssignBlock):
            bound = bound | _targets(item.target)
        elif isinstance(item, nodes.Macro):
            bound = bound | {item.name}
        elif isinstance(item, nodes.FromImport):
            bound = bound | {alias if isinstance(alias, str) else alias[1] for alias in item.names}
        elif isinstance(item, nodes.Import):
            bound = bound | {item.target}
    return bound


def _walk(node: Node, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> None:
    """Record the names ``node`` reads: the first handler for its kind decides, else its children are walked."""
    for kinds, handler in _HANDLERS:
        if isinstance(node, kinds):
            if handler(node, uses, bound, guarded):
                return
            break
    for child in node.iter_child_nodes():
        _walk(child, uses, bound, guarded)


def _name(node: nodes.Name, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    if node.ctx == "load" and node.name not in bound:
        (uses.guarded if node.name in guarded else uses.unguarded).add(node.name)
    return True


def _template(node: nodes.Template, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    _walk_all(node.body, uses, bound, guarded)
    return True


def _default_filter(node: nodes.Filter, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    """``x | default(…)``: ``x`` may be missing; the filter's arguments may not."""
    if node.name not in {"default", "d"} or node.node is None:
        return False
    root = _root_name(node.node)
    _walk(node.node, uses, bound, guarded | {root} if root is not None else guarded)
    for child in (*node.args, *(kw.value for kw in node.kwargs)):
        _walk(child, uses, bound, guarded)
    return True


def _defined_test(node: nodes.Test, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    if node.name not in {"defined", "undefined"}:
        return False
    root = _root_name(node.node)
    _walk(node.node, uses, bound, guarded | {root} if root is not None else guarded)
    return True


def _if(node: nodes.If, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    when_true, when_false = _defined_tests(node.test)
    _walk(node.test, uses, bound, guarded | when_true)
    _walk_all(node.body, uses, bound, guarded | when_true)
    for elif_node in node.elif_:  # an elif runs only when the test above was false
        _walk(elif_node, uses, bound, guarded | when_false)
    _walk_all(node.else_, uses, bound, guarded | when_false)
    return True


def _cond_expr(node: nodes.CondExpr, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    when_true, when_false = _defined_tests(node.test)
    _walk(node.test, uses, bound, guarded | when_true)
    _walk(node.expr1, uses, bound, guarded | when_true)
    if node.expr2 is not None:
        _walk(node.expr2, uses, bound, guarded | when_false)
    return True


def _and(node: nodes.And, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    when_true, _ = _defined_tests(node.left)
    _walk(node.left, uses, bound, guarded)
    _walk(node.right, uses, bound, guarded | when_true)
    return True


def _for(node: nodes.For, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    _walk(node.iter, uses, bound, guarded)
    inner = bound | _targets(node.target) | {"loop"}
    if node.test is not None:
        _walk(node.test, uses, inner, guarded)
    _walk_all(node.body, uses, inner, guarded)
    _walk_all(node.else_, uses, bound, guarded)
    return True


def _macro(node: nodes.Macro | nodes.CallBlock, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    inner = bound | {arg.name for arg in node.args} | {"caller", "varargs", "kwargs"}
    for default in node.defaults:
        _walk(default, uses, bound, guarded)
    if isinstance(node, nodes.CallBlock):
        _walk(node.call, uses, bound, guarded)
    _walk_all(node.body, uses, inner, guarded)
    return True


def _with(node: nodes.With, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    for value in node.values:
        _walk(value, uses, bound, guarded)
    inner = bound
    for target in node.targets:
        inner = inner | _targets(target)
    _walk_all(node.body, uses, inner, guarded)
    return True


def _assign(node: nodes.Assign, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    _walk(node.node, uses, bound, guarded)
    return True


def _assign_block(node: nodes.AssignBlock, uses: _Uses, bound: frozenset[str], guarded: frozenset[str]) -> bool:
    if node.filter is not None:
        _walk(node.filter, uses, bound, guarded)
    _walk_all(node.body, uses, bound, guarded)
    return True


#: how each kind of node reads names, in the order they are tried; a handler returning False (a filter other
#: than ``default``, a test other than ``defined``) lets the node's children be walked as usual
_HANDLERS: tuple[
    tuple[type[Node] | tuple[type[Node], ...], Callable[[Any, _Uses, frozenset[str], frozenset[str]], bool]], ...
] = (
    (nodes.Name, _name),
    (nodes.Template, _template),
    (nodes.Filter, _default_filter),
    (nodes.Test, _defined_test),
    (nodes.If, _if),
    (nodes.CondExpr, _cond_expr),
    (nodes.And, _and),
    (nodes.For, _for),
    ((nodes.Macro, nodes.CallBlock), _macro),
    (nodes.With, _with),
    (nodes.Assign, _assign),
    (nodes.AssignBlock, _assign_block),
)
