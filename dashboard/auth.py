"""Sign-in for a shared dashboard, with Streamlit's OpenID Connect support (``st.login``).

Off unless an ``[auth]`` section is in ``.streamlit/secrets.toml`` (README, "Sharing the
dashboard"): then only a signed-in user sees any page. Without it the dashboard is open to whoever
reaches it, which is why ``paved dashboard`` binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import streamlit as st


def auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets.toml at all
        return False


def require_login() -> None:
    """Stop the page here unless sign-in is off or the user has signed in."""
    if not auth_configured():
        return
    if st.user.get("is_logged_in"):
        st.sidebar.caption(f"Signed in as {st.user.get('email') or st.user.get('name') or '?'}")
        st.sidebar.button("Sign out", on_click=st.logout, icon=":material/logout:")
        return
    st.title("Paved")
    st.info("This dashboard is shared: sign in to see it.")
    st.button("Sign in", on_click=st.login, type="primary", icon=":material/login:")
    st.stop()
