"""E-mail notifications through pyramid_mailer.

Callers hand over plain values (a subject, a body, addresses), so the run life
cycle and the monitor can notify without knowing about Pyramid. Mail is sent
after the surrounding transaction commits, and not at all if it aborts, so a
failed request never announces something that did not happen.
"""

import logging
from collections.abc import Iterable

from pyramid_mailer.mailer import DebugMailer, Mailer
from pyramid_mailer.message import Message


log = logging.getLogger(__name__)


def recipients(*address_lists: Iterable[str] | None) -> list[str]:
    """Merge address lists, dropping blanks and duplicates, keeping order."""
    seen: dict[str, None] = {}
    for addresses in address_lists:
        for address in addresses or ():
            address = address.strip()
            if address:
                seen.setdefault(address.lower(), address)
    return list(seen.values())


class Notifier:
    """Send notification mails, with the configured admin addresses copied in.

    Mails wait for the commit of ``transaction_manager``'s current transaction
    and are dropped if it aborts.
    """

    def __init__(
        self, mailer, sender: str, admin_addresses: list[str], transaction_manager=None
    ):
        self.mailer = mailer
        self.sender = sender
        self.admin_addresses = admin_addresses
        self.transaction_manager = transaction_manager

    def bind(self, transaction_manager) -> "Notifier":
        """Return a notifier whose mails follow ``transaction_manager``."""
        return Notifier(
            self.mailer, self.sender, self.admin_addresses, transaction_manager
        )

    def send(self, subject: str, body: str, addresses: Iterable[str]) -> None:
        to = recipients(addresses, self.admin_addresses)
        if not to:
            log.info("no recipients for notification %r", subject)
            return
        message = Message(
            subject=f"[jobrunner] {subject}",
            sender=self.sender,
            recipients=to,
            body=body,
        )
        if self.transaction_manager is None:
            self._deliver(True, message)
        else:
            self.transaction_manager.get().addAfterCommitHook(
                self._deliver, args=(message,)
            )

    def _deliver(self, committed: bool, message: Message) -> None:
        if not committed:
            return
        try:
            self.mailer.send_immediately(message)
        except Exception:
            # The change it reports is committed already; a mail server that is
            # down must not turn that into an error for the client.
            log.exception("could not send notification %r", message.subject)
        else:
            log.info("notification %r sent to %s", message.subject, message.recipients)


def notifier_from_settings(settings: dict) -> Notifier:
    """Build a notifier: SMTP normally, a folder of mails with ``mail.debug_dir``."""
    debug_dir = settings.get("mail.debug_dir")
    mailer = DebugMailer(debug_dir) if debug_dir else Mailer.from_settings(settings)
    admin = settings.get("jobrunner.admin_addresses", "")
    return Notifier(
        mailer,
        sender=settings.get("mail.default_sender") or "jobrunner@localhost",
        admin_addresses=recipients(admin.replace(",", " ").split()),
    )
