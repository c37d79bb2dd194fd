"""Contacts and their companies: observable attributes and latent behaviour, all as arrays.

Contact ``i`` (0-based) is ``C{i+1}``. Contacts are numbered in creation order; the first
``n_hist`` were created before the end of the history, the others during the simulated days
after it (the new contacts of the `--day` deliveries).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dagster_project.generate import reference as ref
from dagster_project.generate.timeline import DAY, INF, YEAR, Timeline

GROWTH_PER_YEAR = 1.30  # the base grows: 30 % more contacts created each year than the last
B2B_SHARE = 0.25
EMAIL_CONSENT = 0.85
SMS_CONSENT_GIVEN_PHONE = 0.50  # of the ~90 % with a mobile: ~45 % overall
PUSH_CONSENT = 0.30
LEGAL_HOLD = 0.005


def cond_choice(rng: np.random.Generator, cum: np.ndarray, row: np.ndarray) -> np.ndarray:
    """One categorical draw per element, from the row `row` of a cumulative matrix `cum`."""
    u = rng.random(len(row))
    idx = (u[:, None] >= cum[row]).sum(axis=1)
    return np.minimum(idx, cum.shape[1] - 1)


def luhn_check_digit(digits: np.ndarray) -> np.ndarray:
    """Luhn check digit to append to each row of `digits` (n, L)."""
    length = digits.shape[1]
    doubled = (length - 1 - np.arange(length)) % 2 == 0  # rightmost payload digit is doubled
    d = digits.astype(np.int64)
    d[:, doubled] *= 2
    d = np.where(d > 9, d - 9, d)
    return (10 - d.sum(axis=1) % 10) % 10


def digits_of(values: np.ndarray, length: int) -> np.ndarray:
    powers = 10 ** np.arange(length - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers[None, :]) % 10


@dataclass
class Companies:
    """One row per B2B contact ordinal; only those referenced by a contact are used."""

    prefix: np.ndarray
    last: np.ndarray
    suffix: np.ndarray
    tld: np.ndarray
    industry: np.ndarray
    siret: np.ndarray  # int64, 14 digits
    status: np.ndarray  # reference.REG_*
    event_day: np.ndarray  # int64 seconds (midnight) of the move/closure/acquisition
    first_ref: np.ndarray  # creation of the first contact of the company (INF: unreferenced)


@dataclass
class Population:
    n_hist: int
    n_total: int
    created: np.ndarray
    is_b2b: np.ndarray
    country: np.ndarray
    first: np.ndarray
    last: np.ndarray
    pattern: np.ndarray
    number: np.ndarray
    domain: np.ndarray  # -1: company domain
    company: np.ndarray  # -1: B2C
    has_phone: np.ndarray
    phone_prefix: np.ndarray
    phone_number: np.ndarray
    phone_changed_at: np.ndarray  # INF: never; from then on the number is new_phone_number
    new_phone_number: np.ndarray
    acquisition: np.ndarray
    industry: np.ndarray  # -1: null
    email_ok: np.ndarray  # email consent given at creation
    email_consent_at: np.ndarray
    sms_at: np.ndarray  # INF: never consented
    sms_out: np.ndarray  # INF: never withdrawn
    push_at: np.ndarray
    push_out: np.ndarray
    preferred: np.ndarray
    legal_hold: np.ndarray
    # latent behaviour
    engagement: np.ndarray
    reach: np.ndarray
    spam_filtered: np.ndarray
    mpp: np.ndarray
    addr_change: np.ndarray  # from then on every email hard-bounces
    death: np.ndarray  # churn: activity decays after it
    lam: np.ndarray  # orders per year while alive
    basket: np.ndarray
    fav_cat: np.ndarray
    companies: Companies
    # filled by the simulation: when the contact unsubscribed or complained (INF: never)
    unsub: np.ndarray

    @property
    def contact_width(self) -> int:
        """Digits of contact ids: room for the orphan ids of the defects, above n_total."""
        return max(7, len(str(2 * self.n_total + 10)))


def _creation_times(n_hist: int, tl: Timeline, rng: np.random.Generator) -> np.ndarray:
    g = np.log(GROWTH_PER_YEAR) / YEAR
    span = tl.end - tl.contacts_start
    future = tl.sim_end - tl.end
    mass_hist = np.expm1(g * span)
    mass_future = np.exp(g * span) * np.expm1(g * future)
    n_future = int(round(n_hist * mass_future / mass_hist))
    # stratified draws: sorted, so that contact ids follow creation order
    u = (np.arange(n_hist) + rng.random(n_hist)) / max(n_hist, 1)
    hist = tl.contacts_start + np.log1p(u * mass_hist) / g
    u = (np.arange(n_future) + rng.random(n_future)) / max(n_future, 1)
    fut = tl.end + np.log1p(u * np.expm1(g * future)) / g
    hist = np.minimum(hist.astype(np.int64), tl.end - 1)
    fut = np.clip(fut.astype(np.int64), tl.end, tl.sim_end - 1)
    return np.concatenate([hist, fut])


def build_population(n_hist: int, tl: Timeline, rng: np.random.Generator) -> Population:
    created = _creation_times(n_hist, tl, rng)
    n = len(created)
    is_b2b = rng.random(n) < B2B_SHARE
    country = rng.choice(len(ref.COUNTRIES), n, p=ref.COUNTRY_P).astype(np.int8)
    first = ref.FIRST_OFFSET[country] + (rng.random(n) * ref.FIRST_SIZE[country]).astype(np.int32)
    last = ref.LAST_OFFSET[country] + (rng.random(n) * ref.LAST_SIZE[country]).astype(np.int32)
    pattern = rng.choice(5, n, p=(0.50, 0.22, 0.10, 0.12, 0.06)).astype(np.int8)
    number = np.where(
        rng.random(n) < 0.5, rng.integers(1, 100, n), rng.integers(1955, 2006, n)
    ).astype(np.int16)
    domain = cond_choice(rng, np.cumsum(ref.DOMAIN_P, axis=1), country).astype(np.int16)
    company_domain = is_b2b & (rng.random(n) < 0.8)
    domain[company_domain] = -1
    pattern[company_domain] = np.where(rng.random(company_domain.sum()) < 0.8, 0, 3)

    has_phone = rng.random(n) < 0.9
    alt = rng.random(n) < 0.35
    phone_prefix = (country + len(ref.COUNTRIES) * alt).astype(np.int8)
    phone_digits = np.array(ref.PHONE_DIGITS * 2)[phone_prefix]
    phone_number = (rng.random(n) * (10.0**phone_digits)).astype(np.int64)
    # some people change their mobile number: the CRM re-exports the contact that day
    phone_changed_at = np.where(
        has_phone & (rng.random(n) < 0.10),
        created + (rng.random(n) * (tl.sim_end + 2 * YEAR - created)).astype(np.int64),
        INF,
    )
    new_phone_number = (rng.random(n) * (10.0**phone_digits)).astype(np.int64)

    acq_b2c = rng.choice(len(ref.ACQUISITION_SOURCES), n, p=ref.ACQUISITION_P_B2C)
    acq_b2b = rng.choice(len(ref.ACQUISITION_SOURCES), n, p=ref.ACQUISITION_P_B2B)
    acquisition = np.where(is_b2b, acq_b2b, acq_b2c).astype(np.int8)

    # consents: email at sign-up; SMS and push sometimes later, sometimes withdrawn
    email_ok = rng.random(n) < EMAIL_CONSENT
    email_consent_at = created + rng.integers(0, 120, n)
    sms_given = has_phone & (rng.random(n) < SMS_CONSENT_GIVEN_PHONE)
    sms_late = rng.random(n) < 0.3
    sms_at = created + np.where(
        sms_late, (rng.exponential(300, n) * DAY).astype(np.int64), rng.integers(0, 300, n)
    )
    sms_at = np.where(sms_given, sms_at, INF)
    sms_out = np.where(
        sms_given & (rng.random(n) < 0.12),
        sms_at + (rng.exponential(500, n) * DAY).astype(np.int64),
        INF,
    )
    push_given = rng.random(n) < PUSH_CONSENT
    push_late = rng.random(n) < 0.4
    push_at = created + np.where(
        push_late, (rng.exponential(200, n) * DAY).astype(np.int64), rng.integers(0, 600, n)
    )
    push_at = np.where(push_given, push_at, INF)
    push_out = np.where(
        push_given & (rng.random(n) < 0.10),
        push_at + (rng.exponential(400, n) * DAY).astype(np.int64),
        INF,
    )
    preferred = rng.choice(3, n, p=ref.CHANNEL_P).astype(np.int8)
    preferred = np.where((preferred == ref.SMS) & ~sms_given, ref.EMAIL, preferred)
    preferred = np.where((preferred == ref.PUSH) & ~push_given, ref.EMAIL, preferred)
    legal_hold = rng.random(n) < LEGAL_HOLD

    # latent behaviour
    engagement = rng.beta(2.0, 3.0, n) * np.where(is_b2b, 0.85, 1.0)
    reach = rng.beta(2.0, 3.0, n)
    spam_filtered = rng.random(n) < 0.04
    apple = np.isin(domain, ref.APPLE_DOMAIN_CODES)
    mpp = np.where(apple, rng.random(n) < 0.75, rng.random(n) < 0.06)
    one_shot = rng.random(n) < np.where(is_b2b, 0.06, 0.08)
    lifetime_mean = np.where(one_shot, 60 * DAY, np.where(is_b2b, 13 * YEAR, 11 * YEAR))
    death = created + (rng.exponential(1.0, n) * lifetime_mean).astype(np.int64)
    # abandoned addresses: some change address while active, most after they churn
    addr_change = np.where(
        rng.random(n) < 0.5,
        death + (rng.exponential(365, n) * DAY).astype(np.int64),
        created + (rng.exponential(4.0, n) * YEAR).astype(np.int64),
    )
    addr_change = np.where(rng.random(n) < 0.15, addr_change, INF)
    never_buys = rng.random(n) < np.where(is_b2b, 0.12, 0.14)
    lam = np.where(is_b2b, rng.gamma(2.0, 3.0 / 2.0, n), rng.gamma(2.0, 5.0 / 2.0, n)) * ~never_buys
    basket = rng.lognormal(0.0, 0.5, n)
    fav_cat = np.where(
        is_b2b,
        rng.choice(len(ref.CATEGORIES), n, p=ref.CATEGORY_P_B2B),
        rng.choice(len(ref.CATEGORIES), n, p=ref.CATEGORY_P_B2C),
    ).astype(np.int8)

    company, companies = _companies(is_b2b, created, tl, rng)
    industry = np.where(rng.random(n) < 0.3, rng.integers(0, len(ref.INDUSTRIES), n), -1).astype(
        np.int8
    )
    industry[is_b2b] = companies.industry[company[is_b2b]]

    # what happens to a company happens to its people: closed -> gone, acquired -> new domain
    comp = np.maximum(company, 0)
    status = np.where(is_b2b, companies.status[comp], ref.REG_NOT_FOUND)
    ev = companies.event_day[comp]
    closed = status == ref.REG_CLOSED
    death = np.where(closed, np.minimum(death, ev), death)
    addr_change = np.where(
        closed, np.minimum(addr_change, ev + rng.integers(0, 60 * DAY, n)), addr_change
    )
    addr_change = np.where(
        (status == ref.REG_ACQUIRED) & (domain < 0),
        np.minimum(addr_change, ev + 90 * DAY),
        addr_change,
    )

    return Population(
        n_hist=n_hist,
        n_total=n,
        created=created,
        is_b2b=is_b2b,
        country=country,
        first=first,
        last=last,
        pattern=pattern,
        number=number,
        domain=domain,
        company=company,
        has_phone=has_phone,
        phone_prefix=phone_prefix,
        phone_number=phone_number,
        phone_changed_at=phone_changed_at,
        new_phone_number=new_phone_number,
        acquisition=acquisition,
        industry=industry,
        email_ok=email_ok,
        email_consent_at=email_consent_at,
        sms_at=sms_at,
        sms_out=sms_out,
        push_at=push_at,
        push_out=push_out,
        preferred=preferred,
        legal_hold=legal_hold,
        engagement=engagement,
        reach=reach,
        spam_filtered=spam_filtered,
        mpp=mpp,
        addr_change=addr_change,
        death=death,
        lam=lam,
        basket=basket,
        fav_cat=fav_cat,
        companies=companies,
        unsub=np.full(n, INF, dtype=np.int64),
    )


def _companies(is_b2b: np.ndarray, created: np.ndarray, tl: Timeline, rng: np.random.Generator):
    n = len(is_b2b)
    m = int(is_b2b.sum())
    # ~12 % of B2B contacts work for a company an earlier contact already works for
    sharer = rng.random(m) < 0.12
    if m:
        sharer[0] = False
    owner = ~sharer
    owners_before = np.cumsum(owner) - owner
    owners = np.flatnonzero(owner)
    pick = (rng.random(m) * np.maximum(owners_before, 1)).astype(np.int64)
    comp_of_ordinal = np.where(
        sharer, owners[np.minimum(pick, len(owners) - 1)] if m else 0, np.arange(m)
    )
    company = np.full(n, -1, dtype=np.int64)
    company[is_b2b] = comp_of_ordinal

    prefix = rng.integers(0, len(ref.COMPANY_PREFIXES), m)
    last = ref.LAST_OFFSET[0] + rng.integers(0, ref.LAST_SIZE[0], m)
    suffix = rng.choice(len(ref.COMPANY_SUFFIXES), m, p=ref.COMPANY_SUFFIX_P)
    tld = rng.integers(0, len(ref.COMPANY_TLDS), m)
    industry = np.where(
        rng.random(m) < 0.8,
        ref.COMPANY_PREFIX_INDUSTRY[prefix],
        rng.integers(0, len(ref.INDUSTRIES), m),
    ).astype(np.int8)

    # SIRET = SIREN (8 digits + Luhn) + NIC (4 digits + Luhn over the 14 digits).
    # An affine bijection of the ordinal keeps every SIREN distinct.
    offset = int(rng.integers(0, 90_000_000))
    # 7_654_321 is coprime with 90_000_000: distinct ordinals give distinct SIRENs
    siren8 = 10_000_000 + (np.arange(m, dtype=np.int64) * 7_654_321 + offset) % 90_000_000
    d8 = digits_of(siren8, 8)
    siren = siren8 * 10 + luhn_check_digit(d8)
    nic4 = np.where(rng.random(m) < 0.7, rng.integers(1, 6, m) * 10, rng.integers(11, 300, m))
    body = siren * 10_000 + nic4
    check = luhn_check_digit(digits_of(body, 13))
    invalid = rng.random(m) < ref.INVALID_SIRET_SHARE
    check = np.where(invalid, (check + rng.integers(1, 10, m)) % 10, check)
    siret = body * 10 + check

    shares = np.array(ref.REGISTRY_SHARES)
    valid_p = shares.copy()
    valid_p[ref.REG_NOT_FOUND] -= ref.INVALID_SIRET_SHARE
    valid_p /= valid_p.sum()
    status = rng.choice(len(shares), m, p=valid_p)
    status[invalid] = ref.REG_NOT_FOUND

    first_ref = np.full(m, INF, dtype=np.int64)
    if m:
        np.minimum.at(first_ref, company[is_b2b], created[is_b2b])
    # the move/closure/acquisition happened in the history for most (the registry extract
    # shows it), during the simulated days after it for a few (a --day delivery updates them)
    base = np.where(first_ref < INF, first_ref, tl.end) + 30 * DAY
    later = (rng.random(m) < 0.03) | (base >= tl.end)
    lo = np.where(later, np.maximum(base, tl.end), base)
    hi = np.where(later, tl.sim_end, tl.end)
    event = lo + rng.random(m) * np.maximum(hi - lo, DAY)
    event_day = (event.astype(np.int64) // DAY) * DAY
    companies = Companies(
        prefix=prefix,
        last=last,
        suffix=suffix,
        tld=tld,
        industry=industry,
        siret=siret,
        status=status,
        event_day=event_day,
        first_ref=first_ref,
    )
    return company, companies
