"""People who log in to the dashboard, their groups, and admin API keys."""

from sqlalchemy import Boolean, Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobrunner.db import Base, UTCDateTime, Versioned, utcnow


user_group = Table(
    "account_user_group",
    Base.metadata,
    Column(
        "user_id", ForeignKey("account_user.id", ondelete="CASCADE"), primary_key=True
    ),
    Column(
        "group_id",
        ForeignKey("account_group.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class Group(Versioned, Base):
    """A set of users; projects name the groups that may view them."""

    __tablename__ = "account_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(150), unique=True)

    users: Mapped[list["User"]] = relationship(
        secondary=user_group, back_populates="groups"
    )


class User(Versioned, Base):
    """A dashboard user, authenticated by a bcrypt password hash."""

    __tablename__ = "account_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    created_dts = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    groups: Mapped[list[Group]] = relationship(
        secondary=user_group, back_populates="users"
    )


class AdminKey(Base):
    """An HMAC credential for automation, with every right on every object."""

    __tablename__ = "admin_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    api_key: Mapped[str] = mapped_column(String(255), unique=True)
    secret: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
