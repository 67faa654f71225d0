"""The news of the home pages (« Nouveautés »): read at most once a minute per process, a change made here shown at once."""
from models import News, clock
from public_forms import home


def test_news_published_here_show_at_once_and_those_written_elsewhere_within_the_minute(client, monkeypatch):
    assert "Nouveau tarif" not in client.get("/").get_data(as_text=True)
    News.create(text="Nouveau tarif au 1er septembre", published_on=clock.today())  # through this process
    assert "Nouveau tarif au 1er septembre" in client.get("/").get_data(as_text=True)
    # Another machine's write (a statement, not this process's model): shown once the kept news are a minute old.
    News.update(text="Tarif revu au 1er octobre").execute()
    assert "Nouveau tarif au 1er septembre" in client.get("/").get_data(as_text=True)
    elapsed = home.time.monotonic() + home.NEWS_KEPT_SECONDS
    monkeypatch.setattr(home.time, "monotonic", lambda: elapsed)
    assert "Tarif revu au 1er octobre" in client.get("/").get_data(as_text=True)


def test_a_news_hidden_or_deleted_here_leaves_the_home_page_at_once(client, login_user, make_driver):
    news = News.create(text="Nouveau tarif au 1er septembre", published_on=clock.today())
    login_user(make_driver(state="active"))
    assert "Nouveau tarif au 1er septembre" in client.get("/").get_data(as_text=True)
    news.visible = False
    news.save()
    assert "Nouveau tarif au 1er septembre" not in client.get("/").get_data(as_text=True)
    news.visible = True
    news.save()
    assert "Nouveau tarif au 1er septembre" in client.get("/").get_data(as_text=True)
    news.delete_instance()
    assert "Nouveau tarif au 1er septembre" not in client.get("/").get_data(as_text=True)
