"""E-mail over SMTP (``smtplib``), one connection kept open across a batch.

The Message-ID is derived from the message key (``<msg_...@sender domain>``), so a message
sent twice (after an interrupted run) is recognisable in the mail server's log. The
conversation is taken step by step (MAIL, RCPT, DATA) so that a failure is known to be
before the message was handed over (safe to retry) or during/after DATA, when the server
may have accepted it: that is ``ambiguous`` and the outbox never re-sends it to a customer
on its own (docs/outbox.md).
"""

from __future__ import annotations

import email.policy
import email.utils
import smtplib
import ssl
from email.message import EmailMessage

from klantreis.outbox.message import Message, SendResult
from klantreis.outbox.sender import scrub

__all__ = ["SECURITY", "SmtpSender", "build_email"]

SECURITY = ("starttls", "ssl", "none")


def build_email(message: Message, message_id: str, sender: str, to: str) -> EmailMessage:
    """The e-mail of ``message``: text, and an HTML alternative when given."""
    mail = EmailMessage()
    domain = sender.rsplit("@", 1)[-1] or "klantreis.invalid"
    mail["Message-ID"] = f"<{message_id}@{domain}>"
    mail["Date"] = email.utils.formatdate(localtime=False)
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = message.subject or ""
    for name, value in (message.headers or {}).items():
        mail[name] = value
    mail.set_content(message.text or "")
    if message.html:
        mail.add_alternative(message.html, subtype="html")
    return mail


def _by_code(code: int, text: str, *addresses: str) -> SendResult:
    """A refusal by reply code: 5xx is permanent, anything else is tried again."""
    outcome = "failed" if 500 <= code < 600 else "retry"
    return SendResult(outcome, code, scrub(f"{code} {text}", *addresses))


class SmtpSender:
    """Sends e-mail through one SMTP server. ``security``: ``starttls`` (port 587),
    ``ssl`` (implicit TLS, port 465) or ``none`` (a local relay only)."""

    def __init__(
        self,
        host: str,
        port: int,
        sender_address: str,
        *,
        security: str = "starttls",
        user: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if security not in SECURITY:
            raise ValueError(f"smtp security must be one of {', '.join(SECURITY)}")
        if not host:
            raise ValueError("no SMTP host: set KLANTREIS_SMTP_HOST")
        if "@" not in sender_address:
            raise ValueError("the sender address (KLANTREIS_SMTP_FROM) must be an e-mail address")
        if user and not password:
            raise ValueError("an SMTP user needs a password (KLANTREIS_SMTP_PASSWORD)")
        self.host, self.port, self.sender_address = host, port, sender_address
        self.security, self.user, self._password = security, user, password
        self.timeout = timeout
        self._context = ssl_context
        self._local_hostname = local_hostname
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = self._context or ssl.create_default_context()
        conn: smtplib.SMTP
        if self.security == "ssl":
            conn = smtplib.SMTP_SSL(
                self.host,
                self.port,
                timeout=self.timeout,
                context=context,
                local_hostname=self._local_hostname,
            )
        else:
            conn = smtplib.SMTP(
                self.host, self.port, timeout=self.timeout, local_hostname=self._local_hostname
            )
            if self.security == "starttls":
                conn.starttls(context=context)
        if self.user:
            conn.login(self.user, self._password or "")
        conn.ehlo_or_helo_if_needed()
        return conn

    def _connection(self) -> smtplib.SMTP:
        """The open connection (checked with NOOP), or a new one."""
        if self._conn is not None:
            try:
                if self._conn.noop()[0] == 250:
                    return self._conn
            except (smtplib.SMTPException, OSError):
                pass
            self.close()
        self._conn = self._connect()
        return self._conn

    def send(self, message: Message, message_id: str, address: str | None) -> SendResult:
        to = address or message.to or ""
        try:
            conn = self._connection()
        except (smtplib.SMTPException, OSError) as exc:  # the server, not this message
            self.close()
            return SendResult("retry", None, scrub(f"{type(exc).__name__}: {exc}", to))
        try:
            code, reply = conn.mail(self.sender_address)
            if code != 250:
                conn.rset()
                return _by_code(code, reply.decode("utf-8", "replace"), to)
            code, reply = conn.rcpt(to)
            if code not in (250, 251):
                conn.rset()
                return _by_code(code, reply.decode("utf-8", "replace"), to)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()  # nothing was handed over: safe to try again
            return SendResult("retry", None, scrub(f"{type(exc).__name__}: {exc}", to))
        data = build_email(message, message_id, self.sender_address, to).as_bytes(
            policy=email.policy.SMTP
        )
        try:
            code, reply = conn.data(data)
        except smtplib.SMTPDataError as exc:  # DATA refused before the content was sent
            conn.rset()
            return _by_code(exc.smtp_code, str(exc.smtp_error), to)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return SendResult("ambiguous", None, scrub(f"{type(exc).__name__}: {exc}", to))
        if code == 250:
            return SendResult("sent", code)
        return _by_code(code, reply.decode("utf-8", "replace"), to)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                self._conn.close()
            self._conn = None
