"""The one clock of the product, so tests can move time forward."""
import datetime as dt


def now():
    """Return the current time as a naive UTC datetime (how every column stores it)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def today():
    """Return today's date in France, where every deadline of the product is counted."""
    return local(now()).date()


def local(moment):
    """Return a stored naive UTC datetime as an aware Europe/Paris datetime."""
    from zoneinfo import ZoneInfo

    return moment.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo("Europe/Paris"))
