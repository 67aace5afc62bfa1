"""Generate curator's sample datasets, with known problems planted in them.

Writes two small raw datasets that exercise every curation step, plus a ground-truth file for each
that lists what was planted, so tests can assert on it:

    text/tickets.csv      ~2,000 customer-support tickets, 5 imbalanced classes
    text/tickets.jsonl    a 300-row JSONL copy of the first CSV rows, with 3 malformed lines
    text/planted.json     the planted problems, as 1-based CSV line numbers (header = line 1)
    images/data/<label>/  ~300 shape pictures (circle, square, triangle), PNG and JPEG
    images/manifest.csv   a path,label,photographer listing of some images, with bad paths
    images/planted.json   the planted problems, as paths relative to images/

Usage:
    python sample_data/generate.py               # writes next to this script
    python sample_data/generate.py --out DIR     # writes DIR/text and DIR/images

Everything random comes from one ``numpy.random.default_rng(seed)``; no clock, no other randomness,
and no set iteration, so two runs write byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import shutil
import unicodedata
from array import array
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SEED = 20240611
HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------------------------------
# Text: sizes and proportions
# --------------------------------------------------------------------------------------------------
CLASS_WEIGHTS = {
    "billing": 0.40,
    "shipping": 0.25,
    "account": 0.18,
    "product_defect": 0.12,
    "praise": 0.05,
}
N_CLEAN_TICKETS = 1775  # clean rows; planted rows come on top, for about 2,000 in all
N_USERS = 300
CHANNELS = ("email", "chat", "phone", "web")
CHANNEL_WEIGHTS = (0.35, 0.30, 0.15, 0.20)
P_MISSING_USER = 0.03
P_MISSING_CHANNEL = 0.04
P_AMBIGUOUS = 0.10  # share of tickets whose core sentence fits two classes
# Similarity is Jaccard over character 5-grams ("char5") and over word 3-grams ("word3") of the
# canonical text. No two clean rows reach these similarities.
MAX_CLEAN_SIMILARITY = {"char5": 0.5, "word3": 0.4}

# Exact duplicate copies, by how they differ from the original.
# NFD copies need an original with accents, so they are listed (and drawn) first.
EXACT_VARIANTS = {"nfd": 8, "bytes": 8, "case": 9, "whitespace": 9, "case_whitespace": 6}
N_EXACT_TRIPLES = 8  # this many of the groups get a second copy (a byte-identical one)
N_NEAR_DUPLICATES = 60
N_LABEL_CONFLICT_GROUPS = 12
N_LABEL_CONFLICT_TRIPLES = 2  # groups with two conflicting copies
N_HTML_GENERATED = 13  # plus the two hand-written script/img rows
N_PII = 20
N_MISSING_LABEL = 8

# Where the malformed raw lines go, as 0-based positions among the data lines.
MALFORMED_POSITIONS = (97, 523, 1011, 1498, 1877)
MALFORMED_LINES = (
    # Too many fields: an unquoted comma inside the text.
    "The courier left it at the wrong house, again,shipping,u0113,phone",
    "I cannot log in, the reset link expired, please help,account,u0077,web",
    "Charged twice for one order,billing,u0200,email,urgent",
    # Too few fields.
    "package never showed up,shipping",
    "screen flickers constantly on the new monitor",
)
N_JSONL_ROWS = 300
JSONL_MALFORMED_POSITIONS = (41, 150, 262)  # 0-based line positions in the JSONL file
JSONL_MALFORMED_LINES = (
    b'{"channel": "email", "label": "billing", "text": "I was charged tw',
    b'"just a bare string, not an object"',
    b'{"channel": "web", "label": "billing", "text": "bad bytes \xff\xfe here", "user_id": "u0001"}',
)

# --------------------------------------------------------------------------------------------------
# Text: vocabulary and templates
# --------------------------------------------------------------------------------------------------
# Products, each with the kind of defect it can have.
PRODUCTS = {
    "wireless headphones": "electric", "espresso machine": "electric", "air fryer": "electric",
    "smart watch": "electric", "robot vacuum": "electric", "Café Noir grinder": "electric",
    "bluetooth speaker": "electric", "electric kettle": "electric", "gaming mouse": "electric",
    "mechanical keyboard": "electric", "baby monitor": "electric", "hair dryer": "electric",
    "desk lamp": "electric", "blender": "electric", "rice cooker": "electric",
    "Zürich cuckoo clock": "electric", "phone case": "other", "hiking backpack": "other",
    "yoga mat": "other", "running shoes": "other", "winter jacket": "other", "office chair": "other",
    "camping tent": "other", "standing desk": "other", "crème brûlée torch": "other",
}
DEFECTS = {
    "electric": ("stopped working after a week", "makes a loud grinding noise", "will not turn on",
                 "overheats after a few minutes", "drains its battery in an hour", "keeps disconnecting",
                 "smells like burning plastic", "shows an error light", "rattles when I move it"),
    "other": ("has a broken zipper", "has a tear along the seam", "lost a button on day one",
              "started falling apart after a week", "has a wobbly leg", "faded after one wash",
              "has a crack down the side", "rattles when I move it", "smells strongly of chemicals"),
}
CARRIERS = ("UPS", "FedEx", "DHL", "USPS", "the courier", "Royal Mail", "DPD")
CITIES = ("São Paulo", "Montréal", "Zürich", "Köln", "Austin", "Leeds", "Lyon", "Denver", "Porto",
          "Malmö", "Seattle", "Dublin")
PLANS = ("Premium", "Basic", "Family", "Pro", "Student")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
FEATURES = ("two-factor login", "password reset page", "email change form", "profile page",
            "login page", "saved cards page", "order history page", "mobile app")
NAMES = ("José", "Zoë", "Renée", "François", "Priya", "Tom", "Aisha", "Chen", "Olga", "Björn",
         "Chloé", "Mateo", "Sam", "Noémie", "Liam", "Fatima")
CURRENCIES = ("$", "$", "$", "£", "€")

CORE = {
    "billing": (
        "I was charged twice for order {order} and only placed it once.",
        "My card was billed {amount} but the invoice says something different.",
        "Why did my {plan} subscription renew without any notice? I want a refund of {amount}.",
        "There is an unknown charge of {amount} on my statement from {month}.",
        "I cancelled my {plan} plan in {month} but you still took {amount} from my account.",
        "The promo code was not applied at checkout so I paid {amount} instead of the sale price.",
        "Can you send me a corrected invoice for order {order}? The VAT number is missing.",
        "My refund for order {order} has not shown up on my card after {days} days.",
        "I was overcharged on my last bill, it should have been much lower than {amount}.",
        "Please explain the extra fee of {amount} added to my {month} invoice.",
        "The payment failed but the money still left my bank account.",
        "I'd like to switch from monthly to yearly billing on the {plan} plan.",
        'How do I update the card on file before the next "{plan}" payment?',
    ),
    "shipping": (
        "My package for order {order} has been stuck in {city} for {days} days.",
        "{carrier} says it was delivered but nothing arrived at my door.",
        "The tracking page for order {order} has not updated since {month}.",
        "Can I change the delivery address for order {order}? I am moving next week.",
        "The {product} was supposed to arrive in {days} days and it is still not here.",
        "Do you ship to {city}? The checkout page will not accept my address.",
        "{carrier} left my parcel with a neighbour I do not know.",
        "Only half of order {order} arrived, the {product} is missing from the box.",
        "How long does express delivery take to {city}?",
        "The courier keeps rescheduling my delivery, this is the third time.",
        "My parcel was sent back to the warehouse without any delivery attempt.",
        "Is it possible to pick up order {order} from a local depot in {city} instead?",
    ),
    "account": (
        "I cannot log in to my account, the password reset email never arrives.",
        "Please delete my account and all of my data.",
        "The {feature} is not working, I keep getting an error.",
        "Someone changed the email address on my account without my permission.",
        "How do I merge my two accounts into one?",
        "My account was locked after too many login attempts.",
        "I want to change the name on my profile, I got married in {month}.",
        "The verification code never arrives when I use the {feature}.",
        "I signed up with the wrong email, can you update it?",
        "Why was my account suspended? I did not break any rules.",
        "I am not getting the newsletter even though I subscribed in {month}.",
        "Where do I find the {feature} in my account settings?",
    ),
    "product_defect": (
        "The {product} {defect}.",
        "My new {product} {defect}, I have only had it for {days} days.",
        "The {product} I received is damaged and {defect}.",
        "After the last firmware update the {product} {defect}.",
        "I would like a replacement, the {product} {defect}.",
        "Is there a known problem with the {product}? Mine {defect}.",
        "The {product} looked fine out of the box but it {defect}.",
        "Quality is poor, the {product} {defect} and the finish is peeling.",
        "The replacement {product} has the same issue, it {defect}.",
    ),
    "praise": (
        "Just wanted to say thank you, {name} on the chat was amazing.",
        "Great service, my {product} arrived a day early!",
        "I love the {product}, best purchase I have made this year.",
        "Thanks to {name} for sorting out my problem so quickly.",
        "Your support team is fantastic, keep up the good work.",
        "Five stars, the {product} works perfectly and looks great.",
        "Really impressed with how fast you handled my request.",
        "The new {feature} is so much easier to use, well done.",
        "{name} went above and beyond to help me today.",
    ),
}
# Core sentences that honestly fit two classes: what makes the labels hard, and label conflicts.
AMBIGUOUS = (
    ("I want my money back because the {product} {defect}.", ("billing", "product_defect")),
    ("The {product} arrived broken and I was still charged {amount}.", ("product_defect", "billing")),
    ("I paid {amount} for express shipping but order {order} came a week late.", ("billing", "shipping")),
    ("I cannot log in to see my invoice for order {order}.", ("account", "billing")),
    ("The box was crushed in transit and the {product} inside {defect}.", ("shipping", "product_defect")),
    ("Thanks for the fast delivery, but the {product} {defect}.", ("praise", "product_defect")),
    ("My account shows order {order} as delivered but I never got it.", ("shipping", "account")),
    ("I was charged {amount} after I deleted my account.", ("billing", "account")),
    ("Thank you for refunding the {amount} so quickly.", ("praise", "billing")),
)
# Follow-up sentences: a ticket has 0-2 of them, which is most of what keeps tickets apart.
EXTRA = {
    "billing": (
        "I have attached a screenshot of my bank statement.", "This is the second month in a row.",
        "I never authorised this payment.", "Please refund the difference to my original card.",
        "My bank says the charge came from you.", "I only have one active subscription.",
        "The receipt in my inbox shows a different total.", "I am on a tight budget this month.",
        "My partner uses the same card, so please check both orders.",
        "The price on your website was lower when I ordered.", "I would like this sorted before {month}.",
        "Your billing page just shows a spinning wheel.", "I paid by PayPal, not by card.",
        "Can you confirm the refund in writing?",
    ),
    "shipping": (
        "I have been home all day waiting.", "The tracking number does not work on the {carrier} site.",
        "It was meant to be a birthday present.", "Nobody from {carrier} has contacted me.",
        "My neighbours did not receive anything either.", "I paid for next day delivery.",
        "The last update says it is at a sorting centre.", "There was no card through the door.",
        "I live in a flat with a shared entrance, maybe that is the problem.",
        "Other orders from you always came on time.", "I will be away from {month} for two weeks.",
        "The estimated date has changed three times now.", "Please do not send it with {carrier} again.",
    ),
    "account": (
        "I have tried three different browsers.", "I already cleared my cookies and cache.",
        "This is blocking me from placing orders.", "I need access today for work.",
        "The app on my phone has the same problem.", "I still remember my security answers.",
        "I changed my phone number last {month}.", "The error message just says something went wrong.",
        "I am worried someone else has my password.", "I have had this account for years.",
        "My husband can log in fine from the same laptop.", "Support chat keeps sending me in circles.",
    ),
    "product_defect": (
        "I have followed the manual exactly.", "I bought it in {month}.",
        "It is still under warranty.", "I have photos if you need them.",
        "The first one worked fine for a while.", "I only used it {days} times.",
        "I tried a different socket and a different room.", "It was a gift for my mother.",
        "I kept all the original packaging.", "The reviews said it would last for years.",
        "Resetting it to factory settings did not help.", "Is it safe to keep using it?",
    ),
    "praise": (
        "I will definitely order again.", "I have already recommended you to my friends.",
        "Honestly the best support I have dealt with.", "Keep it up!", "You made my day.",
        "I was expecting a long wait but it took minutes.", "Please pass this on to the team.",
        "It is rare to get such friendly service these days.", "My whole family loves it.",
        "The packaging was lovely too.", "I have been a customer since {month} and never had an issue.",
    ),
}
OPENERS = ("Hi!", "Hello.", "Hi there!", "Hello team.", "Good morning.", "Hey.", "Dear support,",
           "Quick question:", "Urgent:", "Hi, this is {name}.", "Hello, {name} here.")
CLOSERS = ("Thanks.", "Thank you!", "Please advise.", "Can someone help?", "Please help.",
           "Regards, {name}", "Thanks in advance, {name}", "Waiting for your reply.",
           "This is the second time I am writing.", "Order reference {order}.", "Cheers.",
           "I appreciate it.")

# Near-duplicate edits: swap a word for a synonym, insert a filler word, delete a word, or change
# the final punctuation. A planted pair keeps at least these similarities, well clear of
# MAX_CLEAN_SIMILARITY, so any sensible near-duplicate threshold finds exactly the planted pairs.
NEAR_MIN_SIMILARITY = {"char5": 0.8, "word3": 0.65}
SYNONYMS = {"package": "parcel", "parcel": "package", "please": "kindly", "cannot": "can't",
            "amazing": "brilliant", "great": "excellent", "help": "assist", "arrived": "came",
            "broken": "damaged", "damaged": "broken", "account": "profile", "quickly": "fast",
            "charged": "billed", "billed": "charged", "refund": "reimbursement", "delivery": "shipment",
            "received": "got", "error": "problem", "problem": "issue", "wrong": "incorrect",
            "different": "another", "fantastic": "wonderful", "new": "brand-new", "thanks": "thank you",
            "hello": "hi", "hi": "hello", "invoice": "bill", "missing": "gone", "want": "would like"}
FILLERS = ("really", "now", "again", "today", "honestly", "also", "just", "still", "already")

# --------------------------------------------------------------------------------------------------
# Text: hand-written planted rows
# --------------------------------------------------------------------------------------------------
EMPTY_TEXTS = ("", "", "", " ", "   ", "\t", " \t ", "\u00a0", "  \u00a0 ", "", " ", "\t\t", "    ",
               "", " \u3000 ")
TOO_SHORT = (
    ("help", "account"), ("ok thanks", "praise"), ("refund?", "billing"), ("hello", "billing"),
    ("urgent!!", "shipping"), ("thx", "praise"), ("cancel pls", "billing"), ("broken", "product_defect"),
    ("still waiting", "shipping"), ("no", "billing"), ("why?", "account"), ("test", "account"),
    ("asap", "shipping"), ("hi there", "praise"), ("login issue", "account"),
)
HTML_HANDWRITTEN = (
    ("<script>alert(1)</script> my card was charged twice", "billing"),
    ("<img src=x onerror=alert(1)> the tracking link in your email is broken", "shipping"),
)
HTML_WRAPPERS = (
    "<p>{0}</p>", "{0}<br/>", "<b>Urgent</b> {0}", '<div class="msg">{0}</div>',
    "<p>{0}</p><p>&nbsp;</p>", "{0} &amp; thanks", "<span style=\"color:red\">{0}</span>",
    "Re: ticket<br/><br/>{0}", "<p>{0}<br></p>", "{0} Terms &amp; Conditions apply.",
    "&lt;no subject&gt; {0}", "<i>{0}</i>", "<html><body>{0}</body></html>",
)
# Sentences with typographic characters; planted as UTF-8 bytes misread as cp1252.
MOJIBAKE_SOURCES = (
    ("I’m still waiting for my refund of €49.99 – please check.", "billing"),
    ("The café grinder I ordered doesn’t turn on at all.", "product_defect"),
    ("Why can’t I log in? It says ‘invalid password’ every time.", "account"),
    ("My parcel to Zürich hasn’t moved in two weeks.", "shipping"),
    ("Thanks Noémie, you’re a star – problem solved!", "praise"),
    ("You charged me €120 for a plan I didn’t choose.", "billing"),
    ("The crème brûlée torch leaks gas – it’s dangerous.", "product_defect"),
    ("I’d like to close my account, the résumé upload never works.", "account"),
    ("Delivery to Malmö was promised for Monday – it’s Friday now.", "shipping"),
    ("There’s a €15 fee on my invoice I don’t understand.", "billing"),
    ("The piñata kit arrived with half the pieces missing – can’t use it.", "shipping"),
    ("My naïve question: where’s the invoice for order 55121?", "billing"),
    ("The São Paulo depot says they’ve never seen my package.", "shipping"),
    ("The headphones’ left ear cup doesn’t work – only static.", "product_defect"),
    ("Björn’s help was great, I’m really happy now.", "praise"),
)
PII_SNIPPETS = (
    ("You can reach me at jane.doe@example.com.", ("email",)),
    ("My login email is mark_92@example.org if that helps.", ("email",)),
    ("Please reply to s.kowalski+orders@example.net instead.", ("email",)),
    ("Send the invoice to accounts@example.co.uk please.", ("email",)),
    ("My old address was olga.petrova@example.com.", ("email",)),
    ("Contact: LIAM.OBRIEN@EXAMPLE.COM", ("email",)),
    ("Call me on (555) 014-2273 any time.", ("phone",)),
    ("My number is +1 555 014 9921.", ("phone",)),
    ("Text me at 555-014-3380.", ("phone",)),
    ("Phone: 555.014.7765", ("phone",)),
    ("Ring the London office on +44 20 7946 0958.", ("phone",)),
    ("My mobile is 07700 900461.", ("phone",)),
    ("You can call 5550148812 after six.", ("phone",)),
    ("The card number is 4111 1111 1111 1111 if you need it.", ("credit_card",)),
    ("I paid with card 5500-0000-0000-0004.", ("credit_card",)),
    ("Card 4012888888881881, expiry 09/27.", ("credit_card",)),
    ("The site blocked my IP address 203.0.113.42.", ("ip_address",)),
    ("I keep getting banned from 198.51.100.7 for no reason.", ("ip_address",)),
    ("Email me at chen.wei@example.com or call +1 (555) 014-6630.", ("email", "phone")),
    ("Card 4111-1111-1111-1111 was used from IP 192.0.2.15, not me.", ("credit_card", "ip_address")),
)
CARD_RE = r"\d(?:[ -]?\d){12,18}"
UNKNOWN_LABELS = (
    ("Billing ", "billing"), ("biling", "billing"), ("shiping", "shipping"), ("Praise", "praise"),
    ("other", "account"), ("BILLING", "billing"), ("acount", "account"), ("Shipping", "shipping"),
    ("product defect", "product_defect"), ("prodcut_defect", "product_defect"),
)
NON_LATIN = (
    ("我的信用卡被扣了两次款，请帮我退款。", "billing"),
    ("注文した商品がまだ届いていません。追跡番号を教えてください。", "shipping"),
    ("Не могу войти в свой аккаунт, пароль не подходит.", "account"),
    ("Спасибо большое, отличный сервис!", "praise"),
    ("وصل المنتج مكسورًا ولا يعمل", "product_defect"),
    ("결제가 두 번 되었습니다. 환불 부탁드립니다.", "billing"),
)

# --------------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------------
IMAGE_CLASSES = {"circle": 120, "square": 90, "triangle": 70}
IMAGE_PREFIX = {"circle": "c", "square": "s", "triangle": "t"}
IMAGE_SIDE = (64, 96)  # inclusive range of width and height
P_JPEG = 0.5
JPEG_QUALITY = 90
PNG_LEVEL = 6
NOISE_SIGMA = 1.5
N_IMAGE_EXACT_BYTES = 5  # byte-identical copies
N_IMAGE_EXACT_RESAVED = 5  # re-saved as PNG at another compression level: same pixels, new bytes
N_IMAGE_NEAR_RESIZED = 6
N_IMAGE_NEAR_LOWQ = 4
# Clean images are kept apart: every pair differs in at least this many of the 64 pHash bits
# (imagehash.phash's algorithm). Planted near duplicates differ in far fewer.
MIN_PHASH_DISTANCE = 16
MAX_NEAR_PHASH_DISTANCE = 6  # the most a planted near duplicate differs from its original
N_MANIFEST_IMAGES = 37
MANIFEST_BAD_PATHS = {"path_escape": "../../etc/passwd", "absolute": "/etc/hosts",
                      "missing": "data/circle/c999.png"}
MANIFEST_BAD_ROWS = (5, 18, 30)  # 0-based data-row positions of the bad paths
PHOTOGRAPHERS = ("Ana Lima", "Kenji Sato", "Olu Adeyemi", "Marta Nowak", "Zoë Dubois", "")


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------
def pick(rng: np.random.Generator, seq):
    """One element of ``seq``, drawn with ``rng``."""
    return seq[int(rng.integers(len(seq)))]


def canonical(text: str) -> str:
    """The text as exact dedup sees it: NFC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def shingles(text: str, kind: str) -> list[str]:
    """The distinct ``char5`` or ``word3`` shingles of the canonical text, sorted (no hash order)."""
    if kind == "char5":
        t = canonical(text)
        return sorted({t[i:i + 5] for i in range(max(1, len(t) - 4))})
    words = canonical(text).split(" ")
    return sorted({" ".join(words[i:i + 3]) for i in range(max(1, len(words) - 2))})


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False) + "\n",
                    encoding="utf-8", newline="\n")


# --------------------------------------------------------------------------------------------------
# Text dataset
# --------------------------------------------------------------------------------------------------
class TicketPool:
    """Accepts only tickets that are neither exact nor near duplicates of those already accepted.

    Near means reaching ``max_similarity`` in either measure. Similarities to every accepted ticket
    come from an inverted index from each shingle to the tickets that hold it.
    """

    def __init__(self, max_similarity: dict[str, float] = MAX_CLEAN_SIMILARITY):
        self.max_similarity = max_similarity
        self._keys: set[str] = set()  # membership only, never iterated
        self._postings: dict[str, dict[str, array]] = {kind: {} for kind in max_similarity}
        self._sizes: dict[str, array] = {kind: array("i") for kind in max_similarity}

    def similarities(self, text: str) -> dict[str, np.ndarray]:
        """Per measure, the similarity of ``text`` to each accepted ticket, in acceptance order."""
        out = {}
        for kind, postings in self._postings.items():
            grams = shingles(text, kind)
            hits = [np.frombuffer(postings[g], dtype=np.int32) for g in grams if g in postings]
            sizes = np.frombuffer(self._sizes[kind], dtype=np.int32)
            overlap = np.bincount(np.concatenate(hits or [np.zeros(0, np.int32)]), minlength=len(sizes))
            out[kind] = overlap / (sizes + len(grams) - overlap)
        return out  # the frombuffer views die here, so the arrays may grow again

    def add(self, text: str) -> bool:
        key = "".join(ch for ch in canonical(text) if ch.isalnum())
        if key in self._keys:
            return False
        sims = self.similarities(text)
        if any(sims[kind].max(initial=0) >= cap for kind, cap in self.max_similarity.items()):
            return False
        for kind, postings in self._postings.items():
            grams = shingles(text, kind)
            for g in grams:
                postings.setdefault(g, array("i")).append(len(self._sizes[kind]))
            self._sizes[kind].append(len(grams))
        self._keys.add(key)
        return True


def make_ticket(rng: np.random.Generator, label: str, long: bool = False,
                aside: str | None = None) -> tuple[str, str | None]:
    """A ticket for ``label``, and the other class it could pass for when its core is ambiguous.

    ``long`` gives it every part (opener, core, two follow-ups, closer); ``aside`` is a sentence put
    before the closer.
    """
    product = pick(rng, list(PRODUCTS))
    slots = {
        "product": product, "defect": pick(rng, DEFECTS[PRODUCTS[product]]), "carrier": pick(rng, CARRIERS),
        "city": pick(rng, CITIES), "plan": pick(rng, PLANS), "month": pick(rng, MONTHS),
        "feature": pick(rng, FEATURES), "name": pick(rng, NAMES), "days": int(rng.integers(2, 22)),
        "order": f"#{int(rng.integers(10000, 100000))}",
        "amount": f"{pick(rng, CURRENCIES)}{int(rng.integers(5, 400))}.{pick(rng, ('00', '49', '95', '99'))}",
    }
    alt = None
    ambiguous = [(t, c) for t, c in AMBIGUOUS if label in c]
    if ambiguous and rng.random() < P_AMBIGUOUS:
        core, classes = pick(rng, ambiguous)
        alt = classes[1] if classes[0] == label else classes[0]
    else:
        core = pick(rng, CORE[label])
    parts = [core]
    if long or rng.random() < 0.5:
        parts.insert(0, pick(rng, OPENERS))
    n_extra = 2 if long else int(rng.choice(3, p=(0.3, 0.5, 0.2)))
    extras = EXTRA[label]
    parts += [extras[int(i)] for i in rng.choice(len(extras), size=n_extra, replace=False)]
    if aside:
        parts.append(aside.replace("{", "{{").replace("}", "}}"))
    if long or rng.random() < 0.6:
        parts.append(pick(rng, CLOSERS))
    text = " ".join(parts).format(**slots)
    style = rng.random()
    if style < 0.08:
        text = text.lower()
    elif style < 0.13:
        text = text.rstrip(".!")
    return text, alt


def exact_variant(rng: np.random.Generator, text: str, kind: str) -> str:
    """A copy of ``text`` that is equal to it once case, whitespace and unicode form are normalised."""
    if kind == "bytes":
        return text
    if kind == "nfd":
        out = unicodedata.normalize("NFD", text)
        assert out != text, "an NFD variant needs a text with composed characters"
        return out
    out = text
    if kind in ("case", "case_whitespace"):
        out = pick(rng, (str.upper, str.lower, str.title))(out)
        if out == text:
            out = text.upper()
    if kind in ("whitespace", "case_whitespace"):
        words = out.split(" ")
        i = int(rng.integers(1, len(words)))
        words[i] = pick(rng, ("  ", "\t", "   ")) + words[i]
        out = pick(rng, ("", " ", "  ")) + " ".join(words) + pick(rng, (" ", "  ", "\t"))
    assert out != text and canonical(out) == canonical(text)
    return out


def near_variant(rng: np.random.Generator, text: str) -> tuple[str, str]:
    """A copy of ``text`` with 1-3 word or punctuation edits, and the names of the edits."""
    words = text.split()
    edits = []
    for _ in range(int(rng.integers(1, 4))):
        op = pick(rng, ("substitute", "substitute", "insert", "delete", "punctuation"))
        swappable = [i for i, w in enumerate(words) if w.strip(".,!?:").lower() in SYNONYMS]
        if op == "substitute" and swappable:
            i = pick(rng, swappable)
            core = words[i].strip(".,!?:")
            new = SYNONYMS[core.lower()]
            words[i] = words[i].replace(core, new.capitalize() if core[0].isupper() else new)
        elif op == "delete" and len(words) > 8:
            del words[int(rng.integers(len(words)))]
        elif op == "punctuation":
            stem = words[-1].rstrip(".!?")
            end = words[-1][len(stem):]
            words[-1] = stem + pick(rng, [p for p in ("!", "?", "...", "", ".") if p != end])
        else:
            op = "insert"
            words.insert(int(rng.integers(1, len(words))), pick(rng, FILLERS))
        edits.append(op)
    out = " ".join(words)
    if canonical(out) == canonical(text):  # the edits cancelled out: force one real change
        out = f"{out} {pick(rng, FILLERS)}"
        edits.append("insert")
    return out, "+".join(edits)


def similarity(a: str, b: str) -> dict[str, float]:
    """Both similarity measures between two texts."""
    out = {}
    for kind in MAX_CLEAN_SIMILARITY:
        sa, sb = set(shingles(a, kind)), set(shingles(b, kind))
        out[kind] = len(sa & sb) / len(sa | sb)
    return out


def to_mojibake(text: str) -> str:
    """UTF-8 bytes read back as cp1252: the classic "Iâ€™m" damage."""
    return text.encode("utf-8").decode("cp1252")


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def build_tickets(rng: np.random.Generator) -> tuple[list[dict], dict]:
    """Clean tickets plus planted rows, as records, and the planted groups as record keys."""
    labels = list(CLASS_WEIGHTS)
    weights = np.array(list(CLASS_WEIGHTS.values()))
    user_weights = rng.gamma(0.8, size=N_USERS)
    user_weights /= user_weights.sum()
    records: list[dict] = []
    alt_labels: dict[int, str] = {}

    def add(text: str, label: str, user: str | None = None) -> int:
        if user is None:
            user = f"u{int(rng.choice(N_USERS, p=user_weights)):04d}"
        channel = CHANNELS[int(rng.choice(len(CHANNELS), p=CHANNEL_WEIGHTS))]
        if rng.random() < P_MISSING_USER:
            user = ""
        if rng.random() < P_MISSING_CHANNEL:
            channel = ""
        records.append({"key": len(records), "text": text, "label": label, "user_id": user,
                        "channel": channel})
        return len(records) - 1

    pool = TicketPool()

    def fresh(label: str, long: bool = False, aside: str | None = None) -> tuple[str, str | None]:
        for _ in range(10_000):
            text, alt = make_ticket(rng, label, long, aside)
            if pool.add(text):
                return text, alt
        raise RuntimeError(f"the {label} templates ran out of distinct tickets; add vocabulary")

    def draw_label() -> str:
        return labels[int(rng.choice(len(labels), p=weights))]

    # Clean rows. A third of them are long, so near-duplicate edits leave them clearly similar.
    for i in range(N_CLEAN_TICKETS):
        label = draw_label()
        text, alt = fresh(label, long=i % 3 == 0)
        key = add(text, label)
        if alt:
            alt_labels[key] = alt
    clean = list(range(N_CLEAN_TICKETS))
    used: set[int] = set()  # membership only

    def take(candidates: list[int], n: int) -> list[int]:
        free = [k for k in candidates if k not in used]
        chosen = [free[int(i)] for i in sorted(rng.choice(len(free), size=n, replace=False))]
        used.update(chosen)
        return chosen

    planted: dict = {"exact_duplicate_groups": [], "label_conflict_groups": [],
                     "near_duplicate_pairs": [], "near_duplicate_edits": [], "pii_by_kind": {},
                     "unknown_label_intended": {}}

    # Label conflicts first: ambiguous originals, copied with the other plausible label.
    for n, key in enumerate(take(sorted(alt_labels), N_LABEL_CONFLICT_GROUPS)):
        rec = records[key]
        group = [key, add(exact_variant(rng, rec["text"], pick(rng, ("bytes", "case", "whitespace"))),
                          alt_labels[key], rec["user_id"] or None)]
        if n < N_LABEL_CONFLICT_TRIPLES:
            third = pick(rng, [x for x in labels if x not in (rec["label"], alt_labels[key])])
            group.append(add(rec["text"], third))
        planted["label_conflict_groups"].append(group)
        planted["exact_duplicate_groups"].append(group)

    # Exact duplicates with the same label.
    accented = [k for k in clean if unicodedata.normalize("NFD", records[k]["text"]) != records[k]["text"]]
    n_groups = sum(EXACT_VARIANTS.values())
    originals = take(accented, EXACT_VARIANTS["nfd"])
    originals += take(clean, n_groups - len(originals))
    kinds = [kind for kind, n in EXACT_VARIANTS.items() for _ in range(n)]
    for n, (key, kind) in enumerate(zip(originals, kinds)):
        rec = records[key]
        same_user = rec["user_id"] if rng.random() < 0.7 and rec["user_id"] else None
        group = [key, add(exact_variant(rng, rec["text"], kind), rec["label"], same_user)]
        if n % (n_groups // N_EXACT_TRIPLES) == 0:
            group.append(add(rec["text"], rec["label"]))
        planted["exact_duplicate_groups"].append(group)

    # Near duplicates, each from its own long original.
    long_clean = [k for k in clean if k % 3 == 0]
    for key in take(long_clean, N_NEAR_DUPLICATES):
        rec = records[key]
        for _ in range(100):
            text, edits = near_variant(rng, rec["text"])
            # Close to its original, and no closer to any other ticket than clean ones are apart
            # (the original is the most similar accepted ticket, so look at the runner-up).
            to_original = similarity(text, rec["text"])
            to_others = {kind: np.sort(sims)[-2] for kind, sims in pool.similarities(text).items()}
            if all(to_original[k] >= NEAR_MIN_SIMILARITY[k] and to_others[k] < MAX_CLEAN_SIMILARITY[k]
                   for k in MAX_CLEAN_SIMILARITY):
                break
        else:
            raise RuntimeError(f"no near duplicate of {rec['text']!r} is similar enough")
        planted["near_duplicate_pairs"].append([key, add(text, rec["label"], rec["user_id"] or None)])
        planted["near_duplicate_edits"].append(edits)

    # Bad rows.
    planted["empty"] = [add(text, draw_label()) for text in EMPTY_TEXTS]
    planted["too_short"] = [add(text, label) for text, label in TOO_SHORT]
    html = [add(text, label) for text, label in HTML_HANDWRITTEN]
    for wrapper in HTML_WRAPPERS[:N_HTML_GENERATED]:
        label = draw_label()
        html.append(add(wrapper.format(fresh(label)[0]), label))
    planted["html"] = html
    mojibake = []
    for text, label in MOJIBAKE_SOURCES:
        assert pool.add(text), text
        mojibake.append(add(to_mojibake(text), label))
    planted["mojibake"] = mojibake
    pii = []
    for snippet, pii_kinds in PII_SNIPPETS[:N_PII]:
        label = draw_label()
        key = add(fresh(label, aside=snippet)[0], label)
        pii.append(key)
        for kind in pii_kinds:
            planted["pii_by_kind"].setdefault(kind, []).append(key)
    planted["pii"] = pii
    unknown = []
    for bad_label, intended in UNKNOWN_LABELS:
        key = add(fresh(intended)[0], bad_label)
        unknown.append(key)
        planted["unknown_label_intended"][key] = intended
    planted["unknown_label"] = unknown
    planted["missing_label"] = [add(fresh(draw_label())[0], "") for _ in range(N_MISSING_LABEL)]
    planted["non_latin"] = [add(text, label) for text, label in NON_LATIN]
    return records, planted


def write_tickets_csv(records: list[dict], path: Path) -> list[dict | str]:
    """Write header + rows with the malformed lines spliced in; return the data lines in order."""
    lines: list[dict | str] = list(records)
    for pos, raw in zip(MALFORMED_POSITIONS, MALFORMED_LINES):
        lines.insert(pos, raw)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["text", "label", "user_id", "channel"])
    for line in lines:
        if isinstance(line, str):
            buf.write(line + "\n")
        else:
            writer.writerow([line["text"], line["label"], line["user_id"], line["channel"]])
    path.write_bytes(buf.getvalue().encode("utf-8"))
    return lines


def check_tickets_csv(path: Path, lines: list[dict | str]) -> None:
    """Re-read the CSV: every data line is where its 1-based line number (index + 2) says."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["text", "label", "user_id", "channel"]
        for i, (row, expected) in enumerate(zip(reader, lines, strict=True)):
            assert reader.line_num == i + 2, (reader.line_num, i)
            if isinstance(expected, str):
                assert len(row) != 4, row
            else:
                assert row == [expected[c] for c in ("text", "label", "user_id", "channel")], row


def write_tickets_jsonl(lines: list[dict | str], path: Path) -> list[int]:
    """The first data rows of the CSV as JSONL, with malformed lines spliced in; their line numbers."""
    rows = [r for r in lines if isinstance(r, dict)][:N_JSONL_ROWS]
    out = [json.dumps({"text": r["text"], "label": r["label"] or None, "user_id": r["user_id"] or None,
                       "channel": r["channel"] or None}, sort_keys=True, ensure_ascii=False).encode("utf-8")
           for r in rows]
    for pos, raw in zip(JSONL_MALFORMED_POSITIONS, JSONL_MALFORMED_LINES):
        out.insert(pos, raw)
    path.write_bytes(b"\n".join(out) + b"\n")
    return [pos + 1 for pos in JSONL_MALFORMED_POSITIONS]


def generate_text(rng: np.random.Generator, out: Path) -> dict:
    """Write text/tickets.csv, text/tickets.jsonl and text/planted.json under ``out``."""
    cards = [c for s, kinds in PII_SNIPPETS if "credit_card" in kinds for c in re.findall(CARD_RE, s)]
    assert cards and all(luhn_ok(c) for c in cards), cards
    out.mkdir(parents=True, exist_ok=True)
    records, planted = build_tickets(rng)
    shuffled = [records[int(i)] for i in rng.permutation(len(records))]
    lines = write_tickets_csv(shuffled, out / "tickets.csv")
    check_tickets_csv(out / "tickets.csv", lines)
    jsonl_malformed = write_tickets_jsonl(lines, out / "tickets.jsonl")
    line_of = {line["key"]: n + 2 for n, line in enumerate(lines) if isinstance(line, dict)}

    def lines_of(keys: list[int]) -> list[int]:
        return sorted(line_of[k] for k in keys)

    truth = {
        "exact_duplicate_groups": sorted(lines_of(g) for g in planted["exact_duplicate_groups"]),
        "label_conflict_groups": sorted(lines_of(g) for g in planted["label_conflict_groups"]),
        # [original, variant]; the edits say what changed.
        "near_duplicate_pairs": [[line_of[a], line_of[b]] for a, b in planted["near_duplicate_pairs"]],
        "near_duplicate_edits": planted["near_duplicate_edits"],
        "pii_by_kind": {kind: lines_of(keys) for kind, keys in planted["pii_by_kind"].items()},
        "unknown_label_intended": {str(line_of[k]): v for k, v in planted["unknown_label_intended"].items()},
        "malformed_lines": [pos + 2 for pos in MALFORMED_POSITIONS],
        "jsonl_malformed_lines": jsonl_malformed,
        "jsonl_rows": N_JSONL_ROWS,
        "rows": len(records),
        "label_counts": {label: sum(r["label"] == label for r in records)
                         for label in sorted({r["label"] for r in records})},
    }
    order = sorted(range(len(truth["near_duplicate_pairs"])), key=lambda i: truth["near_duplicate_pairs"][i])
    truth["near_duplicate_pairs"] = [truth["near_duplicate_pairs"][i] for i in order]
    truth["near_duplicate_edits"] = [truth["near_duplicate_edits"][i] for i in order]
    for name in ("empty", "too_short", "html", "mojibake", "pii", "unknown_label", "missing_label",
                 "non_latin"):
        truth[name] = lines_of(planted[name])
    write_json(out / "planted.json", truth)
    return truth


# --------------------------------------------------------------------------------------------------
# Image dataset
# --------------------------------------------------------------------------------------------------
def draw_shape(rng: np.random.Generator, label: str, size: tuple[int, int] | None = None) -> Image.Image:
    """A filled circle, square or triangle on a noisy two-colour gradient."""
    if size is None:
        size = (int(rng.integers(IMAGE_SIDE[0], IMAGE_SIDE[1] + 1)),
                int(rng.integers(IMAGE_SIDE[0], IMAGE_SIDE[1] + 1)))
    w, h = size
    bg = rng.integers(0, 256, 3)
    bg_end = np.clip(bg + rng.integers(-40, 41, 3), 0, 255)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    ramp = xx * np.cos(angle) + yy * np.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0)
    pixels = bg[None, None, :] * (1 - ramp[..., None]) + bg_end[None, None, :] * ramp[..., None]
    img = Image.fromarray(pixels.round().astype(np.uint8))

    fg = rng.integers(0, 256, 3)
    while np.linalg.norm(fg - bg) < 150:
        fg = rng.integers(0, 256, 3)
    radius = rng.uniform(0.22, 0.42) * min(w, h)  # circumradius
    # The centre keeps the shape inside the picture (or sits mid-picture when it can't).
    cx = rng.uniform(min(radius + 1, w / 2), max(w - radius - 1, w / 2))
    cy = rng.uniform(min(radius + 1, h / 2), max(h - radius - 1, h / 2))
    draw = ImageDraw.Draw(img)
    colour = tuple(int(c) for c in fg)
    if label == "circle":
        r = radius * 0.85
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        corners, turn = (4, rng.uniform(-15, 15) + 45) if label == "square" else (3, rng.uniform(0, 360))
        points = [(cx + radius * np.cos(np.radians(turn + k * 360 / corners)),
                   cy + radius * np.sin(np.radians(turn + k * 360 / corners))) for k in range(corners)]
        draw.polygon([(float(x), float(y)) for x, y in points], fill=colour)

    grain = rng.normal(0, NOISE_SIGMA, (h, w, 1))  # the same on all channels, like sensor noise
    noisy = np.asarray(img).astype(np.float64) + grain
    return Image.fromarray(np.clip(noisy.round(), 0, 255).astype(np.uint8))


def encode(img: Image.Image, ext: str, quality: int = JPEG_QUALITY, level: int = PNG_LEVEL) -> bytes:
    buf = io.BytesIO()
    if ext == "jpg":
        img.save(buf, "JPEG", quality=quality)
    else:
        img.save(buf, "PNG", compress_level=level)
    return buf.getvalue()


_DCT = np.cos(np.pi * np.arange(32)[:, None] * (2 * np.arange(32)[None, :] + 1) / 64)


def phash(pixels: np.ndarray) -> np.ndarray:
    """The 64-bit perceptual hash of imagehash.phash: low DCT frequencies above their median."""
    grey = Image.fromarray(pixels).convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    low = (_DCT @ np.asarray(grey, dtype=np.float64) @ _DCT.T)[:8, :8]
    return (low > np.median(low)).ravel()


def decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


def build_images(rng: np.random.Generator) -> tuple[dict[str, bytes], list[tuple[str, str]], dict]:
    """Every image file as {relative path: bytes}, the clean (path, label)s, and the planted problems."""
    files: dict[str, bytes] = {}
    counters = {label: 0 for label in IMAGE_CLASSES}

    def new_path(label: str, ext: str) -> str:
        counters[label] += 1
        return f"data/{label}/{IMAGE_PREFIX[label]}{counters[label]:03d}.{ext}"

    base: list[tuple[str, str]] = []  # (path, label)
    hashes = np.zeros((0, 64), dtype=bool)
    for label, n in IMAGE_CLASSES.items():
        for _ in range(n):
            ext = "jpg" if rng.random() < P_JPEG else "png"
            for _ in range(1000):
                data = encode(draw_shape(rng, label), ext)
                h = phash(decode(data))
                if (hashes != h).sum(axis=1).min(initial=64) >= MIN_PHASH_DISTANCE:
                    break
            else:
                raise RuntimeError("no image far enough from the others; lower MIN_PHASH_DISTANCE")
            hashes = np.vstack([hashes, h])
            path = new_path(label, ext)
            files[path] = data
            base.append((path, label))

    order = [base[int(i)] for i in rng.permutation(len(base))]  # originals are drawn in this order
    n_exact = N_IMAGE_EXACT_BYTES + N_IMAGE_EXACT_RESAVED
    planted: dict = {"exact_duplicate_groups": [], "near_duplicates": [], "label_conflicts": []}

    for path, label in order[:N_IMAGE_EXACT_BYTES]:
        copy = new_path(label, path.rsplit(".", 1)[1])
        files[copy] = files[path]
        planted["exact_duplicate_groups"].append([path, copy])
    for path, label in order[N_IMAGE_EXACT_BYTES:n_exact]:
        copy = new_path(label, "png")
        pixels = decode(files[path])
        files[copy] = encode(Image.fromarray(pixels), "png", level=pick(rng, (1, 9)))
        assert files[copy] != files[path] and np.array_equal(decode(files[copy]), pixels)
        planted["exact_duplicate_groups"].append([path, copy])
    for path, label in order[n_exact:n_exact + 2]:  # byte-identical copies in another class's folder
        wrong = pick(rng, [x for x in IMAGE_CLASSES if x != label])
        copy = new_path(wrong, path.rsplit(".", 1)[1])
        files[copy] = files[path]
        planted["exact_duplicate_groups"].append([path, copy])
        planted["label_conflicts"].append([path, copy])

    # Near duplicates: an original is skipped when its variant's pHash strays too far from it, or
    # comes too close to another clean image (a JPEG at quality 30 can move a faint picture a lot).
    candidates = iter(order[n_exact + 2:])
    index_of = {path: i for i, (path, _) in enumerate(base)}
    for n in range(N_IMAGE_NEAR_RESIZED + N_IMAGE_NEAR_LOWQ):
        for path, label in candidates:
            with Image.open(io.BytesIO(files[path])) as img:
                img = img.convert("RGB")
            if n < N_IMAGE_NEAR_RESIZED:
                scale = rng.uniform(0.5, 0.75)
                img = img.resize((round(img.width * scale), round(img.height * scale)),
                                 Image.Resampling.LANCZOS)
                ext, quality = path.rsplit(".", 1)[1], JPEG_QUALITY
            else:
                ext, quality = "jpg", 30
            data = encode(img, ext, quality=quality)
            distances = (hashes != phash(decode(data))).sum(axis=1)
            others = np.delete(distances, index_of[path])
            if distances[index_of[path]] <= MAX_NEAR_PHASH_DISTANCE and others.min() >= MIN_PHASH_DISTANCE:
                break
        else:
            raise RuntimeError("ran out of originals for image near duplicates")
        variant = new_path(label, ext)
        files[variant] = data
        planted["near_duplicates"].append([path, variant])

    # Broken and degenerate files, each under a class folder with an ordinary name.
    labels = list(IMAGE_CLASSES)
    corrupt = []
    for n, ext in enumerate(("png", "jpg", "png")):
        junk = rng.bytes(int(rng.integers(500, 3000)))
        if n == 2:
            junk = b"\x89PNG\r\n\x1a\n" + junk  # a real signature, then garbage
        path = new_path(labels[n], ext)
        files[path] = junk
        corrupt.append(path)
    truncated = []
    for n, ext in enumerate(("jpg", "jpg", "png")):
        label = labels[(n + 1) % 3]
        data = encode(draw_shape(rng, label), ext)
        path = new_path(label, ext)
        files[path] = data[: len(data) // 2]
        truncated.append(path)
    tiny = []
    for n, side in enumerate((4, 6, 8)):
        label = labels[n]
        path = new_path(label, "png")
        files[path] = encode(draw_shape(rng, label, (side, side)), "png")
        tiny.append(path)
    blank = []
    for n, ext in enumerate(("png", "jpg", "png", "jpg")):
        label = labels[n % 3]
        side = int(rng.integers(IMAGE_SIDE[0], IMAGE_SIDE[1] + 1))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        path = new_path(label, ext)
        files[path] = encode(Image.new("RGB", (side, side), colour), ext)
        blank.append(path)
    zero = new_path("square", "jpg")
    files[zero] = b""
    planted.update(corrupt=corrupt, truncated=truncated, tiny=tiny, blank=blank, zero_byte=[zero])
    return files, base, planted


def write_manifest(rng: np.random.Generator, base: list[tuple[str, str]], path: Path) -> None:
    """path,label,photographer for some clean images, with three bad paths among them."""
    rows = [[p, label, pick(rng, PHOTOGRAPHERS)]
            for p, label in (base[int(i)] for i in sorted(rng.choice(len(base), N_MANIFEST_IMAGES,
                                                                       replace=False)))]
    for pos, bad, label in zip(MANIFEST_BAD_ROWS, MANIFEST_BAD_PATHS.values(), IMAGE_CLASSES):
        rows.insert(pos, [bad, label, pick(rng, PHOTOGRAPHERS)])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "label", "photographer"])
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def generate_images(rng: np.random.Generator, out: Path) -> dict:
    """Write images/data/, images/manifest.csv and images/planted.json under ``out``."""
    files, base, planted = build_images(rng)
    if (out / "data").exists():
        shutil.rmtree(out / "data")  # the folder is all generated: drop files an older run left
    for rel, data in files.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    write_manifest(rng, base, out / "manifest.csv")
    planted["manifest_bad_paths"] = MANIFEST_BAD_PATHS
    planted["class_counts"] = {label: sum(p.startswith(f"data/{label}/") for p in files)
                               for label in IMAGE_CLASSES}
    write_json(out / "planted.json", planted)
    return planted


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    text = generate_text(rng, args.out / "text")
    images = generate_images(rng, args.out / "images")
    print(f"text: {text['rows']} rows + {len(text['malformed_lines'])} malformed lines -> {args.out / 'text'}")
    print(f"images: {images['class_counts']} -> {args.out / 'images'}")


if __name__ == "__main__":
    main()
