"""Queries whose SQL peewee writes once per process, for the pages every holder opens.

Peewee builds a query and writes its SQL anew at each execution, and on PostgreSQL that costs about as much as
the round trip itself (0.4 ms for a one-row lookup on this machine). A prepared query is built once with
stand-in values, the query and its SQL kept, and each call binds the real values to that SQL in a copy of the
query; peewee still reads the rows into models and joins as usual, from what it worked out of the first
execution's columns (which column goes to which model and field).

The builder's integer arguments (and lists of integers: ids) are bound; any other argument (a procedure
code, a date, a flag) is part of the query's shape and gets its own SQL. A call returns rows, never a
query: a query could be chained (``.where(…)``) and would then run the SQL kept for the unchained one.
"""
import functools
import itertools

from peewee import SQL

#: Stand-in values: integers no id can take, found back in the parameters peewee writes.
_STAND_IN_BASE = -(2**62)
#: Shapes kept per query before starting afresh (a date in the shape adds one a day).
_MAX_SHAPES = 64


class _Place(tuple):
    """Where a bound value goes: (the argument's position, its index when the argument is a list of ids)."""

    def __new__(cls, position, index):
        return super().__new__(cls, (position, index))

    def take(self, values):
        position, index = self
        return values[position] if index is None else values[position][index]


def _bound(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id_list(value):
    return isinstance(value, (list, tuple)) and all(_bound(v) for v in value)


class Prepared:
    """A query builder whose SQL is written once per shape; call ``rows(…)`` or ``scalar(…)``."""

    def __init__(self, build):
        self.build = build
        self.shapes = {}
        #: {(shape, as tuples?): what peewee's cursor wrapper works out from the first execution's columns}.
        self.readers = {}
        functools.update_wrapper(self, build)

    def _shape(self, values):
        from models import db

        return (type(db.obj),) + tuple(
            ("id",) if _bound(v) else ("ids", len(v)) if _is_id_list(v) else ("value", v) for v in values
        )

    def _compile(self, values):
        counter = itertools.count()
        stand_ins, where = [], {}
        for position, value in enumerate(values):
            if _bound(value):
                number = _STAND_IN_BASE - next(counter)
                where[number] = _Place(position, None)
                stand_ins.append(number)
            elif _is_id_list(value):
                numbers = [_STAND_IN_BASE - next(counter) for _ in value]
                where.update({number: _Place(position, index) for index, number in enumerate(numbers)})
                stand_ins.append(numbers)
            else:
                stand_ins.append(value)
        template = self.build(*stand_ins)
        sql, params = template.sql()
        # Each parameter is a constant of the shape, or the place of a value: (position, index in a list).
        slots = [where.get(param, param) if _bound(param) else param for param in params]
        # Every id must reach the SQL (an id used once in Python would be frozen in the kept SQL); one may appear twice.
        if {slot for slot in slots if isinstance(slot, _Place)} != set(where.values()):
            raise ValueError(f"{self.build.__qualname__}: chaque identifiant doit être un paramètre de la requête")
        return sql, slots, template

    def _query(self, values, as_tuples=False):
        shape = self._shape(values)
        if shape not in self.shapes:
            if len(self.shapes) >= _MAX_SHAPES:
                self.shapes.clear()
                self.readers.clear()
            self.shapes[shape] = self._compile(values)
        sql, slots, template = self.shapes[shape]
        params = [slot.take(values) if isinstance(slot, _Place) else slot for slot in slots]
        # A copy of the query built once reads the rows as peewee would (its models, its joins): neither the building of
        # the query nor the writing of its SQL is done again. The ids only ever reach the SQL's parameters.
        query = template.tuples() if as_tuples else template.clone()
        query.__sql__ = SQL(sql, params).__sql__
        query._get_cursor_wrapper = functools.partial(self._reader, (shape, as_tuples), query._get_cursor_wrapper)
        return query

    def _reader(self, reading, make, cursor):
        """Return the query's cursor wrapper, given what peewee worked out of the first execution's columns (which
        column goes to which model and field, with which conversion): the same for every execution of the shape."""
        wrapper = make(cursor)
        known = self.readers.get(reading)
        if known is not None:
            vars(wrapper).update(known)
            wrapper.initialized = True
            return wrapper
        before = set(vars(wrapper)) | {"initialize"}
        initialize = wrapper.initialize

        def learn():
            initialize()
            self.readers[reading] = {name: value for name, value in vars(wrapper).items() if name not in before}

        wrapper.initialize = learn
        return wrapper

    def rows(self, *values):
        """Run the query with these values; return its rows (models, with their joins)."""
        return list(self._query(values))

    def scalar(self, *values):
        """Run the query with these values; return the first column of its first row, or None."""
        found = list(self._query(values, as_tuples=True))
        return found[0][0] if found else None


def prepared(build):
    """Decorate a function building a select query from ids: see the module's documentation."""
    return Prepared(build)
