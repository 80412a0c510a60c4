"""The customer directory: validation, consent semantics and reason codes, suppression,
unsubscribe links, erasure that leaves nothing readable in the file, CSV import."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klantreis.directory import (
    ConsentPolicy,
    Contact,
    Directory,
    DirectoryError,
    ErasedError,
    directory_file,
)
from klantreis.settings import Settings

SECRET = "f3a9c1e07b5d2846aa31"


@pytest.fixture
def d() -> Iterator[Directory]:
    with Directory.open(":memory:", secret=SECRET) as directory:
        yield directory


def test_details_are_validated_and_normalised(d: Directory) -> None:
    d.upsert("c1", email=" Jan.Jansen@Example.NL ", phone="06-1234 5678", name="Jan", lang="nl")
    assert d.contact("c1") == Contact("c1", "Jan.Jansen@example.nl", "+31612345678", "Jan", "nl")
    d.upsert("c1", phone="")  # "" clears, None keeps
    assert d.contact("c1") == Contact("c1", "Jan.Jansen@example.nl", None, "Jan", "nl")
    assert d.contact("nobody") is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"email": "jan@@example.nl"}, "exactly one @"),
        ({"email": "jan@localhost"}, "invalid domain"),
        ({"email": "jan smit@example.nl"}, "before the @"),
        ({"phone": "+3161"}, "8 to 15 digits"),
        ({"phone": "+31 6 abc"}, "only hold digits"),
        ({"lang": "dutch language"}, "language"),
    ],
)
def test_bad_details_are_a_clear_error(d: Directory, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        d.upsert("c1", **kwargs)
    for value in kwargs.values():
        assert value not in str(caught.value)  # the message does not repeat the value
    assert d.contact("c1") is None


def test_surveys_need_consent_and_service_uses_legitimate_interest(d: Directory) -> None:
    d.upsert("c1", email="jan@example.nl")
    assert d.may_contact("c1", "surveys", "email") == (False, "no_consent")
    assert d.may_contact("c1", "service", "email") == (True, None)
    d.set_consent("c1", "surveys", True, source="checkout")
    assert d.may_contact("c1", "surveys", "email") == (True, None)


def test_objection_always_wins(d: Directory) -> None:
    d.upsert("c1", email="jan@example.nl")
    d.set_consent("c1", "service", False, source="phone call")
    assert d.may_contact("c1", "service", "email") == (False, "objected")
    lenient = Directory.open(":memory:", policy=ConsentPolicy(surveys="legitimate_interest"))
    lenient.upsert("c2", email="piet@example.nl")
    assert lenient.may_contact("c2", "surveys", "email") == (True, None)
    lenient.set_consent("c2", "surveys", False, source="unsubscribe")
    assert lenient.may_contact("c2", "surveys", "email") == (False, "objected")
    lenient.close()


def test_the_latest_consent_counts_and_history_is_kept(d: Directory) -> None:
    d.upsert("c1", email="jan@example.nl")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    d.set_consent("c1", "surveys", True, source="checkout", at=t0)
    d.set_consent("c1", "surveys", False, source="mail", at=t0 + timedelta(days=30))
    d.set_consent("c1", "surveys", True, source="backdated", at=t0 - timedelta(days=1))
    assert d.may_contact("c1", "surveys", "email") == (False, "objected")
    assert [r.source for r in d.consent_history("c1")] == ["backdated", "checkout", "mail"]


def test_reason_codes_in_their_order(d: Directory) -> None:
    d.set_consent("c1", "surveys", True, source="x")
    assert d.may_contact("c1", "surveys", "email") == (False, "no_contact_details")
    d.upsert("c1", email="jan@example.nl")
    assert d.may_contact("c1", "surveys", "sms") == (False, "no_contact_details")
    assert d.may_contact("c1", "surveys", "push") == (False, "no_contact_details")
    d.suppress("JAN@example.nl", "hard bounce")
    assert d.may_contact("c1", "surveys", "email") == (False, "suppressed")
    assert d.is_suppressed("jan@EXAMPLE.nl")
    assert d.unsuppress("jan@example.nl") and not d.unsuppress("jan@example.nl")
    assert d.may_contact("c1", "surveys", "email") == (True, None)
    d.erase("c1")
    assert d.may_contact("c1", "surveys", "email") == (False, "erased")


def test_decisions_for_many_customers_at_once(d: Directory) -> None:
    d.upsert("a", email="a@example.nl")
    d.upsert("b", phone="+32470123456")
    d.set_consent("a", "surveys", True, source="x")
    d.set_consent("b", "surveys", True, source="x")
    assert d.decisions(["a", "b", "c"], "surveys", "email") == {
        "a": None,
        "b": "no_contact_details",
        "c": "no_consent",
    }
    assert d.lookup("b", "surveys", "sms") == ("+32470123456", None)
    assert d.lookup("c", "service", "sms") == (None, "no_contact_details")


def test_unknown_purpose_is_refused(d: Directory) -> None:
    with pytest.raises(ValueError, match="unknown purpose"):
        d.may_contact("c1", "marketing", "email")
    with pytest.raises(ValueError, match="unknown purpose"):
        d.set_consent("c1", "marketing", True, source="x")


def test_unsubscribe_link_works_without_login(d: Directory) -> None:
    d.upsert("c1", email="jan@example.nl")
    d.set_consent("c1", "surveys", True, source="checkout")
    token = d.unsubscribe_token("c1", "surveys")
    assert "jan" not in token
    assert d.unsubscribe(token)
    assert d.may_contact("c1", "surveys", "email") == (False, "objected")
    assert d.consent_history("c1")[-1].source == "unsubscribe-link"
    forged = token.replace("surveys", "service")
    assert not d.unsubscribe(forged)
    assert not d.unsubscribe(token[:-3] + "abc")
    assert not d.unsubscribe("nonsense")
    other = Directory.open(":memory:", secret="another-secret-of-20c")
    assert not other.unsubscribe(token)
    with pytest.raises(DirectoryError, match="secret"):
        Directory.open(":memory:").unsubscribe_token("c1", "surveys")


def test_erasure_leaves_nothing_readable_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "shop.directory.duckdb"
    with Directory.open(path, secret=SECRET) as d:
        d.store_rows(
            [
                d.validated(
                    f"c{n}",
                    email=f"person{n}@example.org",
                    phone=f"+3161234{n:04d}",
                    name=f"Naam{n}",
                )
                for n in range(500)
            ]
        )
        for n in range(50):  # one transaction each: as consents arrive one by one
            d.set_consents([(f"c{n}", "surveys", True)], source=f"checkout-{n}")
        d.suppress("person7@example.org", "complaint")
        removed = d.erase("c7")
        assert removed == 2  # contact row + one consent record
        d._query("CHECKPOINT")
        assert d.may_contact("c7", "surveys", "email") == (False, "erased")
        assert d.contact("c8") is not None and d.count() == 499
        assert d.is_suppressed("person7@example.org")  # the suppression outlives erasure
        with pytest.raises(ErasedError):
            d.upsert("c7", email="person7@example.org")
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for secret_value in (b"person7@example.org", b"+31612340007", b"Naam7\x00", b"checkout-7\x00"):
        assert secret_value not in data
    assert b"person8@example.org" in data  # the scan would see a value that is there


def test_erased_customer_can_come_back_explicitly(d: Directory) -> None:
    d.upsert("c1", email="jan@example.nl")
    d.erase("c1")
    assert d.set_consents([("c1", "service", False)], source="call with the customer") == 0
    assert d.consent_history("c1") == []
    d.upsert("c1", email="jan@example.nl", revive=True)
    assert d.may_contact("c1", "service", "email") == (True, None)


def test_import_csv_latin1_bom_crlf_with_reasons(d: Directory, tmp_path: Path) -> None:
    rows = [
        "klant_id;E-mail;telefoon;naam;taal;consent_surveys",
        "c1;jan@example.nl;06 12345678;Jöran Müller;nl;ja",
        "c2;not-an-address;;Piet;nl;",
        "c3;;+32 470 12 34 56;Zoë;nl-BE;nee",
        ";x@example.nl;;;;",
        "c4;kees@example.nl;;;en;misschien",
        "",
    ]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("\r\n".join(rows).encode("latin-1"))
    summary = d.import_csv(latin)
    assert (summary.rows, summary.stored, len(summary.rejected)) == (5, 2, 3)
    assert summary.rows == summary.stored + len(summary.rejected)
    assert [(r.line, r.reason) for r in summary.rejected] == [
        (3, "e-mail address must contain exactly one @"),
        (5, "customer id is empty"),
        (6, "consent must be yes or no (or empty)"),
    ]
    assert d.contact("c1").name == "Jöran Müller"  # type: ignore[union-attr]
    assert d.may_contact("c1", "surveys", "email") == (True, None)
    assert d.may_contact("c3", "surveys", "sms") == (False, "objected")
    assert d.consent_history("c1")[0].source == "import:latin.csv"
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfcustomer_id,name,email\r\nc9,Zo\xc3\xab,zoe@example.nl\r\n")
    assert d.import_csv(bom).stored == 1
    assert d.contact("c9") == Contact("c9", "zoe@example.nl", None, "Zoë", None)


def test_import_refuses_a_file_without_customer_ids(d: Directory, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("email\njan@example.nl\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no customer_id column"):
        d.import_csv(bad)


def test_import_does_not_bring_back_an_erased_customer(d: Directory, tmp_path: Path) -> None:
    d.upsert("c1", email="jan@example.nl")
    d.erase("c1")
    f = tmp_path / "again.csv"
    f.write_text(
        "customer_id,email,consent_surveys\nc1,jan@example.nl,yes\nc2,an@example.nl,yes\n",
        encoding="utf-8",
    )
    summary = d.import_csv(f)
    assert (summary.stored, [r.line for r in summary.rejected]) == (1, [2])
    assert d.contact("c1") is None and d.consent_history("c1") == []


def test_the_file_sits_beside_the_store_unless_set() -> None:
    assert directory_file(Settings(db_path="/data/shop.duckdb")) == "/data/shop.directory.duckdb"
    assert (
        directory_file(Settings(db_path="/d/s.duckdb", directory_path="/x/d.duckdb"))
        == "/x/d.duckdb"
    )
    assert directory_file(Settings(db_path=":memory:")) == ":memory:"


def test_one_customer_and_many_at_once_agree(d: Directory) -> None:
    """``may_contact`` takes point queries, ``decisions`` one bulk query: same answers."""
    d.upsert("mail", email="m@example.nl")
    d.upsert("phone", phone="+31612345678")
    d.upsert("both", email="b@example.nl", phone="+31687654321")
    d.upsert("blocked", email="x@example.nl", phone="+31611111111")
    d.upsert("gone", email="g@example.nl")
    d.set_consents([("mail", "surveys", True), ("both", "surveys", True)], source="x")
    d.set_consents([("blocked", "surveys", True), ("phone", "service", False)], source="x")
    d.suppress("x@example.nl", "bounce")
    d.suppress("+31611111111", "complaint")
    d.erase("gone")
    ids = ["mail", "phone", "both", "blocked", "gone", "nobody"]
    for purpose in ("surveys", "service"):
        for channel in ("email", "sms", "push"):
            bulk = d.decisions(ids, purpose, channel)
            single = {cid: d.may_contact(cid, purpose, channel)[1] for cid in ids}
            assert bulk == single, (purpose, channel)
    assert d.decisions(ids, "service", "sms")["blocked"] == "suppressed"


def test_a_contacts_own_time_zone_from_the_csv_validated(d: Directory, tmp_path: Path) -> None:
    f = tmp_path / "zones.csv"
    f.write_text(
        "customer_id,email,timezone\n"
        "cw1,a@example.cw,America/Curacao\n"
        "nl1,b@example.nl,\n"
        "bad1,c@example.nl,Mars/Olympus\n"
        "bad2,d@example.nl,../../etc/passwd\n",
        encoding="utf-8",
    )
    summary = d.import_csv(f)
    assert (summary.stored, [r.line for r in summary.rejected]) == (2, [4, 5])
    assert {r.reason for r in summary.rejected} == {
        "time zone must be an IANA name like Europe/Amsterdam"
    }
    assert d.contact("cw1").timezone == "America/Curacao"  # type: ignore[union-attr]
    assert d.timezones(["cw1", "nl1", "nobody"]) == {"cw1": "America/Curacao"}
    d.upsert("nl1", timezone="Europe/Amsterdam")
    d.upsert("cw1", email="a2@example.cw")  # None keeps the stored zone
    assert d.timezones(["cw1", "nl1"]) == {"cw1": "America/Curacao", "nl1": "Europe/Amsterdam"}
    d.upsert("cw1", timezone="")  # empty clears it: the journey's applies again
    assert d.timezones(["cw1"]) == {}
    with pytest.raises(ValueError, match="IANA"):
        d.upsert("nl1", timezone="Amsterdam")
