"""DynamoDB's condition and filter expressions in the sandbox: each text split into tokens once.

moto parses a ConditionExpression (and a FilterExpression) for every request, twice for an
UpdateItem, and its lexer tries six regular expressions at every token, looking each one up
in `re`'s cache again: for a migration's conditional UpdateItem (every attribute compared, so
some forty tokens) the lexing alone was about a seventh of the server's time. The tokens depend
only on the expression's text (names and values are looked up in later steps), and a
migration sends the same text for every item of the same shape, so the sandbox keeps the
tokens of each text it lexed and gives every parse fresh tokens equal to moto's own. A text
moto's lexer rejects is lexed by moto every time, so it raises moto's error.
"""

from __future__ import annotations

from collections import deque

from moto.dynamodb.comparisons import ConditionExpressionParser

# Distinct texts kept; a server that met more (generated expressions) starts over.
LIMIT = 4096

Node = ConditionExpressionParser.Node
_original_lex = ConditionExpressionParser._lex_condition_expression
# text -> each token's fields (nonterminal, kind, text, value, children)
_Token = tuple[object, object, object, object, tuple[object, ...]]
_tokens: dict[str, tuple[_Token, ...]] = {}


def _lex_condition_expression(parser: ConditionExpressionParser) -> deque[Node]:
    """moto's tokens of the parser's expression: the same fields in new nodes (each with a
    list of children of its own, as moto's lexer makes them)."""
    text = parser.condition_expression
    known = _tokens.get(text) if isinstance(text, str) else None
    if known is None:
        nodes = _original_lex(parser)
        if isinstance(text, str):
            if len(_tokens) >= LIMIT:
                _tokens.clear()
            _tokens[text] = tuple((n.nonterminal, n.kind, n.text, n.value, tuple(n.children))
                                  for n in nodes)
        return nodes
    return deque(Node(nonterminal, kind, token, value, list(children))
                 for nonterminal, kind, token, value, children in known)


def apply() -> None:
    """Lex each expression text once from now on (idempotent; this process only)."""
    ConditionExpressionParser._lex_condition_expression = (  # type: ignore[method-assign]
        _lex_condition_expression)  # type: ignore[assignment]


def is_applied() -> bool:
    return ConditionExpressionParser._lex_condition_expression is _lex_condition_expression


def remove() -> None:
    ConditionExpressionParser._lex_condition_expression = (  # type: ignore[method-assign]
        _original_lex)
    _tokens.clear()
