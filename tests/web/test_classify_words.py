"""/contacts/classify names the model it used in the page's language (it printed the raw
value "cold start" on a Dutch page)."""

from __future__ import annotations

from typing import Any

import pytest

from klantreis.wording import Wording


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_classify_page_names_its_model_in_words(as_user: Any, lang: str) -> None:
    page = as_user("analyst").get(
        "/contacts/classify", params={"text": "waar blijft mijn pakket", "lang": lang}
    )
    assert page.status_code == 200 and 'data-testid="classify-result"' in page.text
    w = Wording(lang)
    assert "cold start" not in page.text
    assert w("contacts.classify.model", model=w("themes.cold_start")) in page.text
