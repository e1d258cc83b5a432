"""Text for seeded rows: chat phrases in English, Telugu and Hindi, names, titles.

Bodies are composed once into a pool (``build_bodies``) that rows index into,
so that a million messages cost a million list look-ups rather than a million
string compositions. Some phrases carry a tab, a backslash or a line break on
purpose: the writers must escape them.
"""

from __future__ import annotations

import json
import random

ENGLISH = (
    "ok", "yes", "no", "thanks!", "good morning", "good night", "see you soon",
    "where are you?", "I'm on my way", "call me when you are free",
    "the meeting is tomorrow at 10 am", "please send the photos",
    "the land records are ready", "did the tahsildar reply?",
    "we need five more signatures for the petition",
    "the survey team visits our village on Monday",
    "can someone share the patta document?", "I will bring the file",
    "the bus is late again", "heavy rain here, roads are flooded",
    "the gram sabha approved our request", "please vote in the group poll",
    "who is coming to the district office?", "the lawyer asked for a copy",
    "sending the voice note now", "network is weak in the fields",
    "congratulations to everyone who joined the protest peacefully",
    "remember to carry your Aadhaar card", "the hearing moved to next week",
    "saved the scan at C:\\TALOWA\\records\\survey-12.pdf",
    "name:\tRamaiah\tplot:\t42/B", "first line\nsecond line",
)  # fmt: skip
TELUGU = (
    "సరే", "అవును", "లేదు", "ధన్యవాదాలు", "నమస్కారం", "శుభోదయం",
    "మీరు ఎక్కడ ఉన్నారు?", "నేను వస్తున్నాను", "సమావేశం రేపు ఉదయం 10 గంటలకు",
    "భూమి పట్టా పత్రాలు సిద్ధంగా ఉన్నాయి", "దయచేసి ఫోటోలు పంపండి",
    "తహసీల్దార్ కార్యాలయానికి వెళ్ళాలి", "గ్రామ సభ మా అభ్యర్థనను ఆమోదించింది",
    "రైతుల సమస్యలపై చర్చిద్దాం", "వర్షం ఎక్కువగా ఉంది",
    "సర్వే బృందం సోమవారం వస్తుంది", "పిటిషన్ కోసం ఇంకా సంతకాలు కావాలి",
    "నెట్‌వర్క్ సరిగా లేదు", "అందరికీ అభినందనలు", "వాయిస్ నోట్ పంపుతున్నాను",
    "న్యాయవాది ఒక కాపీ అడిగారు", "విచారణ వచ్చే వారానికి వాయిదా పడింది",
)  # fmt: skip
HINDI = (
    "ठीक है", "हाँ", "नहीं", "धन्यवाद", "नमस्ते", "सुप्रभात", "आप कहाँ हैं?",
    "मैं आ रहा हूँ", "बैठक कल सुबह दस बजे है", "ज़मीन के कागज़ात तैयार हैं",
    "कृपया फोटो भेजें", "तहसील कार्यालय जाना है", "ग्राम सभा ने हमारी माँग मान ली",
    "किसानों की समस्याओं पर बात करते हैं", "यहाँ बहुत बारिश हो रही है",
    "सर्वे टीम सोमवार को आएगी", "याचिका के लिए और हस्ताक्षर चाहिए",
    "नेटवर्क कमज़ोर है", "सबको बधाई", "वॉइस नोट भेज रहा हूँ",
    "वकील ने एक प्रति माँगी है", "सुनवाई अगले हफ्ते तक टल गई",
)  # fmt: skip
EMOJI = (
    "👍", "🙏", "😊", "😂", "❤️", "🎉", "🌾", "📄", "📷", "✅", "⚠️", "🚜",
    "👏", "🔥", "😢", "🤝", "📍", "🗳️", "👨‍👩‍👧", "🇮🇳",
)  # fmt: skip
LANGUAGES = ((ENGLISH, 0.4), (TELUGU, 0.3), (HINDI, 0.3))

FIRST_NAMES = (
    "Lakshmi", "Ravi", "Srinivas", "Priya", "Anjali", "Venkatesh", "Padma",
    "Suresh", "Kavitha", "Ramesh", "Sunita", "Arjun", "Deepa", "Mahesh",
    "Radha", "Vijay", "Swathi", "Kiran", "Meena", "Naresh", "Pooja", "Rahul",
    "Sita", "Gopal", "Asha", "Manoj", "Lalitha", "Prakash", "Geeta", "Harish",
)  # fmt: skip
LAST_NAMES = (
    "Reddy", "Rao", "Naidu", "Goud", "Sharma", "Verma", "Yadav", "Kumar",
    "Devi", "Singh", "Patel", "Chowdary", "Murthy", "Gupta", "Nayak", "Babu",
)  # fmt: skip
PLACES = (
    "Ramapuram", "Kothapalli", "Sitapur", "Narayanpet", "Gopalpur",
    "Venkatapuram", "Rampur", "Chintalapudi", "Bhimavaram", "Devarakonda",
    "కొత్తపల్లి", "రామాపురం", "సీతాపూర్", "रामपुर", "गोपालपुर", "नारायणपुर",
)  # fmt: skip
GROUP_SUFFIXES = (
    "Land Rights Committee", "Farmers", "Village Council", "Legal Aid",
    "Women's Group", "Youth Volunteers", "Survey Team", "రైతు సంఘం",
    "భూమి హక్కుల కమిటీ", "किसान समूह", "भूमि अधिकार समिति",
)  # fmt: skip
SYSTEM_EVENTS = (
    ("member_joined", "A new member joined the conversation"),
    ("member_left", "A member left the conversation"),
    ("title_changed", "The group title was changed"),
    ("retention_notice", "Messages here are kept according to the retention policy"),
    ("meeting_scheduled", "A meeting was scheduled"),
    ("encryption_notice", "Messages are protected in transit and at rest"),
)
CLIENT_METADATA = (
    {"client": "android", "app_version": "3.4.1"},
    {"client": "android", "app_version": "3.5.0", "network": "2g"},
    {"client": "ios", "app_version": "3.4.0"},
    {"client": "web"},
    {"forwarded": True},
    {"location": {"lat": 17.385, "lng": 78.4867}},
    {"mentions": 2},
)
REPORT_CATEGORIES = ("land_dispute", "harassment", "corruption", "eviction_threat")


def dumps(value: object) -> str:
    """Serialize metadata the way every seeded row spells JSON."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def build_bodies(rng: random.Random, size: int) -> list[str]:
    """Return ``size`` message bodies of mixed language and length."""
    return [_body(rng) for _ in range(size)]


def _body(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.04:
        return "".join(rng.choices(EMOJI, k=rng.randint(1, 3)))
    phrases = rng.choices(
        [language for language, _ in LANGUAGES], [w for _, w in LANGUAGES]
    )[0]
    if roll < 0.45:
        count = 1
    elif roll < 0.85:
        count = rng.randint(2, 4)
    else:
        count = rng.randint(5, 14)
    separator = "\n" if rng.random() < 0.05 else " "
    text = separator.join(_sentence(rng.choice(phrases)) for _ in range(count))
    if rng.random() < 0.2:
        text += " " + "".join(rng.choices(EMOJI, k=rng.randint(1, 3)))
    return text


def _sentence(phrase: str) -> str:
    if phrase[-1] in "?!." or not phrase.isascii():
        return phrase
    return phrase[0].upper() + phrase[1:] + "."


def build_titles(rng: random.Random, size: int) -> list[str]:
    """Return ``size`` group titles such as "Ramapuram Farmers"."""
    return [f"{rng.choice(PLACES)} {rng.choice(GROUP_SUFFIXES)}" for _ in range(size)]


def system_messages() -> list[tuple[str, str]]:
    """Return (body, metadata JSON) pairs for system messages."""
    return [(body, dumps({"event": event})) for event, body in SYSTEM_EVENTS]


def client_metadata(rng: random.Random, size: int) -> list[str]:
    """Return a pool of metadata JSON for ordinary messages, mostly empty."""
    pool = [dumps(value) for value in CLIENT_METADATA]
    return [rng.choice(pool) if rng.random() < 0.3 else "{}" for _ in range(size)]


def anonymous_metadata() -> list[str]:
    """Return metadata JSON for anonymous reports."""
    return [
        dumps({"anonymous": True, "report_category": category})
        for category in REPORT_CATEGORIES
    ]
