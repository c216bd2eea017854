"""Who is voting: the client address behind trusted proxies, keyed hashes, the session voter."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest

from .models import Voter

SESSION_KEY = "voter"


def client_ip(request: HttpRequest) -> str:
    """The client's address, trusting exactly ARENA_TRUSTED_PROXIES reverse proxies.

    Each trusted proxy appends the address it received the request from to
    X-Forwarded-For, so with N proxies the client is the N-th entry from the right of
    [X-Forwarded-For..., REMOTE_ADDR]; anything further left is the client's own claim
    and is ignored. With 0 proxies the header is ignored entirely.
    """
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"
    trusted = settings.ARENA_TRUSTED_PROXIES
    if trusted <= 0:
        return remote
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    chain = forwarded + [remote]
    candidate = chain[-(trusted + 1)] if len(chain) > trusted else chain[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        # A proxy we trust passed garbage along: fall back to the nearest address we know.
        return remote


def _keyed(value: str) -> str:
    key = ("arena-voter-hash:" + settings.SECRET_KEY).encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def address_hashes(ip: str) -> tuple[str, str]:
    """Keyed hashes of the address itself and of its network (/24 for IPv4, /64 for IPv6)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return _keyed("invalid"), _keyed("invalid")
    prefix = 24 if address.version == 4 else 64
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return _keyed(str(address)), _keyed(str(network))


def user_agent_hash(request: HttpRequest) -> str:
    return _keyed("ua:" + request.META.get("HTTP_USER_AGENT", "")[:512])


def session_voter_uid(request: HttpRequest) -> str | None:
    """The voter id this session carries (signed by the session backend), unchecked."""
    uid = request.session.get(SESSION_KEY)
    return uid if isinstance(uid, str) else None


def current_voter(request: HttpRequest, *, create: bool) -> Voter | None:
    """The voter bound to this session; creates one (and binds it) when asked."""
    uid = session_voter_uid(request)
    if uid is not None:
        # uid is unique: no ORDER BY (first() would add one; on the vote path its compiling
        # costs more than the query).
        voter = next(iter(Voter.objects.filter(uid=uid).order_by()[:1]), None)
        if voter is not None:
            return voter
    if not create:
        return None
    ip_hash, net_hash = address_hashes(client_ip(request))
    voter = Voter.objects.create(
        ip_hash=ip_hash, net_hash=net_hash, ua_hash=user_agent_hash(request)
    )
    request.session[SESSION_KEY] = voter.uid
    return voter
