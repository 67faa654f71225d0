"""What every queue of files offers beyond its own list: the late files and the days files were sent or decided as
filters, links to the list with chosen filters (the dashboard's), exports (CSV for Excel, XLSX) of the list as
filtered and searched, and the filters a staff member saved.
"""
import csv
import datetime as dt
import io
import re
from functools import reduce
from operator import or_
from urllib.parse import parse_qsl, urlencode

from flask import Response, abort, request, send_file, stream_with_context, url_for
from flask_admin import expose
from flask_admin.contrib.peewee.filters import BasePeeweeFilter
from flask_login import current_user
from markupsafe import Markup
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from models import Dossier, Procedure, SavedFilter, clock
from models import activity
from services import audit

#: An export holds at most this many rows, in the list's order (the page says so).
EXPORT_MAX_ROWS = 50_000
#: Rows read at a time while exporting (the rows' extra data, a replacement's payment for instance, read per batch).
EXPORT_BATCH = 500
#: The arguments of a list's address that a saved filter keeps: its filters, search, sort and page size.
KEPT_ARGUMENTS = re.compile(r"^(flt\d+_\w+|search|sort|desc|page_size)$")
#: Characters a spreadsheet reads as the start of a formula in a text cell.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def parse_day(value):
    """Return the date typed as 14/03/2026 or 2026-03-14, or None."""
    for layout in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            day = dt.datetime.strptime((value or "").strip(), layout).date()
        except ValueError:
            continue
        return day if 2000 <= day.year <= 2100 else None
    return None


class LateFilter(BasePeeweeFilter):
    """Files waiting for the service (sent, in instruction, in analysis) past their procedure's target."""

    def __init__(self):
        super().__init__(Dossier.submitted_at, "En retard", options=[("oui", "Oui")])

    def operation(self):
        return "est"

    def validate(self, value):
        return value == "oui"

    def apply(self, query, value, alias=None):
        now = clock.now()
        by_target = {}
        for procedure in Procedure.select(Procedure.id, Procedure.code):
            by_target.setdefault(activity.target_of(procedure.code), []).append(procedure.id)
        late = reduce(or_, [Dossier.procedure.in_(ids) & (Dossier.submitted_at < now - target)
                            for target, ids in by_target.items()])
        return query.where(Dossier.state.in_(activity.AT_SERVICE), late)


class DayFilter(BasePeeweeFilter):
    """Files whose moment (sent, decided) falls on a day in Paris, or since that day."""

    def __init__(self, column, name, since=False):
        super().__init__(column, name)
        self.since = since

    def operation(self):
        return "depuis le" if self.since else "le"

    def validate(self, value):
        return parse_day(value) is not None

    def clean(self, value):
        return parse_day(value)

    def apply(self, query, value, alias=None):
        start = activity.day_start(value)
        if self.since:
            return query.where(self.column >= start)
        return query.where(self.column >= start, self.column < activity.day_start(value + dt.timedelta(days=1)))


LATE = LateFilter()
SENT_ON = DayFilter(Dossier.submitted_at, "Reçu (envoi ou réponse)")
SENT_SINCE = DayFilter(Dossier.submitted_at, "Reçu (envoi ou réponse)", since=True)
DECIDED_ON = DayFilter(Dossier.decided_at, "Décidé")
DECIDED_SINCE = DayFilter(Dossier.decided_at, "Décidé", since=True)
#: The filters every queue has besides its own, by the name filtered_url() knows them.
COMMON_FILTERS = {"late": LATE, "sent_on": SENT_ON, "sent_since": SENT_SINCE, "decided_on": DECIDED_ON,
                  "decided_since": DECIDED_SINCE}


def _text(value):
    """Return what a list cell shows as plain text (a link's words, a badge's, lines joined by « · »)."""
    if isinstance(value, Markup):
        return Markup(re.sub(r"<br\s*/?>", " · ", str(value))).striptags()
    return "" if value is None else str(value)


def _csv_cell(value):
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value  # read as text, never as a formula (CSV injection)
    return value


def _csv_line(row):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerow([_csv_cell(value) for value in row])
    return buffer.getvalue()


def _xlsx_cell(sheet, value, bold=False):
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # text stays text, even when it starts with « = »
    elif isinstance(value, dt.datetime):
        cell.number_format = "DD/MM/YYYY HH:MM"
    if bold:
        cell.font = Font(bold=True)
    return cell


class QueueTools:
    """Mixed into a queue's model view: common filters, filtered links, exports and saved filters."""

    #: The queue's state filter, and its procedure filter when it serves several procedures (None: none).
    state_filter = None
    procedure_filter = None
    #: The procedures whose files the queue lists.
    codes = ()
    #: The states the list is narrowed to (empty: every state it shows).
    states = ()
    export_max_rows = EXPORT_MAX_ROWS

    def get_filters(self):
        return list(super().get_filters() or []) + list(COMMON_FILTERS.values())

    def shows(self, code, state=None):
        """Does this queue list the files of this procedure in this state (in every state when None)?"""
        return code in self.codes and (not self.states or state in self.states)

    def filtered_url(self, code=None, state=None, **chosen):
        """Return the list's address with filters chosen: a procedure (by its code), a state, and COMMON_FILTERS by name.

        A queue narrowed to one state needs no state filter for it; a queue of one procedure no procedure filter.
        """
        filters = []
        if state is not None and self.state_filter is not None:
            filters.append((self.state_filter, state))
        if code is not None and self.procedure_filter is not None:
            filters.append((self.procedure_filter, code))
        filters += [(COMMON_FILTERS[name], value) for name, value in chosen.items() if value is not None]
        args = {f"flt{position}_{self._filter_key(flt)}": value for position, (flt, value) in enumerate(filters)}
        return url_for(f"{self.endpoint}.index_view") + ("?" + urlencode(args) if args else "")

    def _filter_key(self, flt):
        return next(key for key, (_, kept) in self._filter_args.items() if kept is flt)

    # --- Exports ---------------------------------------------------------------------------------------------

    def list_arguments(self):
        """Return the list's current arguments that define its rows: filters, search and sort (no page)."""
        return [(key, value) for key, value in request.args.items(multi=True) if KEPT_ARGUMENTS.match(key)]

    def export_url(self, fmt):
        """Return the address exporting the list as it is filtered, searched and sorted now."""
        query = urlencode([(key, value) for key, value in self.list_arguments() if key != "page_size"])
        return url_for(f"{self.endpoint}.export_list", fmt=fmt) + ("?" + query if query else "")

    def prepare_rows(self, rows):
        """Return a batch of listed rows with what their columns need beyond the list's query (nothing here)."""
        return rows

    def export_columns(self):
        """Return (name, French label) of the columns exported: the list's."""
        return list(self._list_columns)

    def export_value(self, row, name):
        """Return a cell of the export: a number or a Paris date and time as such, any other cell as its text."""
        raw = row.__data__.get(name) if hasattr(row, "__data__") else None
        if isinstance(raw, dt.datetime):
            return clock.local(raw).replace(tzinfo=None, microsecond=0)
        if name == "id" and isinstance(raw, int):
            return raw
        return _text(self.get_list_value(None, row, name))

    def export_rows(self):
        """Yield the header, then the rows of the list as filtered, searched and sorted (at most export_max_rows)."""
        view_args = self._get_list_extra_args()
        sort = self._get_column_by_idx(view_args.sort)
        _, query = self.get_list(0, sort[0] if sort else None, view_args.sort_desc, view_args.search,
                                 view_args.filters, execute=False, page_size=self.export_max_rows)
        columns = self.export_columns()
        yield [label for _, label in columns]
        batch = []
        for row in query.iterator():
            batch.append(row)
            if len(batch) == EXPORT_BATCH:
                yield from ([self.export_value(r, name) for name, _ in columns] for r in self.prepare_rows(batch))
                batch = []
        if batch:
            yield from ([self.export_value(r, name) for name, _ in columns] for r in self.prepare_rows(batch))

    def export_filename(self, fmt):
        slug = re.sub(r"[^a-z0-9]+", "-", self.endpoint.lower()).strip("-")
        return f"{slug}-{clock.local(clock.now()):%Y%m%d-%H%M}.{fmt}"

    def describe_filters(self):
        """Say in French which filters and search the list has now (for the audit log)."""
        view_args = self._get_list_extra_args()
        said = []
        for index, name, value in view_args.filters or []:
            flt = self._filters[index]
            label = dict(flt.get_options(self) or []).get(value, value)
            said.append(f"{name} {flt.operation()} {label}")
        if view_args.search:
            said.append(f"recherche « {view_args.search} »")
        return " ; ".join(said) or "aucun filtre"

    @expose("/exporter/<fmt>")
    def export_list(self, fmt):
        """Export the list as filtered and searched: CSV for Excel (« ; », UTF-8 with BOM) or XLSX; audited."""
        if fmt not in ("csv", "xlsx"):
            abort(404)
        audit.record(f"Export {fmt.upper()} : {self.name}", request.query_string.decode("utf-8", "replace"),
                     f"{self.describe_filters()} (au plus {self.export_max_rows} lignes)")
        name = self.export_filename(fmt)
        if fmt == "csv":
            lines = (_csv_line(row) for row in self.export_rows())
            return Response(stream_with_context(_with_bom(lines)), mimetype="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(self.name[:31])
        sheet.freeze_panes = "A2"
        rows = self.export_rows()
        sheet.append([_xlsx_cell(sheet, label, bold=True) for label in next(rows)])
        for row in rows:
            sheet.append([_xlsx_cell(sheet, value) for value in row])
        out = io.BytesIO()
        workbook.save(out)
        out.seek(0)
        return send_file(out, as_attachment=True, download_name=name,
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    # --- Saved filters ---------------------------------------------------------------------------------------

    def saved_filters(self):
        """Return the filters the logged-in staff member saved for this queue."""
        return list(SavedFilter.of(current_user.id, self.endpoint))

    def current_query(self):
        """Return the query string a saved filter keeps of the list shown now."""
        return urlencode(self.list_arguments())


def _with_bom(lines):
    yield "\ufeff"
    yield from lines


def clean_query(query):
    """Return a list's query string with only what a saved filter keeps (filters, search, sort, page size)."""
    return urlencode([(key, value) for key, value in parse_qsl(query or "") if KEPT_ARGUMENTS.match(key)])
