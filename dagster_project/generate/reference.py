"""Small embedded reference lists the generator draws from (names, domains, products...).

Everything here is data, indexed by integer codes drawn with numpy; the strings are only
assembled by DuckDB when a source is written.
"""

from __future__ import annotations

import unicodedata

import numpy as np


def ascii_slug(text: str, sep: str = "") -> str:
    """Lowercase ASCII form of a name for an email address: 'Hélène' -> 'helene'."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    plain = plain.lower().replace("'", "").replace(" ", sep)
    return plain


# --- people ---------------------------------------------------------------------------------

COUNTRIES = ("FR", "BE", "CH", "DE", "ES", "IT")
COUNTRY_P = (0.85, 0.05, 0.03, 0.025, 0.025, 0.02)

_FIRST_FR = (
    "Jean",
    "Marie",
    "Pierre",
    "Nathalie",
    "Philippe",
    "Isabelle",
    "Michel",
    "Sylvie",
    "Alain",
    "Catherine",
    "Nicolas",
    "Sophie",
    "Christophe",
    "Valérie",
    "Stéphane",
    "Céline",
    "Laurent",
    "Sandrine",
    "Julien",
    "Aurélie",
    "Thomas",
    "Camille",
    "Antoine",
    "Émilie",
    "Maxime",
    "Julie",
    "Alexandre",
    "Pauline",
    "Hugo",
    "Léa",
    "Lucas",
    "Chloé",
    "Louis",
    "Manon",
    "Gabriel",
    "Inès",
    "Arthur",
    "Jade",
    "Raphaël",
    "Louise",
    "François",
    "Hélène",
    "Olivier",
    "Agnès",
    "Benoît",
    "Margaux",
    "Jérôme",
    "Élodie",
    "Mathieu",
    "Clémence",
    "Sébastien",
    "Anaïs",
    "Guillaume",
    "Océane",
    "Frédéric",
    "Amélie",
    "Yannick",
    "Brigitte",
    "Rémi",
    "Zoé",
    "Jean-Pierre",
    "Marie-Claire",
    "Karim",
    "Fatima",
    "Mehdi",
    "Yasmine",
    "Kevin",
    "Laura",
)
_LAST_FR = (
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Lefèvre",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Legrand",
    "Garnier",
    "Faure",
    "Rousseau",
    "Blanc",
    "Guérin",
    "Muller",
    "Henry",
    "Roussel",
    "Nicolas",
    "Perrin",
    "Morin",
    "Mathieu",
    "Clément",
    "Gauthier",
    "Dumont",
    "Lopez",
    "Fontaine",
    "Chevalier",
    "Robin",
    "Masson",
    "Sanchez",
    "Gérard",
    "Nguyen",
    "Boyer",
    "Denis",
    "Lemaire",
    "Duval",
    "Joly",
    "Gautier",
    "Roger",
    "Roche",
    "Roy",
    "Noël",
    "Meyer",
    "Lucas",
    "Meunier",
    "Jean",
    "Perez",
    "Marchand",
    "Dufour",
    "Blanchard",
    "Barbier",
    "Brun",
    "Dumas",
    "Brunet",
    "Schmitt",
    "Leroux",
    "Colin",
    "Fernandez",
    "Le Gall",
    "Benali",
    "Haddad",
    "Peeters",
    "Janssens",
    "Maes",
    "Favre",
)
_FIRST_DE = (
    "Lukas",
    "Anna",
    "Felix",
    "Lena",
    "Jonas",
    "Mia",
    "Leon",
    "Hannah",
    "Paul",
    "Sophie",
    "Maximilian",
    "Laura",
    "Jürgen",
    "Sabine",
    "Stefan",
    "Katrin",
)
_LAST_DE = (
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
)
_FIRST_ES = (
    "José",
    "María",
    "Antonio",
    "Carmen",
    "Manuel",
    "Lucía",
    "Javier",
    "Elena",
    "David",
    "Laura",
    "Pablo",
    "Marta",
    "Sergio",
    "Paula",
    "Alejandro",
    "Cristina",
)
_LAST_ES = (
    "García",
    "Fernández",
    "González",
    "Rodríguez",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Martín",
    "Jiménez",
    "Ruiz",
    "Hernández",
    "Díaz",
    "Moreno",
    "Álvarez",
)
_FIRST_IT = (
    "Giuseppe",
    "Maria",
    "Giovanni",
    "Anna",
    "Marco",
    "Giulia",
    "Luca",
    "Francesca",
    "Andrea",
    "Chiara",
    "Alessandro",
    "Sara",
    "Matteo",
    "Elena",
    "Lorenzo",
    "Valentina",
)
_LAST_IT = (
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De Luca",
    "Costa",
    "Giordano",
)

# one flat list per kind, with the slice used by each country (BE and CH use the French list)
FIRST_NAMES = _FIRST_FR + _FIRST_DE + _FIRST_ES + _FIRST_IT
LAST_NAMES = _LAST_FR + _LAST_DE + _LAST_ES + _LAST_IT
FIRST_ASCII = tuple(ascii_slug(n) for n in FIRST_NAMES)
LAST_ASCII = tuple(ascii_slug(n) for n in LAST_NAMES)


def _slices(*groups: tuple[str, ...]) -> list[tuple[int, int]]:
    out, start = [], 0
    for g in groups:
        out.append((start, len(g)))
        start += len(g)
    return out


_FS = _slices(_FIRST_FR, _FIRST_DE, _FIRST_ES, _FIRST_IT)
_LS = _slices(_LAST_FR, _LAST_DE, _LAST_ES, _LAST_IT)
# (offset, size) of the name lists per country code (order of COUNTRIES)
FIRST_OFFSET = np.array([_FS[i][0] for i in (0, 0, 0, 1, 2, 3)], dtype=np.int32)
FIRST_SIZE = np.array([_FS[i][1] for i in (0, 0, 0, 1, 2, 3)], dtype=np.int32)
LAST_OFFSET = np.array([_LS[i][0] for i in (0, 0, 0, 1, 2, 3)], dtype=np.int32)
LAST_SIZE = np.array([_LS[i][1] for i in (0, 0, 0, 1, 2, 3)], dtype=np.int32)

# E.164 mobile prefix and number of digits after it, per country
PHONE_PREFIX = ("+336", "+324", "+417", "+4915", "+346", "+393")
PHONE_DIGITS = (8, 8, 8, 9, 8, 9)
PHONE_ALT_PREFIX = ("+337", "+324", "+417", "+4917", "+347", "+393")

# email domains and their share per country (rows: COUNTRIES)
DOMAINS = (
    "gmail.com",
    "orange.fr",
    "hotmail.fr",
    "yahoo.fr",
    "free.fr",
    "sfr.fr",
    "laposte.net",
    "outlook.fr",
    "wanadoo.fr",
    "icloud.com",
    "me.com",
    "hotmail.com",
    "outlook.com",
    "skynet.be",
    "telenet.be",
    "bluewin.ch",
    "gmx.de",
    "web.de",
    "t-online.de",
    "hotmail.es",
    "yahoo.es",
    "libero.it",
    "virgilio.it",
)
APPLE_DOMAINS = ("icloud.com", "me.com")
_DOMAIN_WEIGHTS = {
    "FR": {
        "gmail.com": 36,
        "orange.fr": 11,
        "hotmail.fr": 8,
        "yahoo.fr": 5,
        "free.fr": 6,
        "sfr.fr": 4,
        "laposte.net": 4,
        "outlook.fr": 5,
        "wanadoo.fr": 3,
        "icloud.com": 9,
        "me.com": 2,
        "hotmail.com": 4,
        "outlook.com": 3,
    },
    "BE": {
        "gmail.com": 40,
        "skynet.be": 15,
        "telenet.be": 15,
        "hotmail.com": 10,
        "icloud.com": 9,
        "me.com": 2,
        "outlook.com": 9,
    },
    "CH": {
        "gmail.com": 40,
        "bluewin.ch": 25,
        "hotmail.com": 10,
        "icloud.com": 13,
        "me.com": 3,
        "outlook.com": 9,
    },
    "DE": {
        "gmail.com": 30,
        "gmx.de": 25,
        "web.de": 20,
        "t-online.de": 12,
        "icloud.com": 8,
        "outlook.com": 5,
    },
    "ES": {"gmail.com": 50, "hotmail.es": 20, "yahoo.es": 10, "icloud.com": 10, "outlook.com": 10},
    "IT": {
        "gmail.com": 45,
        "libero.it": 20,
        "virgilio.it": 10,
        "hotmail.com": 10,
        "icloud.com": 10,
        "outlook.com": 5,
    },
}
DOMAIN_P = np.array(
    [[_DOMAIN_WEIGHTS[c].get(d, 0) for d in DOMAINS] for c in COUNTRIES], dtype=np.float64
)
DOMAIN_P /= DOMAIN_P.sum(axis=1, keepdims=True)
APPLE_DOMAIN_CODES = np.array([DOMAINS.index(d) for d in APPLE_DOMAINS])

ACQUISITION_SOURCES = (
    "organic_search",
    "paid_search",
    "social",
    "referral",
    "marketplace",
    "trade_show",
    "partner",
    "newsletter_signup",
)
ACQUISITION_P_B2C = (0.28, 0.20, 0.18, 0.10, 0.12, 0.01, 0.03, 0.08)
ACQUISITION_P_B2B = (0.20, 0.12, 0.05, 0.15, 0.05, 0.20, 0.18, 0.05)

INDUSTRIES = (
    "retail",
    "manufacturing",
    "construction",
    "hospitality",
    "healthcare",
    "education",
    "it_services",
    "consulting",
    "transport_logistics",
    "agriculture",
    "public_sector",
    "finance",
    "automotive",
    "food",
)

# --- companies ------------------------------------------------------------------------------

# display prefix, slug used in the domain, industry
COMPANY_PREFIXES = (
    ("Boulangerie", "boulangerie", "food"),
    ("Garage", "garage", "automotive"),
    ("Cabinet", "cabinet", "consulting"),
    ("Groupe", "groupe", "finance"),
    ("Transports", "transports", "transport_logistics"),
    ("Pharmacie", "pharmacie", "healthcare"),
    ("Imprimerie", "imprimerie", "manufacturing"),
    ("Menuiserie", "menuiserie", "construction"),
    ("Agence", "agence", "consulting"),
    ("Hôtel", "hotel", "hospitality"),
    ("Restaurant", "restaurant", "hospitality"),
    ("Informatique", "info", "it_services"),
    ("École", "ecole", "education"),
    ("Ferme", "ferme", "agriculture"),
    ("Bâtiment", "batiment", "construction"),
    ("Clinique", "clinique", "healthcare"),
    ("Librairie", "librairie", "retail"),
    ("Boutique", "boutique", "retail"),
    ("Ateliers", "ateliers", "manufacturing"),
    ("Conseil", "conseil", "consulting"),
)
COMPANY_PREFIX_DISPLAY = tuple(p[0] for p in COMPANY_PREFIXES)
COMPANY_PREFIX_SLUG = tuple(p[1] for p in COMPANY_PREFIXES)
COMPANY_PREFIX_INDUSTRY = np.array([INDUSTRIES.index(p[2]) for p in COMPANY_PREFIXES])
COMPANY_SUFFIXES = ("", " SAS", " SARL", " SA", " EURL", " & Fils", " et Associés")
COMPANY_SUFFIX_P = (0.25, 0.30, 0.25, 0.08, 0.07, 0.03, 0.02)
COMPANY_TLDS = (".fr", ".com", ".fr", ".eu")

# registry status codes: share of all B2B SIRETs re-identified against SIRENE
REG_NOT_FOUND, REG_ACTIVE, REG_MOVED, REG_CLOSED, REG_ACQUIRED = range(5)
REGISTRY_SHARES = (0.352, 0.504, 0.064, 0.079, 0.001)
INVALID_SIRET_SHARE = 0.05  # invalid checksum: never found in the registry

# --- marketing --------------------------------------------------------------------------------

CHANNELS = ("email", "sms", "push")
EMAIL, SMS, PUSH = 0, 1, 2
CHANNEL_P = (0.70, 0.20, 0.10)  # preferred channel
KINDS = ("newsletter", "promotion", "reactivation")
NEWSLETTER, PROMOTION, REACTIVATION = 0, 1, 2
PROMO_THEMES = (
    "Soldes d'hiver",
    "Saint-Valentin",
    "Printemps",
    "Pâques",
    "Fête des mères",
    "Soldes d'été",
    "Soldes d'été",
    "Vacances",
    "Rentrée",
    "Automne",
    "Black Friday",
    "Noël",
)

EVENT_TYPES = (
    "sent",
    "delivered",
    "open",
    "click",
    "soft_bounce",
    "hard_bounce",
    "unsubscribe",
    "spam_complaint",
)
EV_SENT, EV_DELIVERED, EV_OPEN, EV_CLICK, EV_SOFT, EV_HARD, EV_UNSUB, EV_COMPLAINT = range(8)
# defects: event types no system should send
UNKNOWN_EVENT_TYPES = ("opened", "bounce", "CLICK", "forward", "deferred")

USER_AGENTS = (
    # 0: Apple Mail Privacy Protection prefetch (machine open)
    "Mozilla/5.0",
    # 1-5: mail clients (human opens)
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36 Edge/124.0 (via ggpht.com GoogleImageProxy)",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)",
    "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Thunderbird/125.0",
    # 6-9: browsers (clicks)
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Mobile Safari/537.36",
)
UA_MPP = 0
UA_OPEN_P = (0.0, 0.30, 0.35, 0.15, 0.15, 0.05)  # over codes 0-5
UA_CLICK_CODES = np.array([6, 7, 8, 9])
UA_CLICK_P = (0.35, 0.15, 0.30, 0.20)
UA_MOBILE_CLICK_CODES = np.array([8, 9])

# --- products ---------------------------------------------------------------------------------

# name, product id prefix, number of products, mean unit price (EUR), popularity B2C, B2B
CATEGORIES = (
    ("printers", "PRN", 60, 189.0, 0.06, 0.12),
    ("ink_toner", "INK", 150, 29.0, 0.10, 0.22),
    ("office_supplies", "OFF", 200, 12.0, 0.08, 0.25),
    ("computers", "CMP", 80, 749.0, 0.05, 0.10),
    ("phone_accessories", "PHA", 120, 25.0, 0.14, 0.08),
    ("tents", "TNT", 40, 219.0, 0.07, 0.02),
    ("sleeping_bags", "SLB", 50, 79.0, 0.07, 0.01),
    ("hiking_gear", "HIK", 120, 45.0, 0.15, 0.03),
    ("kitchen", "KIT", 150, 59.0, 0.15, 0.09),
    ("home_decor", "DEC", 150, 39.0, 0.13, 0.08),
)
CATEGORY_NAMES = tuple(c[0] for c in CATEGORIES)
CATEGORY_CODES = tuple(c[1] for c in CATEGORIES)
CATEGORY_SIZES = np.array([c[2] for c in CATEGORIES], dtype=np.int64)
CATEGORY_PRICES = np.array([c[3] for c in CATEGORIES])
CATEGORY_P_B2C = np.array([c[4] for c in CATEGORIES]) / sum(c[4] for c in CATEGORIES)
CATEGORY_P_B2B = np.array([c[5] for c in CATEGORIES]) / sum(c[5] for c in CATEGORIES)

# co-purchase affinities: next line's category given the previous one (rows sum to 1 after
# normalisation): printer -> ink, tent -> sleeping bag, computer -> accessories...
_AFFINITY = {
    "printers": {"ink_toner": 6, "office_supplies": 2, "computers": 1},
    "ink_toner": {"ink_toner": 3, "office_supplies": 3, "printers": 1},
    "office_supplies": {"office_supplies": 4, "ink_toner": 3, "home_decor": 1},
    "computers": {"phone_accessories": 4, "printers": 2, "office_supplies": 2},
    "phone_accessories": {"phone_accessories": 3, "computers": 1, "hiking_gear": 1},
    "tents": {"sleeping_bags": 6, "hiking_gear": 4},
    "sleeping_bags": {"tents": 3, "hiking_gear": 4, "sleeping_bags": 1},
    "hiking_gear": {"hiking_gear": 4, "sleeping_bags": 2, "tents": 1},
    "kitchen": {"kitchen": 4, "home_decor": 3},
    "home_decor": {"home_decor": 4, "kitchen": 3},
}
AFFINITY = np.array(
    [[_AFFINITY[a].get(b, 0) + 0.15 for b in CATEGORY_NAMES] for a in CATEGORY_NAMES]
)
AFFINITY /= AFFINITY.sum(axis=1, keepdims=True)

ORDER_STATUSES = ("completed", "refunded", "cancelled")
ST_COMPLETED, ST_REFUNDED, ST_CANCELLED = range(3)
