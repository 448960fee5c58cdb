"""The two pages a person sees: the consent form and the error page. Both replaceable by the host app."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from urllib.parse import urlsplit

from ..models import User

#: Keep the pages out of frames (clickjacking) and out of caches; they carry a one-time form token.
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True, slots=True)
class ScopeLine:
    """One line of the consent page: a scope and what it lets the client do."""

    scope: str
    description: str


@dataclass(frozen=True, slots=True)
class ConsentView:
    """What a consent template needs. ``hidden`` must be posted back unchanged, with ``decision``."""

    client_name: str
    client_id: str
    user: User
    scopes: tuple[ScopeLine, ...]
    action: str
    hidden: dict[str, str]
    #: Where the browser goes after the decision, with the code; it is where the grant really goes.
    redirect_uri: str = ""

    @property
    def redirect_host(self) -> str:
        """The redirect URI's host (and port): the name to show, since a client's name is only its own claim.

        A URI without one (a native app's ``com.example.app:/cb``) is shown whole.
        """
        parts = urlsplit(self.redirect_uri)
        if parts.hostname is None:
            return self.redirect_uri
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return f"{host}:{parts.port}" if parts.port is not None else host


#: What draws the consent page (``OAuthServer(consent_renderer=...)``): a function from the view to HTML.
ConsentRenderer = Callable[[ConsentView], str]
#: What draws the error page (``OAuthServer(error_renderer=...)``): a function from the message to HTML.
ErrorRenderer = Callable[[str], str]

#: The pages' look; the demo's own pages reuse it so that every page a person sees matches.
STYLE = """
body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}
main{max-width:28rem;margin:4rem auto;background:#fff;border-radius:12px;padding:2rem;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.35rem;margin:0 0 1rem}ul{padding-left:1.2rem}li{margin:.4rem 0}
code{background:#eef0f4;padding:0 .3rem;border-radius:4px;font-size:.9em}
.who,.client{color:#556;font-size:.9rem}.actions{display:flex;gap:.75rem;margin-top:1.5rem}
button{flex:1;font:inherit;padding:.65rem 1rem;border-radius:8px;border:1px solid #c5cad3;
background:#fff;cursor:pointer}
button.allow{background:#2557d6;border-color:#2557d6;color:#fff}
button:focus,input:focus{outline:3px solid #9bb5f5;outline-offset:2px}
label{display:block;margin-top:.9rem;font-weight:600}
input{font:inherit;width:100%;box-sizing:border-box;padding:.5rem .6rem;margin-top:.25rem;
border:1px solid #c5cad3;border-radius:8px}
.error{color:#a00000;font-weight:600}
"""


def page(title: str, body: str) -> str:
    """A whole styled page around ``body`` (HTML the caller escaped)."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def scope_list(scopes: Sequence[ScopeLine]) -> str:
    """What a client asks for, as a consent or device page shows it."""
    items = "".join(
        f"<li><strong>{escape(line.description)}</strong> <code>{escape(line.scope)}</code></li>"
        if line.description != line.scope
        else f"<li><code>{escape(line.scope)}</code></li>"
        for line in scopes
    )
    return f"<p>It asks to:</p><ul>{items}</ul>" if items else "<p>It asks for no specific permissions.</p>"


def hidden_inputs(hidden: Mapping[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">' for name, value in hidden.items()
    )


def default_consent_page(view: ConsentView) -> str:
    """The built-in consent page; pass your own :data:`ConsentRenderer` as ``consent_renderer=`` to replace it."""
    scopes = scope_list(view.scopes)
    hidden = hidden_inputs(view.hidden)
    who = escape(view.user.username or view.user.sub)
    # The client's name is whatever it registered; its id and where the code will go are the facts to check.
    client = f'<p class="client">Application id <code>{escape(view.client_id)}</code>'
    if view.redirect_uri:
        client += f" · returns you to <strong>{escape(view.redirect_host)}</strong>"
    body = (
        f"<h1><strong>{escape(view.client_name)}</strong> wants to access your account</h1>"
        f'<p class="who">Signed in as {who}</p>{client}</p>{scopes}'
        f'<form method="post" action="{escape(view.action)}">{hidden}'
        '<div class="actions">'
        '<button type="submit" name="decision" value="deny">Deny</button>'
        '<button type="submit" name="decision" value="allow" class="allow">Allow</button>'
        "</div></form>"
    )
    return page(f"Authorize {view.client_name}", body)


def default_error_page(message: str) -> str:
    """The built-in page for an authorization request answered to the person rather than redirected to the
    client (no valid client or redirect URI, the store unreachable...); ``OAuthServer(error_renderer=...)``
    replaces it."""
    return page("Authorization error", f"<h1>This request cannot be completed</h1><p>{escape(message)}</p>")
