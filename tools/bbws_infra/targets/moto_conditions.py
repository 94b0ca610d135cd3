"""DynamoDB's condition and filter expressions in the sandbox: each text parsed once.

moto parses a ConditionExpression (and a FilterExpression) for every request, twice for an
UpdateItem: it splits the text into tokens (trying six regular expressions at every token),
then rewrites the token list pass after pass (paths, functions, comparators, IN, BETWEEN,
parentheses and booleans) into a syntax tree, and only then turns the tree into the operations
it evaluates. For a migration's conditional UpdateItem (every attribute compared, some forty
tokens) that was about a fifth of the server's time, and a migration sends the same text with
the same names for every item of the same shape.

The tree depends only on the text and the attribute names (a name is resolved into the tree, a
value only sits at its placeholder's leaf), so the sandbox keeps the tree of each (text, names)
it parsed, and for each request makes a new tree of new nodes with that request's values at the
placeholders, looked up as moto looks them up (a missing one raises moto's error, the first in
the text's order), before moto's own last steps: the names and values it found, and the
operations. A text moto rejects is parsed by moto every time, so it raises moto's error.
"""

from __future__ import annotations

from moto.dynamodb.comparisons import ConditionExpressionParser, Func, Op

# Distinct (text, names) kept; a server that met more (generated expressions) starts over.
LIMIT = 4096

Node = ConditionExpressionParser.Node
_VALUE = ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE
_original_parse = ConditionExpressionParser.parse
_Key = tuple[str, tuple[tuple[str, str], ...] | None]
_trees: dict[_Key, Node] = {}


def _key(parser: ConditionExpressionParser) -> _Key | None:
    """What the tree depends on, or None when moto should parse the request as it is."""
    text, names = parser.condition_expression, parser.expression_attribute_names
    if not isinstance(text, str) or not text:
        return None
    if names is None:
        return text, None
    if not isinstance(names, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
        return None
    return text, tuple(sorted(names.items()))


def _tree(parser: ConditionExpressionParser) -> Node:
    """moto's parse() up to its syntax tree, step for step; moto's errors for a bad text."""
    nodes = parser._lex_condition_expression()
    nodes = parser._parse_paths(nodes)
    nodes = parser._apply_functions(nodes)
    nodes = parser._apply_comparator(nodes)
    nodes = parser._apply_in(nodes)
    nodes = parser._apply_between(nodes)
    nodes = parser._apply_parens_and_booleans(nodes)
    node: Node = nodes[0]
    parser._assert_no_redundant_parentheses(node)
    return node


def _bound(parser: ConditionExpressionParser, node: Node) -> Node:
    """A new tree like `node`, with the parser's own values at the placeholders."""
    if node.kind == _VALUE:
        return node._replace(value=parser._lookup_expression_attribute_value(node.text),
                             children=[])
    return node._replace(children=[_bound(parser, child) for child in node.children])


def _parse(parser: ConditionExpressionParser) -> Op | Func:
    key = _key(parser)
    if key is None:
        return _original_parse(parser)
    kept = _trees.get(key)
    if kept is None:
        kept = _tree(parser)
        if len(_trees) >= LIMIT:
            _trees.clear()
        _trees[key] = kept
    # moto's last steps, on nodes of this request's own (the kept ones are never handed out)
    tree = _bound(parser, kept)
    parser.expr_attr_names_found.extend(parser._find_literals(tree))
    parser.expr_attr_values_found.extend(parser._find_expr_attr_values(tree))
    return parser._make_op_condition(tree)


def apply() -> None:
    """Parse each expression once from now on (idempotent; this process only)."""
    ConditionExpressionParser.parse = _parse  # type: ignore[method-assign,assignment]


def is_applied() -> bool:
    return ConditionExpressionParser.parse is _parse


def remove() -> None:
    ConditionExpressionParser.parse = _original_parse  # type: ignore[method-assign]
    _trees.clear()
