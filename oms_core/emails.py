"""Email addresses as the standards have had them since 2012: UTF-8 local parts and internationalised domains.

RFC 6531 (SMTPUTF8) and RFC 6532 let the part before the ``@`` be any
UTF-8 text (``josé@…``, ``用户@…``), and IDNA lets the domain be written in
any script (``…@exämple.com``, ``…@例子.广告``). Django's ``validate_email``
accepts such domains but refuses a local part that is not ASCII; the
validator here accepts both, as the standards do, and nothing else more.

Sending: a domain goes out in its ASCII form (``xn--exmple-cua.com``), which
every mail server takes; a local part that is not ASCII can only be sent
through a server that offers SMTPUTF8 (``smtp_address`` says when).
"""

from __future__ import annotations

import re
import unicodedata

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import models
from django.utils.deconstruct import deconstructible

# RFC 5322 atext and qtext, widened by RFC 6532 to every non-ASCII character (checked one by one below).
_NON_ASCII = "\u0080-\U0010ffff"
_USER = re.compile(
    rf"(^[-!#$%&'*+/=?^_`{{}}|~0-9A-Z{_NON_ASCII}]+(\.[-!#$%&'*+/=?^_`{{}}|~0-9A-Z{_NON_ASCII}]+)*\Z"
    rf'|^"([\001-\010\013\014\016-\037!#-\[\]-\177{_NON_ASCII}]|\\[\001-\011\013\014\016-\177])*"\Z)',
    re.IGNORECASE,
)
# Characters no one can type or see: controls, separators, surrogates, private use, unassigned, and format
# characters (bidi overrides could disguise an address) except the joiners some scripts spell words with.
_INVISIBLE = {"Cc", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}
_JOINERS = {"\u200c", "\u200d"}


@deconstructible
class InternationalEmailValidator(EmailValidator):
    """Django's email validator, with UTF-8 local parts (RFC 6531/6532) and domains that IDNA can encode."""

    user_regex = _USER

    def __call__(self, value):
        super().__call__(value)
        user_part, domain_part = value.rsplit("@", 1)
        if not user_part.isascii() and any(_invisible(char) for char in user_part if not char.isascii()):
            raise ValidationError(self.message, code=self.code, params={"value": value})
        if not domain_part.isascii():
            try:
                ascii_domain(domain_part)
            except UnicodeError:
                raise ValidationError(self.message, code=self.code, params={"value": value}) from None


def _invisible(char: str) -> bool:
    category = unicodedata.category(char)
    return category in _INVISIBLE or (category == "Cf" and char not in _JOINERS)


validate_email_address = InternationalEmailValidator()


def normalize_address(value: str) -> str:
    """The address stripped and in Unicode's composed form (NFC), so ``é`` typed two ways is one address."""
    value = value.strip()
    return value if value.isascii() else unicodedata.normalize("NFC", value)


def ascii_domain(domain: str) -> str:
    """The domain as DNS and SMTP take it: IDNA (punycode) labels, ``exämple.com`` → ``xn--exmple-cua.com``.

    Raises UnicodeError when the domain cannot be encoded (a label too long, a character IDNA refuses).
    """
    if domain.isascii():
        return domain
    return domain.encode("idna").decode("ascii")


def smtp_address(address: str) -> tuple[str, bool]:
    """The address for an SMTP envelope and ASCII headers (its domain in IDNA form), and whether it needs SMTPUTF8.

    ``josé@exämple.com`` → ``("josé@xn--exmple-cua.com", True)``: its local part is not ASCII, so only a
    server that offers SMTPUTF8 can take it. ``ana@exämple.com`` → ``("ana@xn--exmple-cua.com", False)``.
    """
    if address.isascii():
        return address, False
    local, _, domain = address.rpartition("@")
    return f"{local}@{ascii_domain(domain)}", not local.isascii()


class InternationalEmailFormField(forms.EmailField):
    default_validators = [validate_email_address]


class InternationalEmailField(models.EmailField):
    """An ``EmailField`` that accepts what the standards accept: UTF-8 local parts, internationalised domains."""

    default_validators = [validate_email_address]

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": InternationalEmailFormField, **kwargs})
