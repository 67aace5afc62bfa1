"""PII: each kind detected (and not on look-alikes), Luhn, and masking as a fix with before and after."""

import pandas as pd
import pyarrow as pa
import pytest

from curator.checks_pii import luhn_ok, pii

from conftest import make_table
from test_validate import run_rules


@pytest.mark.parametrize("text, kinds", [
    ("You can reach me at jane.doe@example.com.", "email"),
    ("Contact: LIAM.OBRIEN@EXAMPLE.COM", "email"),
    ("Call me on (555) 014-2273 any time.", "phone"),
    ("My number is +1 555 014 9921.", "phone"),
    ("Ring the London office on +44 20 7946 0958.", "phone"),
    ("My mobile is 07700 900461.", "phone"),
    ("You can call 555 014 8812 after six.", "phone"),
    ("You can call 5550148812 after six.", "phone"),
    ("Phone: 0791234567", "phone"),
    ("Call 555-123-4567 or 1-800-555-0199.", "phone"),
    ("The Tokyo office: 03-1234-5678.", "phone"),
    ("The router is at 192.168.1.10 again.", "ip_address"),
    ("The card number is 4111 1111 1111 1111 if you need it.", "credit_card"),
    ("I paid with card 5500-0000-0000-0004.", "credit_card"),
    ("The site blocked my IP address 203.0.113.42.", "ip_address"),
    ("Server at 2001:db8::8a2e:370:7334 is down", "ip_address"),
    ("Email me at chen.wei@example.com or call +1 (555) 014-6630.", "email, phone"),
    ("Card 4111-1111-1111-1111 was used from IP 192.0.2.15, not me.", "credit_card, ip_address"),
])
def test_pii_is_found_by_kind(text, kinds):
    failed, detail = pii(pd.Series([text]))
    assert failed.tolist() == [True] and detail.iloc[0] == f"personal data: {kinds}"


@pytest.mark.parametrize("text", [
    "Order #12917 arrived on 2024-01-15 at 10:30.",
    "The card 4111 1111 1111 1112 fails the Luhn check.",  # a typo'd number is not a card
    "A 0000 0000 0000 0000 test card.",
    "Version 1.2.3 and an @mention, price 1 000 USD.",
    "The meeting is at 12:30:45 in room 5.",
    "",
    # Numbers that are not phone numbers or IP addresses:
    "Order 123456789 arrived late", "posted at 1700000000 (unix time)", "population 1234567890",
    "seasons 2019 2020 2021 were great", "Invoice 2023-000123-45", "SKU 00012345678", "Call me about order 5550148812",
    "昨日123456789円払った", "room 12 345 678", "version 1.2.3.4 released", "see v1.2.3.4", "OID 1.2.3.4.5",
])
def test_look_alikes_are_not_pii(text):
    failed, _ = pii(pd.Series([text]))
    assert failed.tolist() == [False]


def test_luhn_is_vectorised():
    digits = pa.array(["4111111111111111", "4111111111111112", "5500000000000004", "4012888888881881",
                       "0000000000000", "79927398713"], pa.large_string())
    assert luhn_ok(digits).tolist() == [True, False, True, True, False, True]


def test_kinds_limit_what_is_looked_for():
    failed, _ = pii(pd.Series(["mail me at a@example.com", "call 555-014-3380"]), kinds=["phone"])
    assert failed.tolist() == [False, True]


def test_mask_fix_shows_before_and_after(tmp_path):
    texts = ["nothing here", "Email me at chen.wei@example.com or call +1 (555) 014-6630.",
             "Card 4111-1111-1111-1111 from 192.0.2.15 and 4111 1111 1111 1112"]
    out, ledger, _ = run_rules(make_table(texts), [{"check": "pii", "field": "text", "severity": "fix"}], tmp_path)
    fixed = ledger[ledger.action == "fixed"]
    assert fixed["id"].tolist() == ["r1", "r2"] and set(fixed["reason"]) == {"rule:pii"}
    assert fixed["old_value"].tolist() == texts[1:]
    assert fixed["new_value"].tolist() == ["Email me at [EMAIL] or call [PHONE].",
                                           "Card [CREDIT_CARD] from [IP_ADDRESS] and 4111 1111 1111 1112"]
    assert out["text"].tolist()[0] == "nothing here"


def test_a_text_holding_the_internal_marker_is_still_scanned():
    failed, _ = pii(pd.Series(["odd \x1f\ue000 text a@example.com"]))
    assert failed.tolist() == [True]
