"""Every page a person opens answers, in French."""


def test_public_pages_answer(client):
    for url in ["/", "/connexion", "/creer-un-compte/", "/creer-un-compte/particulier", "/creer-un-compte/centre",
                "/creer-un-compte/entreprise", "/mot-de-passe-oublie"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert 'lang="fr"' in response.get_data(as_text=True)
