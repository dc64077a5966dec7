"""The database schema of the domain (SQLAlchemy 2 declarative).

Money is integer kopecks, hours are integer hours, both in `amount` columns
next to a `unit`. Balances are never stored: they are sums over the
append-only ledger (`LedgerEntry`).
"""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    inspect,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates
from sqlalchemy.types import TypeDecorator

from core import pd, schedule
from core.db import not_durable
from core.search_text import TERM_LENGTH, stored_terms

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes stored as UTC on every backend (SQLite would drop the zone)."""
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as the value string (portable, readable in psql/sqlite3).
    return Enum(cls, name=name, native_enum=False, length=32,
                values_callable=lambda e: [m.value for m in e], validate_strings=True)


class Unit(str, enum.Enum):
    RUB = "rub"      # amounts in kopecks
    HOURS = "hours"  # amounts in whole hours


class CertificateStatus(str, enum.Enum):
    UNCONFIRMED = "unconfirmed"  # «не подтверждён»
    REGISTERED = "registered"    # «учёт»: free municipal programs
    FUNDED = "funded"            # «с номиналом»: may pay for certified programs


class LedgerKind(str, enum.Enum):
    CREDIT = "credit"
    RESERVE = "reserve"
    SETTLE = "settle"
    REFUND = "refund"
    EXPIRE = "expire"


class Funding(str, enum.Enum):
    CERTIFICATE = "certificate"  # «возможна оплата сертификатом»
    MUNICIPAL = "municipal"      # free, needs a certificate of status «учёт» or higher
    PAID = "paid"                # the parent pays the provider


class ProviderKind(str, enum.Enum):
    MUNICIPAL = "municipal"
    PRIVATE = "private"
    IP = "ip"


class Category(str, enum.Enum):
    TECHNICAL = "technical"        # техническая
    SCIENCE = "science"            # естественнонаучная
    SPORT = "sport"                # физкультурно-спортивная
    ART = "art"                    # художественная
    TOURISM = "tourism"            # туристско-краеведческая
    SOCIAL = "social"              # социально-гуманитарная


class EnrollmentStatus(str, enum.Enum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class WaitlistStatus(str, enum.Enum):
    WAITING = "waiting"
    OFFERED = "offered"      # a freed seat is held for this child until `hold_until`
    ENROLLED = "enrolled"
    WITHDRAWN = "withdrawn"  # the parent left the line (or forgot their data)
    DECLINED = "declined"    # «Не нужно» on a held seat: it passed to the next in line
    EXPIRED = "expired"      # a held seat not taken within the hold: it passed on


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Municipality(Base):
    __tablename__ = "municipalities"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Nominal(Base):
    """The certificate's yearly amount in one municipality, in rubles or hours."""
    __tablename__ = "nominals"
    __table_args__ = (
        UniqueConstraint("municipality_id", "year"),
        CheckConstraint("amount > 0", name="positive"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"))
    year: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    unit: Mapped[Unit] = mapped_column(_enum(Unit, "unit"))
    municipality: Mapped[Municipality] = relationship(lazy="joined")


class Parent(Base):
    """A messenger user. Nothing about them is stored before consent, but this row."""
    __tablename__ = "parents"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))      # telegram | vk | console
    external_id: Mapped[str] = mapped_column(String(64))
    consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # The version of the consent document last agreed to (the history is in `consents`):
    # kept on the row every update loads, so checking it costs no statement.
    consent_version: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    forgotten_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Set when the platform says the parent blocked the bot (Telegram 403, VK 901).
    unreachable_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # One family across messengers (core/family.py, /link): a linked account points to the
    # account whose rows own the family's children and subscriptions; NULL = it owns its own.
    family_id: Mapped[int | None] = mapped_column(ForeignKey("parents.id"), index=True)
    # On the owning account: the family's account that gets the alerts (NULL = the owner).
    alerts_to_id: Mapped[int | None] = mapped_column(ForeignKey("parents.id"))

    @property
    def owner_id(self) -> int:
        """The id the family's data hangs off: children, subscriptions (and through the
        children certificates, enrollments, waiting places). Consent stays on `id`."""
        return self.family_id if self.family_id is not None else self.id


class LinkState(Base):
    """An account's linking (/link): its one live code (a keyed hash, never the digits),
    and the wrong codes it typed lately (five pause its linking for an hour)."""
    __tablename__ = "link_states"
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"), primary_key=True)
    code_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    failures: Mapped[int] = mapped_column(Integer, default=0)
    paused_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Consent(Base):
    """One agreement to one version of the consent document (152-ФЗ ст. 9): which version,
    when and in which messenger. Kept after /forget as the proof the processing was lawful;
    the parent row it points to is anonymised then."""
    __tablename__ = "consents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"), index=True)
    version: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str] = mapped_column(String(16))
    given_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Set when the consent is withdrawn (/forget).
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Child(Base):
    __tablename__ = "children"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"), index=True)
    # Personal data, encrypted (core/pd.py); read and set through the properties below.
    # /forget empties them; the row, its certificate and the ledger behind it stay.
    full_name_enc: Mapped[str | None] = mapped_column(Text)
    birth_date_enc: Mapped[str | None] = mapped_column(Text)
    snils_enc: Mapped[str | None] = mapped_column(Text)
    # The child's identity: a keyed hash of the SNILS, kept after /forget so that the same
    # child always finds the same certificate (one per child, ever).
    snils_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    snils_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    forgotten_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    municipality: Mapped[Municipality] = relationship(lazy="joined")
    # Joined, not selectin: a child is almost always wanted with its certificate, and the
    # second statement was a tenth of a dialog step's statements (bench/, benchmark 1).
    certificate: Mapped["Certificate | None"] = relationship(back_populates="child", lazy="joined")

    # Queries never filter on these (only on snils_hash): they exist in clear text only here.
    @property
    def full_name(self) -> str | None:
        return pd.open_("children.full_name", self.full_name_enc)

    @full_name.setter
    def full_name(self, value: str | None) -> None:
        self.full_name_enc = pd.seal("children.full_name", value)

    @property
    def birth_date(self) -> dt.date | None:
        return pd.open_date("children.birth_date", self.birth_date_enc)

    @birth_date.setter
    def birth_date(self, value: dt.date | None) -> None:
        self.birth_date_enc = pd.seal_date("children.birth_date", value)

    @property
    def snils(self) -> str | None:
        return pd.open_("children.snils", self.snils_enc)

    @snils.setter
    def snils(self, value: str | None) -> None:
        """Setting the SNILS sets its hash; erasing it (None) keeps the hash."""
        self.snils_enc = pd.seal("children.snils", value)
        if value is not None:
            self.snils_hash = pd.snils_hash(value)


class Certificate(Base):
    """One per child, ever; a 10-digit registry number; valid until the 18th birthday."""
    __tablename__ = "certificates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id"), unique=True)
    number: Mapped[str] = mapped_column(String(10), unique=True)
    status: Mapped[CertificateStatus] = mapped_column(_enum(CertificateStatus, "certificate_status"))
    # The unit of the money on it (set when a nominal is credited).
    unit: Mapped[Unit | None] = mapped_column(_enum(Unit, "unit"))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[dt.date] = mapped_column(Date)   # the day before the 18th birthday
    child: Mapped[Child] = relationship(back_populates="certificate", lazy="joined")


# The rows that close an enrollment month (the predicate of uq_ledger_month_closed).
MONTH_CLOSED = "enrollment_id IS NOT NULL AND kind IN ('settle', 'refund')"


class LedgerEntry(Base):
    """Append-only. available = credit − reserve + refund − expire;
    reserved = reserve − settle − refund; spent = settle."""
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount > 0", name="positive"),
        # An enrollment month's rows, by kind: its reservations (several when freed money
        # topped a partly covered month up, core/copay.py), and whether it is closed.
        Index("ix_ledger_enrollment_month", "kind", "enrollment_id", "year", "month",
              sqlite_where=text("enrollment_id IS NOT NULL"),
              postgresql_where=text("enrollment_id IS NOT NULL")),
        # A month is closed once: settled or refunded, never both, never twice (migration 0008).
        Index("uq_ledger_month_closed", "enrollment_id", "year", "month", unique=True,
              sqlite_where=text(MONTH_CLOSED), postgresql_where=text(MONTH_CLOSED)),
        # One credit and one expiry per certificate year.
        Index("uq_ledger_certificate_year", "kind", "certificate_id", "year",
              unique=True, sqlite_where=text("enrollment_id IS NULL"),
              postgresql_where=text("enrollment_id IS NULL")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    kind: Mapped[LedgerKind] = mapped_column(_enum(LedgerKind, "ledger_kind"))
    amount: Mapped[int] = mapped_column(BigInteger)
    unit: Mapped[Unit] = mapped_column(_enum(Unit, "unit"))
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int | None] = mapped_column(Integer)   # the month a reservation pays for
    enrollment_id: Mapped[int | None] = mapped_column(ForeignKey("enrollments.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


# The columns /find filters programs by, copied into the word index (ProgramTerm).
PROGRAM_FILTERS = ("end_date", "municipality_id", "category", "age_min", "age_max", "funding")


class Program(Base):
    __tablename__ = "programs"
    __table_args__ = (
        # The filters of /find and the sort by title in one index: the count and the
        # page's ids are answered from it alone (measured: bench/, benchmark 4).
        Index("ix_programs_search", "municipality_id", "age_min", "age_max", "end_date",
              "category", "funding", "title", "id"),
        # The same for a search in every municipality by category.
        Index("ix_programs_search_category", "category", "age_min", "age_max", "end_date",
              "funding", "title", "id"),
        # A broad search read page by page in title order, its filters checked from the
        # index (migration 0004). Titles order by code point on both databases: PostgreSQL's
        # index is COLLATE "C", as SQLite's BINARY is.
        Index("ix_programs_title", "title", "id", *PROGRAM_FILTERS).ddl_if(dialect="sqlite"),
        Index("ix_programs_title", text('title COLLATE "C"'), "id", *PROGRAM_FILTERS)
        .ddl_if(dialect="postgresql"),
        # PostgreSQL: a page's programs' filters and titles by id, from the index alone.
        Index("ix_programs_id_covering", "id", postgresql_include=[*PROGRAM_FILTERS, "title"])
        .ddl_if(dialect="postgresql"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    provider: Mapped[str] = mapped_column(String(300))
    provider_kind: Mapped[ProviderKind] = mapped_column(_enum(ProviderKind, "provider_kind"))
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    category: Mapped[Category] = mapped_column(_enum(Category, "category"), index=True)
    age_min: Mapped[int] = mapped_column(Integer)
    age_max: Mapped[int] = mapped_column(Integer)
    price_per_month: Mapped[int | None] = mapped_column(BigInteger)   # kopecks
    hours_per_month: Mapped[int | None] = mapped_column(Integer)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    address: Mapped[str] = mapped_column(Text, default="")
    schedule: Mapped[str] = mapped_column(Text, default="")
    seats: Mapped[int] = mapped_column(Integer)
    funding: Mapped[Funding] = mapped_column(_enum(Funding, "funding"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # The months it is taught in, canonical ('1-5,9-12'); NULL = all but June–August
    # (core/study_months.py).
    study_months: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Normalised, stemmed words of title/provider/description/address for search.
    search_text: Mapped[str] = mapped_column(Text, default="")
    # Contacts (optional import columns, core/contacts.py) and the schedule's lessons as
    # parsed by core/schedule.py ("1 16:00-17:30;3 16:00-17:30"); NULL = none, or the
    # schedule is text the parser does not understand.
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    email: Mapped[str | None] = mapped_column(String(300), nullable=True)
    website: Mapped[str | None] = mapped_column(String(320), nullable=True)
    lessons: Mapped[str | None] = mapped_column(Text, nullable=True)
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    municipality: Mapped[Municipality] = relationship(lazy="joined")

    @validates("schedule")
    def _parse_schedule(self, key: str, value: str) -> str:
        """A schedule set through the ORM brings its lessons (the importer's bulk rows set both)."""
        self.lessons = schedule.dumps(schedule.parse(value))
        return value


# Stems compare byte by byte (a prefix is a range of the index); PostgreSQL's
# default collation could order Cyrillic otherwise.
_TERM = String(TERM_LENGTH).with_variant(String(TERM_LENGTH, collation="C"), "postgresql")


class ProgramTerm(Base):
    """The word index of /find: one row per distinct stem of a program's search_text,
    with the program's title and filter columns (PROGRAM_FILTERS) beside it.

    A search word matches the start of a stored stem, i.e. the range
    [stem, next prefix) of the primary key; the filters are checked and the
    matches sorted by title in the index itself, so a worded search reads no
    program it will not show (migration 0006). On SQLite the table is stored
    in key order (WITHOUT ROWID) and is its own covering index; on PostgreSQL
    the key includes the other columns. Kept in step with Program by the
    importer (bulk) and by the ORM events below.
    """
    __tablename__ = "program_terms"
    __table_args__ = (
        PrimaryKeyConstraint("term", "program_id", postgresql_include=["title", *PROGRAM_FILTERS]),
        # A worded search in one municipality: its words' ranges there, filters beside them.
        Index("ix_program_terms_town", "municipality_id", "term", "program_id", "category", "funding",
              "age_min", "age_max", "end_date"),
        # Is this program's word there? (a search's other words), and a program's rows.
        Index("ix_program_terms_program_term", "program_id", "term"),
        {"sqlite_with_rowid": False},
    )
    term: Mapped[str] = mapped_column(_TERM)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    municipality_id: Mapped[int] = mapped_column(Integer)
    category: Mapped[Category] = mapped_column(_enum(Category, "category"))
    funding: Mapped[Funding] = mapped_column(_enum(Funding, "funding"))
    age_min: Mapped[int] = mapped_column(Integer)
    age_max: Mapped[int] = mapped_column(Integer)
    end_date: Mapped[dt.date] = mapped_column(Date)


# What ProgramTerm copies from its program: a change to any of them rewrites its rows.
COPIED_FIELDS = ("title", *PROGRAM_FILTERS)
INDEXED_FIELDS = ("search_text", *COPIED_FIELDS)


def program_terms_rows(program: object) -> list[dict[str, object]]:
    """The word-index rows of a program (a Program or a mapping with its columns and id)."""
    get = program.get if isinstance(program, dict) else lambda name: getattr(program, name)
    copied = {name: get(name) for name in COPIED_FIELDS}
    return [{"term": term, "program_id": get("id"), **copied} for term in stored_terms(get("search_text") or "")]


class SearchState(Base):
    """One row (id 1): `words` counts the writes to the word index, so that a process
    holding the index's distinct words (core/search_vocabulary.py, typos) sees in one
    primary-key read that it must read them again (migration 0018)."""
    __tablename__ = "search_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    words: Mapped[int] = mapped_column(BigInteger, default=0)


SEARCH_STATE_ID = 1


# Writes to the word index made by this process (words_changed), so that its own holder of
# the index's words looks at the counter at once after them, not only every few moments.
local_word_writes = 0


def words_changed(connection: Connection) -> None:
    """Mark the word index changed (in the writer's transaction)."""
    global local_word_writes
    local_word_writes += 1
    table = SearchState.__table__
    bumped = connection.execute(table.update().where(table.c.id == SEARCH_STATE_ID)
                                .values(words=table.c.words + 1))
    if not bumped.rowcount:
        connection.execute(table.insert().values(id=SEARCH_STATE_ID, words=1))


@event.listens_for(Program, "after_insert")
def _index_new_program(_mapper: object, connection: Connection, target: Program) -> None:
    rows = program_terms_rows(target)
    if rows:
        connection.execute(ProgramTerm.__table__.insert(), rows)
        words_changed(connection)


@event.listens_for(Program, "after_update")
def _reindex_program(_mapper: object, connection: Connection, target: Program) -> None:
    state = inspect(target)
    if not any(state.attrs[name].history.has_changes() for name in INDEXED_FIELDS):
        return
    connection.execute(ProgramTerm.__table__.delete().where(ProgramTerm.program_id == target.id))
    rows = program_terms_rows(target)
    if rows:
        connection.execute(ProgramTerm.__table__.insert(), rows)
    words_changed(connection)


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (
        Index("uq_enrollment_active", "child_id", "program_id", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id"), index=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    status: Mapped[EnrollmentStatus] = mapped_column(_enum(EnrollmentStatus, "enrollment_status"))
    enrolled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    child: Mapped[Child] = relationship(lazy="joined")
    program: Mapped[Program] = relationship(lazy="joined")


class Charge(Base):
    """What one enrollment costs in one certificate year, and who pays it:
    the certificate covers `covered`, the parent co-pays `copay`."""
    __tablename__ = "charges"
    __table_args__ = (UniqueConstraint("enrollment_id", "year"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id"))
    year: Mapped[int] = mapped_column(Integer)
    unit: Mapped[Unit] = mapped_column(_enum(Unit, "unit"))
    months: Mapped[int] = mapped_column(Integer)
    cost: Mapped[int] = mapped_column(BigInteger)
    covered: Mapped[int] = mapped_column(BigInteger)
    copay: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Set once the parent has been told of a co-payment found at year rollover.
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Made by the year rollover for a continuing enrollment (only these get the
    # New Year co-payment notice; a new enrollment's parent saw the co-payment before confirming).
    renewal: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Review(Base):
    """A parent's rating (1–5) of a program their child attended, one per child and program
    (core/reviews.py). The rating is an anonymous figure and stays after /forget; the optional
    comment is free text a parent typed, which may name people, so it is personal data:
    encrypted (core/pd.py) and erased by /forget. The card never shows who wrote it."""
    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("child_id", "program_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        # A card's figures and latest comments: the program's shown reviews, newest first.
        Index("ix_reviews_program_updated", "program_id", "updated_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    # No index of its own: the unique (child_id, program_id) serves a child's reviews.
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id"))
    rating: Mapped[int] = mapped_column(Integer)
    comment_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Set by an operator (`python -m bot reviews hide ID`): the card no longer counts or shows it.
    hidden_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    program: Mapped[Program] = relationship(lazy="joined")
    child: Mapped[Child] = relationship(lazy="joined")

    @property
    def comment(self) -> str | None:
        return pd.open_("reviews.comment", self.comment_enc)

    @comment.setter
    def comment(self, value: str | None) -> None:
        self.comment_enc = pd.seal("reviews.comment", value)


class WaitlistEntry(Base):
    __tablename__ = "waitlist_entries"
    __table_args__ = (
        Index("uq_waitlist_open", "program_id", "child_id", unique=True,
              sqlite_where=text("status IN ('waiting', 'offered')"),
              postgresql_where=text("status IN ('waiting', 'offered')")),
        # The hold-expiry job's walk: held seats by deadline (migration 0009).
        Index("ix_waitlist_holds", "hold_until", sqlite_where=text("status = 'offered'"),
              postgresql_where=text("status = 'offered'")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id"), index=True)
    status: Mapped[WaitlistStatus] = mapped_column(_enum(WaitlistStatus, "waitlist_status"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    offered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # While OFFERED: the seat is this child's until then (SPEC: 24 hours), nobody else's.
    hold_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    program: Mapped[Program] = relationship(lazy="joined")
    child: Mapped[Child] = relationship(lazy="joined")


class Subscription(Base):
    """New-program alerts. No categories = all categories."""
    __tablename__ = "subscriptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"), index=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"))
    age: Mapped[int | None] = mapped_column(Integer)
    certificate_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    municipality: Mapped[Municipality] = relationship(lazy="joined")
    categories: Mapped[list["SubscriptionCategory"]] = relationship(
        lazy="selectin", cascade="all, delete-orphan")


class SubscriptionCategory(Base):
    __tablename__ = "subscription_categories"
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[Category] = mapped_column(_enum(Category, "category"), primary_key=True)


class JobRun(Base):
    """A calendar job's done period ("2026-11", "2027"): running it again changes nothing."""
    __tablename__ = "job_runs"
    job: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    done_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class JobProgress(Base):
    """How far a batched calendar job got in its period: it resumes after `cursor` (the last
    id done) and adds to `totals` (its report's counts), so a crash never does a batch twice."""
    __tablename__ = "job_progress"
    job: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    totals: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


@not_durable  # a power cut may set a conversation back a step
class DialogState(Base):
    """Where each (platform, user) stands in a conversation; survives restarts."""
    __tablename__ = "dialog_states"
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


@not_durable  # written in the same transaction as the update's effects: as durable as they are
class HandledUpdate(Base):
    """A platform event (a message, a press, a webhook update) whose effects were committed,
    so that a copy delivered again — by another process, or after a crash — changes nothing.
    `replied`: the answer went out too (a copy then gets no answer at all)."""
    __tablename__ = "handled_updates"
    __table_args__ = (Index("ix_handled_updates_handled_at", "handled_at"),)
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    replied: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    handled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
