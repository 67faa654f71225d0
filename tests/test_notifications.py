"""« Mes notifications » (issue 12): every notification, read or not, a page at a time, linked from the home page."""
import datetime as dt
import html
import re

import pytest

from models import Notification

PAGE = "/mes-notifications"


def text(response):
    """Return a page as a person reads it (entities decoded)."""
    assert response.status_code == 200, response.status_code
    return html.unescape(response.get_data(as_text=True))


def shown(page):
    """Return the ids of the notifications a page lists, in order."""
    return [int(n) for n in re.findall(r'id="notification-(\d+)"', page)]


def notes(user, count):
    """Give an account `count` notifications, one a minute; return them newest first."""
    start = dt.datetime(2024, 3, 1, 9, 0)
    made = [Notification.create(user=user, message=f"Message {n}", link="http://localhost/mes-demandes/",
                                created_at=start + dt.timedelta(minutes=n)) for n in range(count)]
    return [note.id for note in reversed(made)]


@pytest.fixture
def driver(make_driver, login_user):
    user = make_driver(state="active")
    login_user(user)
    return user


def test_a_read_notification_stays_on_mes_notifications_marked_read(client, driver):
    older, newer = reversed(notes(driver, 2))
    home = text(client.get("/"))
    assert "Message 0" in home and "Message 1" in home and f'href="{PAGE}"' in home
    response = client.get(f"/notifications/{older}")
    assert response.status_code == 302 and response.headers["Location"] == "http://localhost/mes-demandes/"
    # The home page lists what is unread; the page lists everything, the read one marked so.
    home = text(client.get("/"))
    assert "Message 0" not in home and "Message 1" in home
    page = text(client.get(PAGE))
    assert shown(page) == [newer, older]
    read = re.search(rf'<li class="notification read" id="notification-{older}">(.*?)</li>', page, re.S).group(1)
    unread = re.search(rf'<li class="notification unread" id="notification-{newer}">(.*?)</li>', page, re.S).group(1)
    today = Notification.get_by_id(older).read_at.strftime("%d/%m/%Y")
    assert f"Lue le {today}" in read and "Message 0" in read and "en savoir plus" in read
    assert "Non lue" in unread and "Lue le" not in unread


def test_mes_notifications_is_paginated_20_a_page(client, driver):
    ids = notes(driver, 45)
    first = text(client.get(PAGE))
    assert shown(first) == ids[:20] and "Page 1 sur 3" in first and "45 au total" in first
    assert f'href="{PAGE}?page=2" rel="next">Page suivante' in first and "Page précédente" not in first
    second = text(client.get(f"{PAGE}?page=2"))
    assert shown(second) == ids[20:40]
    assert f'href="{PAGE}?page=1" rel="prev"' in second and f'href="{PAGE}?page=3" rel="next"' in second
    last = text(client.get(f"{PAGE}?page=3"))
    assert shown(last) == ids[40:] and "Page 3 sur 3" in last and "Page suivante" not in last


@pytest.mark.parametrize("asked, number", [("0", 1), ("-4", 1), ("abc", 1), ("2.5", 1), ("", 1), ("4", 3), ("99", 3),
                                           ("1" + "0" * 30, 3)])
def test_a_page_number_outside_the_list_is_brought_back_to_it(client, driver, asked, number):
    ids = notes(driver, 45)
    page = text(client.get(f"{PAGE}?page={asked}"))
    assert f"Page {number} sur 3" in page and shown(page) == ids[(number - 1) * 20:number * 20]


def test_without_notifications_the_page_says_so(client, driver):
    page = text(client.get(f"{PAGE}?page=7"))
    assert "Aucune notification" in page and "Page 1" not in page


def test_each_account_sees_only_its_own(app, client, driver, make_driver):
    mine = notes(driver, 1)
    other = make_driver(state="active", email="autre@exemple.fr")
    theirs = notes(other, 1)
    assert shown(text(client.get(PAGE))) == mine
    assert theirs[0] not in shown(text(client.get(PAGE)))
    anonymous = app.test_client()
    response = anonymous.get(PAGE)
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]
