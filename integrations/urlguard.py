"""Which webhook URLs Loupe may call: http(s) only, and every address the host resolves to public, unless an
admin allows private ones (WEBHOOKS_ALLOW_PRIVATE). Checked when a webhook is saved and again before every
attempt (the name may resolve elsewhere by then); redirects are never followed, so a public URL cannot bounce a
request to an internal one."""

import ipaddress
import socket
from urllib.parse import urlsplit


class URLRefused(ValueError):
    pass


def url_check(url: str, *, allow_private: bool) -> list[str]:
    """The addresses `url`'s host resolves to; URLRefused when the URL or one of them may not be called."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise URLRefused("A webhook URL starts with http:// or https://.")
    if not parts.hostname:
        raise URLRefused("The webhook URL has no host.")
    if parts.username or parts.password:
        raise URLRefused("Credentials in a webhook URL are not allowed; use the signature to authenticate.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise URLRefused(f"The webhook's host {parts.hostname!r} cannot be resolved.") from exc
    addresses = sorted({info[4][0] for info in infos})
    if not allow_private:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global or ip.is_multicast:
                raise URLRefused(
                    f"The webhook's host resolves to {address}, a private, loopback or reserved address; an "
                    "administrator can allow such addresses (WEBHOOKS_ALLOW_PRIVATE)."
                )
    return addresses
