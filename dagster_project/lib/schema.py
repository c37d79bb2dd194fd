"""Canonical schema of every source reveil ingests.

This module is the single source of truth for source names, canonical column names and
types, keys and how a new delivery merges into the ``raw`` schema. The generator writes
these columns, the YAML mappings translate users' exports into them, the ingestion assets
load them and the dbt sources describe them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MergeMode = Literal["append", "upsert"]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    required: bool = True
    description: str = ""
    pii: bool = False  # personal data: masked in logs/metadata, erased by the purge


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    merge: MergeMode
    # column that partitions the source by day for incremental loads (None: snapshot source)
    event_time: str | None = None
    # upsert sources: columns whose old value a re-delivery that changes it leaves behind in
    # raw.<name>_superseded, so the incremental dbt models also recompute what the row left
    # (the contact an order moved away from, the day it was dated)
    superseded_columns: tuple[str, ...] = ()
    # a source a business may not have (a B2C shop keeps no company registry; a shop's order
    # export without its lines): no file ever delivered is an empty source, not an error
    optional: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def superseded_table(self) -> str | None:
        return f"{self.name}_superseded" if self.superseded_columns else None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


C = Column

CONTACTS = Source(
    name="contacts",
    description="CRM contacts export: one row per contact (a later delivery updates a contact).",
    key=("contact_id",),
    merge="upsert",
    columns=(
        C("contact_id", "VARCHAR", description="CRM identifier of the contact."),
        C("email", "VARCHAR", description="Email address as exported by the CRM.", pii=True),
        C("first_name", "VARCHAR", required=False, description="First name.", pii=True),
        C("last_name", "VARCHAR", required=False, description="Last name.", pii=True),
        C("phone", "VARCHAR", required=False, description="Mobile phone (E.164).", pii=True),
        C("country", "VARCHAR", required=False, description="ISO 3166-1 alpha-2 country code."),
        C("business_type", "VARCHAR", description="B2C or B2B."),
        C("company_name", "VARCHAR", required=False, description="Company (B2B only)."),
        C("siret", "VARCHAR", required=False, description="French SIRET, 14 digits (B2B)."),
        C(
            "industry",
            "VARCHAR",
            required=False,
            description="Industry of the company or of the person.",
        ),
        C(
            "acquisition_source",
            "VARCHAR",
            required=False,
            description="Channel that acquired the contact.",
        ),
        C("created_at", "TIMESTAMP", description="When the contact entered the CRM (UTC)."),
        C("email_consent", "BOOLEAN", description="Marketing consent for email."),
        C(
            "email_consent_at",
            "TIMESTAMP",
            required=False,
            description="When email consent was given or withdrawn.",
        ),
        C("sms_consent", "BOOLEAN", description="Marketing consent for SMS."),
        C(
            "sms_consent_at",
            "TIMESTAMP",
            required=False,
            description="When SMS consent was given or withdrawn.",
        ),
        C("push_consent", "BOOLEAN", description="Marketing consent for push notifications."),
        C(
            "push_consent_at",
            "TIMESTAMP",
            required=False,
            description="When push consent was given or withdrawn.",
        ),
        C("preferred_channel", "VARCHAR", required=False, description="email, sms or push."),
        C(
            "legal_hold",
            "BOOLEAN",
            required=False,
            description="True when the contact must not be purged (litigation, accounting).",
        ),
    ),
)

CAMPAIGNS = Source(
    name="campaigns",
    description="Marketing sends: newsletters, promotions and reactivation sequence steps.",
    key=("campaign_id",),
    merge="upsert",
    columns=(
        C("campaign_id", "VARCHAR", description="Campaign identifier."),
        C("campaign_name", "VARCHAR", description="Human name of the campaign."),
        C("campaign_kind", "VARCHAR", description="newsletter, promotion or reactivation."),
        C(
            "reactivation_step",
            "INTEGER",
            required=False,
            description="1-4 for reactivation sends, null otherwise.",
        ),
        C("channel", "VARCHAR", description="email, sms or push."),
        C("sent_at", "TIMESTAMP", description="When the campaign was sent (UTC)."),
        C("cost_per_message", "DOUBLE", description="Cost of one message, in EUR."),
        C(
            "variant",
            "VARCHAR",
            required=False,
            description="A/B variant (A or B), null when not tested.",
        ),
    ),
)

EMAIL_EVENTS = Source(
    name="email_events",
    description=(
        "Engagement events of every send (email, and the sent/delivered/click events of SMS "
        "and push sends): one row per event."
    ),
    key=("event_id",),
    merge="append",
    event_time="occurred_at",
    columns=(
        C("event_id", "VARCHAR", description="Event identifier."),
        C("campaign_id", "VARCHAR", description="Campaign the event belongs to."),
        C("contact_id", "VARCHAR", description="Contact the event belongs to."),
        C(
            "event_type",
            "VARCHAR",
            description=(
                "sent, delivered, open, click, soft_bounce, hard_bounce, unsubscribe or "
                "spam_complaint."
            ),
        ),
        C("occurred_at", "TIMESTAMP", description="When the event happened (UTC)."),
        C(
            "is_machine_open",
            "BOOLEAN",
            required=False,
            description=(
                "True for opens fetched by a mail client's privacy proxy (Apple MPP), not a person."
            ),
        ),
        C("user_agent", "VARCHAR", required=False, description="User agent of the open or click."),
    ),
)

ORDERS = Source(
    name="orders",
    description="Orders: one row per order (a later delivery may change its status).",
    key=("order_id",),
    merge="upsert",
    event_time="ordered_at",
    superseded_columns=("contact_id", "ordered_at"),
    columns=(
        C("order_id", "VARCHAR", description="Order identifier."),
        C("contact_id", "VARCHAR", description="Contact who ordered."),
        C("ordered_at", "TIMESTAMP", description="When the order was placed (UTC)."),
        C("amount", "DECIMAL(14,2)", description="Order total, tax included."),
        C("currency", "VARCHAR", description="ISO 4217 currency code."),
        C("status", "VARCHAR", description="completed, refunded or cancelled."),
    ),
)

ORDER_LINES = Source(
    name="order_lines",
    description="Order lines: products and categories of each order.",
    key=("order_id", "line_number"),
    merge="upsert",
    optional=True,  # without lines: no categories, recommendations or baskets
    columns=(
        C("order_id", "VARCHAR", description="Order the line belongs to."),
        C("line_number", "INTEGER", description="Position of the line in the order (1-based)."),
        C("product_id", "VARCHAR", description="Product identifier."),
        C("product_category", "VARCHAR", description="Product category."),
        C("quantity", "INTEGER", description="Units ordered."),
        C("unit_price", "DECIMAL(14,2)", description="Price of one unit."),
    ),
)

COMPANY_REGISTRY = Source(
    name="company_registry",
    description="Company registry extract (SIRENE-like): administrative status of companies.",
    key=("siret",),
    merge="upsert",
    optional=True,  # without it: no company_closed / moved / acquired reasons
    columns=(
        C("siret", "VARCHAR", description="SIRET of the establishment."),
        C("administrative_status", "VARCHAR", description="active or closed."),
        C("closed_at", "DATE", required=False, description="Date of closure."),
        C("is_moved", "BOOLEAN", required=False, description="The establishment moved."),
        C("moved_at", "DATE", required=False, description="Date of the move."),
        C("is_acquired", "BOOLEAN", required=False, description="The company was acquired."),
        C("acquired_at", "DATE", required=False, description="Date of the acquisition."),
    ),
)

SOURCES: dict[str, Source] = {
    s.name: s for s in (CONTACTS, CAMPAIGNS, EMAIL_EVENTS, ORDERS, ORDER_LINES, COMPANY_REGISTRY)
}

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
ORDER_STATUSES = ("completed", "refunded", "cancelled")
CHANNELS = ("email", "sms", "push")
CAMPAIGN_KINDS = ("newsletter", "promotion", "reactivation")
BUSINESS_TYPES = ("B2C", "B2B")
