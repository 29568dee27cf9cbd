"""The one kind of Python expression that published config files hold, computed without ``eval``.

The configs of the MaskFormer and Mask2Former releases write their training sizes as

    MIN_SIZE_TRAIN: !!python/object/apply:eval ["[int(x * 0.1 * 512) for x in range(5, 21)]"]

:func:`evaluate_expression` computes such an expression by walking its syntax tree, allowing
only: numbers, strings, True/False/None, lists and tuples of them; ``+ - * / // %`` and unary
``-``/``+`` on numbers; calls of ``int`` (of a number) and ``range`` (of integers); list
comprehensions (``[e for x in it for y in it2]``, no ``if``). Names other than the variables
of an enclosing comprehension, attribute access, subscripts, lambdas, other calls and every
other construct are refused with :class:`ExpressionError`, which says what was found.
Resources are bounded too: the text length, the magnitude of integers and the number of
comprehension iterations.
"""

import ast
import math
import operator
from typing import Any, Dict, Iterable

__all__ = ["ExpressionError", "evaluate_expression"]

MAX_TEXT_LENGTH = 1000  # characters; the published expressions have about 45
MAX_ITERATIONS = 100_000  # comprehension iterations (and range lengths) per expression
MAX_INT_BITS = 64

_BINARY_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY_OPERATORS = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_LITERAL_TYPES = (int, float, str, bool, type(None))
_NUMBER_TYPES = (int, float)

# how the refusal names some constructs (others by their ast class name)
_CONSTRUCT_NAMES = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambda",
    ast.NamedExpr: "assignment expressions",
    ast.Pow: "the ** operator",
    ast.JoinedStr: "f-strings",
    ast.DictComp: "dict comprehensions",
    ast.SetComp: "set comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.IfExp: "conditional expressions",
    ast.Compare: "comparisons",
    ast.BoolOp: "and/or",
    ast.Starred: "* unpacking",
    ast.Await: "await",
    ast.Yield: "yield",
}


class ExpressionError(ValueError):
    """The expression uses something outside the allowed subset, or cannot be computed."""


def _refuse(node: ast.AST) -> ExpressionError:
    what = _CONSTRUCT_NAMES.get(type(node), type(node).__name__)
    return ExpressionError(
        f"{what} is not allowed (only numbers, strings, lists, tuples, + - * / // %, int(), "
        "range() and list comprehensions)"
    )


class _Evaluator:
    def __init__(self):
        self.iterations_left = MAX_ITERATIONS

    def evaluate(self, node: ast.AST, names: Dict[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, _LITERAL_TYPES):
                raise ExpressionError(f"the literal {node.value!r} is not allowed")
            return self._bounded(node.value)
        if isinstance(node, (ast.List, ast.Tuple)):
            values = [self.evaluate(element, names) for element in node.elts]
            return values if isinstance(node, ast.List) else tuple(values)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY_OPERATORS:
            operand = self._number(node.operand, names)
            return _UNARY_OPERATORS[type(node.op)](operand)
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY_OPERATORS:
                raise _refuse(node.op)
            left, right = self._number(node.left, names), self._number(node.right, names)
            try:
                return self._bounded(_BINARY_OPERATORS[type(node.op)](left, right))
            except (ZeroDivisionError, OverflowError) as e:
                raise ExpressionError(f"{ast.unparse(node)}: {e}") from None
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise ExpressionError(
                    f"the name {node.id!r} is not allowed (only int(), range() and the variables "
                    "of a list comprehension)"
                )
            return names[node.id]
        if isinstance(node, ast.Call):
            return self._call(node, names)
        if isinstance(node, ast.ListComp):
            return self._list_comprehension(node.elt, node.generators, names)
        raise _refuse(node)

    def _number(self, node: ast.AST, names: Dict[str, Any], use: str = "arithmetic"):
        value = self.evaluate(node, names)
        if not isinstance(value, _NUMBER_TYPES):
            raise ExpressionError(
                f"{ast.unparse(node)} is a {type(value).__name__}; {use} takes numbers only"
            )
        return value

    @staticmethod
    def _bounded(value):
        if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise ExpressionError(f"an integer beyond {MAX_INT_BITS} bits")
        return value

    def _call(self, node: ast.Call, names: Dict[str, Any]):
        function = node.func.id if isinstance(node.func, ast.Name) else None
        if function not in ("int", "range") or function in names:
            raise ExpressionError(
                f"calling {ast.unparse(node.func)} is not allowed (only int() and range())"
            )
        if node.keywords:
            raise ExpressionError(f"{function}() takes no keyword arguments here")
        arguments = [self._number(argument, names, f"{function}()") for argument in node.args]
        if function == "int":
            if len(arguments) != 1:
                raise ExpressionError(f"int() takes one number, got {len(arguments)} arguments")
            if not math.isfinite(arguments[0]):
                raise ExpressionError(f"int({arguments[0]})")
            return self._bounded(int(arguments[0]))
        if not 1 <= len(arguments) <= 3 or not all(type(a) is int for a in arguments):
            raise ExpressionError("range() takes one to three integers")
        if len(arguments) == 3 and arguments[2] == 0:
            raise ExpressionError("range() step must not be zero")
        values = range(*arguments)
        if len(values) > MAX_ITERATIONS:
            raise ExpressionError(f"range of {len(values)} numbers (at most {MAX_ITERATIONS})")
        return values

    def _list_comprehension(
        self, element: ast.AST, generators: Iterable[ast.comprehension], names: Dict[str, Any]
    ) -> list:
        first, *rest = generators
        if first.ifs or first.is_async:
            raise ExpressionError("list comprehensions with 'if' or 'async' are not allowed")
        if not isinstance(first.target, ast.Name):
            raise ExpressionError("a list comprehension variable must be a single name")
        iterable = self.evaluate(first.iter, names)
        if not isinstance(iterable, (list, tuple, range)):
            raise ExpressionError(f"cannot iterate over a {type(iterable).__name__}")
        result = []
        for value in iterable:
            self.iterations_left -= 1
            if self.iterations_left < 0:
                raise ExpressionError(f"more than {MAX_ITERATIONS} comprehension iterations")
            scope = {**names, first.target.id: value}
            if rest:
                result.extend(self._list_comprehension(element, rest, scope))
            else:
                result.append(self.evaluate(element, scope))
        return result


def _check_value(value) -> None:
    """Config values are literals and (nested) lists / tuples of them; a bare range is not."""
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_value(item)
    elif not isinstance(value, _LITERAL_TYPES):
        raise ExpressionError(
            f"the result contains a {type(value).__name__}, which is not a config value (write "
            "[x for x in range(...)] for a list)"
        )


def evaluate_expression(text: str) -> Any:
    """The value of the Python expression ``text`` within the subset described in the module
    docstring, as Python would compute it; raises :class:`ExpressionError` otherwise."""
    if len(text) > MAX_TEXT_LENGTH:
        raise ExpressionError(f"expression of {len(text)} characters (at most {MAX_TEXT_LENGTH})")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"not a Python expression ({e.msg})") from None
    try:
        value = _Evaluator().evaluate(tree.body, {})
    except RecursionError:
        raise ExpressionError("expression nested too deeply") from None
    _check_value(value)
    return value
