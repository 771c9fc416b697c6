"""Array functions of Trino (hence Timestream) whose DuckDB namesakes answer differently, or that DuckDB
names differently.

- ``array_distinct(a)``: Trino keeps the first occurrence of each element, in order, and one NULL; DuckDB's
  ``list_distinct`` returns them in hash order and drops NULLs.
- ``array_union(a, b)``, ``array_intersect(a, b)``, ``array_except(a, b)``: distinct elements (a NULL counts
  as one element), in the order they first appear in ``a`` (then ``b`` for a union).
- ``arrays_overlap(a, b)``: true on a common non-NULL element, else NULL when either array holds a NULL,
  else false (DuckDB's ``list_has_any`` ignores NULLs).
- ``array_join(a, d[, r])``: each element as Trino's cast to VARCHAR writes it (``1.0E10``, not
  ``10000000000.0``).
- ``zip(a, b[, …])``: DuckDB's ``list_zip`` (the shorter arrays padded with NULL, as Trino does); NULL for a
  NULL array; two to five arrays. ``codepoint(s)``: ``unicode``, for exactly one character (Trino refuses anything else).
- ``slice(a, start, length)``: Trino's third argument is a length (sqlglot reads it as an end index, so
  DuckDB's ``list_slice`` took ``slice(a, 2, 2)`` for one element); a negative start counts from the end,
  one before the first element gives an empty array, 0 and negative lengths are Trino's errors.

- ``array_position(a, x)``: a BIGINT, 0 when ``x`` is not in ``a`` (DuckDB: an INTEGER, NULL). ``array_max(a)``, ``array_min(a)``:
  NULL when ``a`` holds a NULL (DuckDB skips NULLs). ``contains(a, x)``: NULL rather than false when ``x``
  is not found but ``a`` holds a NULL. ``array_remove(a, x)``: keeps NULL elements; NULL for a NULL ``x``.
- ``a = b`` (and ``<>``) of arrays or rows: Trino compares element by element, false on a differing pair,
  else NULL when a pair held a NULL, else true (``ARRAY[1, NULL] = ARRAY[1, NULL]`` is NULL; DuckDB: true).
  Two ROW(…) constructors of one arity compare as the AND of their fields' equalities, which is that rule.
  Elements that are themselves arrays, rows or maps holding a NULL, which DuckDB compares as values, are
  refused unless the two sides are equal as values (then NULL).
- ``TRY_CAST(a AS ARRAY(T))``: NULL when an element fails to cast (DuckDB: that element NULL).
- ``repeat(x, n)``: an array of ``n`` copies of ``x`` (DuckDB's ``repeat`` repeats a string); ``n`` must be
  0..10000. ``sequence(a, b)`` of integers steps by -1 when ``a > b`` (DuckDB gives an empty array).

Lambda functions DuckDB lacks (the lambda's parameters are replaced by the elements they stand for):

- ``any_match(a, f)``, ``all_match(a, f)``, ``none_match(a, f)``: three-valued, as Trino: ``any_match`` is
  true on a true predicate, else NULL when one predicate was NULL, else false (empty: false); ``all_match``
  is false on a false one, else NULL on a NULL, else true (empty: true); ``none_match`` is false on a true
  one, else NULL on a NULL, else true.
- ``zip_with(a, b, (x, y) -> e)``: ``e`` over the elements at each position, the shorter array padded
  with NULLs.
- ``array_sort(a, (x, y) -> c)``: sorted by the comparator (negative: x first, zero: keep their order,
  positive: y first; a NULL comparison is Trino's error). DuckDB's ``list_sort`` takes no comparator and
  sqlglot dropped it, which sorted ascending whatever the comparator said. Each element's place is the
  count of elements that sort before it (quadratic in the array's length).
- ``shuffle(a)``: the elements in a random order. ``ngrams(a, n)``: the ``n``-element windows of ``a``
  in order, or ``[a]`` when it has ``n`` elements or fewer; ``n`` must be positive.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from services.query import sql_templates, trino_numbers, trino_text, trino_timeseries
from tessera.errors import ValidationError

# ``list_position`` finds NULL too (``IS NOT DISTINCT FROM``), so a NULL element is kept once. A NULL array
# argument gives NULL, as in Trino.
_DISTINCT = "list_filter(__a, lambda x, i: list_position(__a, x) = i)"
_NULL_IF_ANY = "CASE WHEN __a IS NULL OR __b IS NULL THEN NULL ELSE {} END"
_HAS_NULL = "list_position({}, NULL) IS NOT NULL"
_TEMPLATES = {
    "distinct": _DISTINCT,
    "union": _NULL_IF_ANY.format(_DISTINCT.replace("__a", "list_concat(__a, __b)")),
    # Trino walks the longer array and keeps its order (ArrayIntersectFunction swaps the arguments).
    "intersect": _NULL_IF_ANY.format(
        "CASE WHEN len(__a) < len(__b) "
        f"THEN list_filter({_DISTINCT.replace('__a', '__b')}, lambda x: list_position(__a, x) IS NOT NULL) "
        f"ELSE list_filter({_DISTINCT}, lambda x: list_position(__b, x) IS NOT NULL) END"),
    "except": _NULL_IF_ANY.format(f"list_filter({_DISTINCT}, lambda x: list_position(__b, x) IS NULL)"),
    # true on a common non-NULL element; else NULL when either holds a NULL; else false.
    "overlap": _NULL_IF_ANY.format(
        f"CASE WHEN list_has_any(__a, __b) THEN true WHEN {_HAS_NULL.format('__a')} OR {_HAS_NULL.format('__b')} "
        "THEN NULL ELSE false END"),
    "zip": _NULL_IF_ANY.format("list_zip(__a, __b)"),
    "slice": "CASE WHEN __b = 0 THEN error('SQL array indices start at 1') "
             "WHEN __c < 0 THEN error('length must be greater than or equal to 0') "
             "WHEN (CASE WHEN __b > 0 THEN __b ELSE len(__a) + __b + 1 END) < 1 THEN list_slice(__a, 1, 0) "
             "ELSE list_slice(__a, CASE WHEN __b > 0 THEN __b ELSE len(__a) + __b + 1 END, "
             "(CASE WHEN __b > 0 THEN __b ELSE len(__a) + __b + 1 END) + __c - 1) END",
    "position": "CASE WHEN __a IS NULL OR __b IS NULL THEN CAST(NULL AS BIGINT) "
                "ELSE CAST(coalesce(list_position(__a, __b), 0) AS BIGINT) END",
    "max": f"CASE WHEN {_HAS_NULL.format('__a')} THEN NULL ELSE list_max(__a) END",
    "min": f"CASE WHEN {_HAS_NULL.format('__a')} THEN NULL ELSE list_min(__a) END",
    "contains": f"CASE WHEN __a IS NULL OR __b IS NULL THEN NULL WHEN list_contains(__a, __b) THEN true "
                f"WHEN {_HAS_NULL.format('__a')} THEN NULL ELSE false END",
    "remove": "CASE WHEN __b IS NULL THEN NULL ELSE list_filter(__a, lambda tessera_e: tessera_e IS NULL "
              "OR tessera_e <> __b) END",
    "repeat": "CASE WHEN __b < 0 THEN error('count argument of repeat function must be greater than or equal "
              "to 0') WHEN __b > 10000 THEN error('count argument of repeat function must be less than or equal "
              "to 10000') ELSE list_transform(range(__b), lambda tessera_i: __a) END",
    "sequence": "CASE WHEN abs(CAST(__b AS HUGEINT) - __a) >= 10000 THEN error('result of sequence function must "
                "not have more than 10000 entries') "
                "WHEN __a <= __b THEN generate_series(__a, __b) ELSE generate_series(__a, __b, -1) END",
    # Trino refuses a zero step, a step away from the stop, and more than 10000 elements (DuckDB: []).
    "sequence_step": "CASE WHEN __c = 0 THEN error('step must not be zero') "
                     "WHEN (__c > 0 AND __a > __b) OR (__c < 0 AND __a < __b) THEN error('sequence stop value should "
                     "be greater than or equal to start value if step is greater than zero otherwise stop should be "
                     "less than or equal to start') "
                     "WHEN abs(CAST(__b AS HUGEINT) - __a) // abs(__c) >= 10000 THEN error('result of sequence "
                     "function must not have more than 10000 entries') "
                     "ELSE generate_series(__a, __b, __c) END",
    "codepoint": "CASE WHEN length(__a) = 1 THEN unicode(__a) "
                 "ELSE error('codepoint: the argument must be a single character, got ' || length(__a)) END",
}


def rewrite(kind: str, args: list[exp.Expr]) -> exp.Expr:
    """The Trino function ``kind`` (a key of _TEMPLATES: distinct, union, position, repeat, ...) over ``args``
    (one to three expressions), as DuckDB SQL with Trino's order and NULL rules."""
    return sql_templates.duckdb(_TEMPLATES[kind], None, **dict(zip(("a", "b", "c"), args)))


_MATCH = {
    "any_match": "WHEN list_contains(__t, true) THEN true WHEN list_position(__t, NULL) IS NOT NULL THEN NULL "
                 "ELSE false",
    "all_match": "WHEN list_contains(__t, false) THEN false WHEN list_position(__t, NULL) IS NOT NULL THEN NULL "
                 "ELSE true",
    "none_match": "WHEN list_contains(__t, true) THEN false WHEN list_position(__t, NULL) IS NOT NULL THEN NULL "
                  "ELSE true",
}
LAMBDA_FUNCTIONS = frozenset({*_MATCH, "zip_with", "shuffle", "ngrams"})
"""Trino's array functions rewritten by ``rewrite_call`` (called as ``name(args)``)."""


def array_join(node: exp.ArrayToString) -> exp.Expr | None:
    """``array_join(a, delimiter[, null_replacement])`` with each element written as Trino casts it to VARCHAR
    (a DOUBLE as Java writes it, ``1.0E10``; a timestamp with nine fractional digits); DuckDB's own text
    (``10000000000.0``) otherwise. None for an array visibly of text."""
    array = node.this.unnest()
    if isinstance(array, exp.Array) and all(isinstance(e, exp.Literal) and e.is_string for e in array.expressions):
        return None
    if isinstance(node.this, exp.Anonymous) and node.this.name.lower() == "list_transform":
        return None  # already rewritten
    prefix = sql_templates.local_prefix(node.this)
    text = trino_text.cast_to_varchar(exp.Cast(this=exp.column(f"{prefix}e"), to=exp.DataType.build("VARCHAR")))
    new = node.copy()
    new.set("this", sql_templates.duckdb(f"list_transform(__a, lambda {prefix}e: __t)", prefix, a=node.this, t=text))
    return new


def zip_arrays(arrays: Sequence[exp.Expr]) -> exp.Expr:
    """``zip(a1, …, an)`` of three to five arrays (two: ``rewrite("zip", …)``): DuckDB's ``list_zip``, the
    shorter arrays padded with NULLs as Trino pads them; NULL when an array is NULL."""
    if not 2 <= len(arrays) <= 5:
        raise ValidationError(f"zip takes 2 to 5 arrays, got {len(arrays)}")
    any_null = " OR ".join(f"__a{i} IS NULL" for i in range(len(arrays)))
    zipped = ", ".join(f"__a{i}" for i in range(len(arrays)))
    named: dict[str, exp.Expr] = {f"a{i}": a for i, a in enumerate(arrays)}
    return sql_templates.duckdb(f"CASE WHEN {any_null} THEN NULL ELSE list_zip({zipped}) END", None, **named)


def _apply(function: exp.Expr, args: Sequence[exp.Expr], name: str) -> exp.Expr:
    """The body of the lambda ``function`` with its parameters replaced by ``args``."""
    if not isinstance(function, exp.Lambda) or len(function.expressions) != len(args):
        raise ValidationError(f"{name}: the last argument must be a lambda of {len(args)} parameter(s), "
                              f"e.g. {'(x, y) -> x - y' if len(args) == 2 else 'x -> x > 0'}")
    bound = {param.name: arg for param, arg in zip(function.expressions, args)}
    for inner in function.this.find_all(exp.Lambda):
        if any(param.name in bound for param in inner.expressions):
            raise ValidationError(f"{name}: a nested lambda reuses the parameter name of its outer lambda")

    def substitute(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and not node.table and node.name in bound:
            return exp.paren(bound[node.name].copy())
        if (isinstance(node, exp.Identifier) and node.name in bound
                and not isinstance(node.parent, (exp.Column, exp.Table, exp.Alias, exp.Lambda))
                and not (isinstance(node.parent, exp.Dot) and node.arg_key == "expression")):  # x.f: x, not f
            return exp.paren(bound[node.name].copy())
        return node

    body: exp.Expr = function.this.copy().transform(substitute)
    return body


def _element(array: exp.Expr, index: str, prefix: str) -> exp.Expr:
    return sql_templates.duckdb(f"__a[{index}]", prefix, a=array)


def rewrite_call(name: str, args: list[exp.Expr]) -> exp.Expr:
    """Trino's ``name(args)`` for a name in LAMBDA_FUNCTIONS, as DuckDB SQL (module docstring)."""
    if name in _MATCH and len(args) == 2:
        _apply(args[1], [args[0]], name)  # checks that it is a lambda of one parameter
        predicates = exp.Anonymous(this="list_transform", expressions=[args[0].copy(), args[1].copy()])
        return sql_templates.duckdb(f"CASE WHEN __a IS NULL THEN NULL {_MATCH[name]} END", a=args[0], t=predicates)
    if name == "zip_with" and len(args) == 3:
        prefix = sql_templates.local_prefix(*args)
        body = _apply(args[2], [_element(args[0], "tessera_i", prefix), _element(args[1], "tessera_i", prefix)], name)
        return sql_templates.duckdb(
            "CASE WHEN __a IS NULL OR __b IS NULL THEN NULL "
            "ELSE list_transform(range(1, greatest(len(__a), len(__b)) + 1), lambda tessera_i: __f) END",
            prefix, a=args[0], b=args[1], f=body)
    if name == "shuffle" and len(args) == 1:
        return sql_templates.duckdb("list_transform(list_sort(list_transform(__a, lambda tessera_x: "
                                    "struct_pack(k := random(), v := tessera_x))), lambda tessera_s: tessera_s.v)",
                                    a=args[0])
    if name == "ngrams" and len(args) == 2:
        return sql_templates.duckdb(
            "CASE WHEN __n <= 0 THEN error('ngrams: N must be positive') WHEN len(__a) <= __n THEN [__a] "
            "ELSE list_transform(range(1, len(__a) - __n + 2), lambda tessera_i: __a[tessera_i:tessera_i + __n - 1]) END",
            a=args[0], n=args[1])
    raise ValidationError(f"{name}: wrong number of arguments ({len(args)})")


def array_sort(array: exp.Expr, comparator: exp.Expr) -> exp.Expr:
    """``array_sort(a, (x, y) -> c)`` (module docstring): stable, by counting what sorts before each."""
    prefix = sql_templates.local_prefix(array, comparator)
    compare = _apply(comparator, [_element(array, "tessera_j", prefix), _element(array, "tessera_i", prefix)],
                     "array_sort")
    checked = sql_templates.duckdb("coalesce(__c, error('array_sort: the comparator returned NULL'))", c=compare)
    ranks = sql_templates.duckdb(
        "list_transform(range(1, len(__a) + 1), lambda tessera_i: 1 + len(list_filter(range(1, len(__a) + 1), "
        "lambda tessera_j: tessera_j <> tessera_i AND (__c < 0 OR (__c = 0 AND tessera_j < tessera_i)))))",
        prefix, a=array, c=checked)
    return sql_templates.duckdb(
        "CASE WHEN __a IS NULL THEN NULL "
        "ELSE list_transform(range(1, len(__a) + 1), lambda tessera_r: __a[list_position(__k, tessera_r)]) END",
        prefix, a=array, k=ranks)


_INTEGER_TYPES = (exp.DType.BIGINT, exp.DType.INT, exp.DType.SMALLINT, exp.DType.TINYINT)

# A NULL inside a nested value's text ('[1, NULL]', "{'a': NULL}"); a string 'NULL' is quoted there.
_HOLDS_NULL = r"regexp_matches(CAST({} AS VARCHAR), '(^|[\[{{(, :])NULL($|[\]}}), ])')"
_NESTED_NULLS = ("CASE WHEN __a = __b THEN NULL ELSE error('Tessera cannot compare arrays or rows whose nested "
                 "values hold a NULL (Timestream answers NULL or false by position); compare their elements') END")
_ELEMENTS_EQUAL = "list_transform(__a, lambda tessera_x, tessera_i: tessera_x = __b[tessera_i])"
_ARRAY_EQUAL = f"""
CASE WHEN __a IS NULL OR __b IS NULL THEN NULL
     WHEN len(__a) <> len(__b) THEN false
     WHEN (typeof(__a) LIKE '%[][]' OR typeof(__a) LIKE 'STRUCT(%' OR typeof(__a) LIKE 'MAP(%'
           OR typeof(__b) LIKE '%[][]' OR typeof(__b) LIKE 'STRUCT(%' OR typeof(__b) LIKE 'MAP(%')
          AND ({_HOLDS_NULL.format('__a')} OR {_HOLDS_NULL.format('__b')}) THEN {_NESTED_NULLS}
     WHEN list_contains({_ELEMENTS_EQUAL}, false) THEN false
     WHEN list_position({_ELEMENTS_EQUAL}, NULL) IS NOT NULL THEN NULL
     ELSE true END
"""
_ROW_EQUAL = f"""
CASE WHEN __a IS NULL OR __b IS NULL THEN NULL
     WHEN {_HOLDS_NULL.format('__a')} OR {_HOLDS_NULL.format('__b')} THEN {_NESTED_NULLS}
     ELSE __a = __b END
"""


def _visible_row(node: exp.Expr) -> bool:
    node = node.unnest()
    return isinstance(node, exp.Struct) or (isinstance(node, exp.Cast) and node.to.this == exp.DType.STRUCT)


def equality(left: exp.Expr, right: exp.Expr) -> exp.Expr | None:
    """``left = right`` with Trino's NULL rule for arrays and rows (module docstring); None unless one side is
    visibly an array or a row."""
    a, b = left.unnest(), right.unnest()
    if isinstance(a, exp.Struct) and isinstance(b, exp.Struct) and len(a.expressions) == len(b.expressions) \
            and not any(isinstance(f, (exp.PropertyEQ, exp.Alias)) for f in (*a.expressions, *b.expressions)):
        fields = [equality(x, y) or exp.EQ(this=x.copy(), expression=y.copy())
                  for x, y in zip(a.expressions, b.expressions, strict=True)]
        return exp.paren(exp.and_(*[exp.paren(f) for f in fields])) if fields else exp.true()
    if trino_timeseries.is_array(left) or trino_timeseries.is_array(right):
        return sql_templates.duckdb(_ARRAY_EQUAL, a=left, b=right)
    if _visible_row(left) or _visible_row(right):
        return sql_templates.duckdb(_ROW_EQUAL, a=left, b=right)
    return None


def try_cast_elements(array: exp.Expr, element_cast: exp.Expr, prefix: str) -> exp.Expr:
    """``TRY_CAST(array AS ARRAY(T))`` as Trino: NULL when an element that is not NULL fails to cast (DuckDB
    leaves that element NULL). ``element_cast`` is the TRY_CAST of one element, the lambda variable
    ``<prefix>e``."""
    return sql_templates.duckdb(
        "CASE WHEN list_bool_or(list_transform(__a, lambda tessera_e: tessera_e IS NOT NULL AND __c IS NULL)) "
        "THEN NULL ELSE list_transform(__a, lambda tessera_e: __c) END", prefix, a=array, c=element_cast)


def cast_elements(node: exp.Cast) -> exp.Expr | None:
    """``CAST(a AS ARRAY(<integer type>))`` and ``CAST(a AS ARRAY(VARCHAR))``: each element cast as Trino casts
    it (a DOUBLE rounds half away from zero, 2.5 -> 3, where DuckDB's list cast gives 2; a DOUBLE's text is
    Java's, ``1.0E10``). None for other casts, and for TRY_CAST (Trino's is NULL for the whole array when one
    element fails, which an element-wise cast does not give)."""
    to = node.to
    if isinstance(node, exp.TryCast) or to.this != exp.DType.ARRAY or len(to.expressions) != 1:
        return None
    element = to.expressions[0]
    if not (element.this in _INTEGER_TYPES or (element.this == exp.DType.VARCHAR and not element.expressions)):
        return None
    prefix = sql_templates.local_prefix(node.this)
    cast = exp.Cast(this=exp.column(f"{prefix}e"), to=element.copy())
    body = (trino_numbers.cast_to_integer(cast) if element.this in _INTEGER_TYPES
            else trino_text.cast_to_varchar(cast))
    return sql_templates.duckdb(f"list_transform(__a, lambda {prefix}e: __b)", prefix, a=node.this, b=body)


def subscript(node: exp.Bracket) -> exp.Expr:
    """``a[i]`` past the array's end is Trino's error (``element_at`` answers NULL there, as DuckDB's subscript
    does). sqlglot keeps the index 0-based."""
    index = node.expressions[0]
    return sql_templates.duckdb(
        "CASE WHEN __i + 1 > len(__a) THEN error('Array subscript must be less than or equal to array length: ' "
        "|| (__i + 1) || ' > ' || len(__a)) ELSE __n END", i=index, a=node.this, n=node)


def cardinality(node: exp.ArraySize) -> exp.Expr | None:
    """``cardinality(x)`` of a map (or of what is not visibly an array) as DuckDB's ``cardinality``, a BIGINT:
    sqlglot writes ``array_length``, which DuckDB refuses for a map. None for a visible array."""
    if trino_timeseries.is_array(node.this):
        return None
    return exp.cast(sql_templates.call("cardinality", node.this.copy()), exp.DType.BIGINT)
