"""Paved's dashboard: Streamlit multipage app over the published warehouse (read-only).

Every page reads through ``dashboard.data``; before anything is published, every page says how
to publish instead of failing.
"""

from __future__ import annotations

import streamlit as st

from dashboard.auth import require_login
from dashboard.data import pin_snapshot
from dashboard.widgets import NOT_PUBLISHED

st.set_page_config(page_title="Paved", page_icon=":material/road:", layout="wide")
require_login()  # only when [auth] is configured for a shared deployment (dashboard/auth.py)

pages = {
    "DORA and developer experience": [
        st.Page("app_pages/overview.py", title="Overview", icon=":material/speed:", default=True),
        st.Page("app_pages/teams.py", title="Teams & services", icon=":material/groups:"),
        st.Page("app_pages/devex.py", title="Developer experience", icon=":material/mood:"),
    ],
    "Portal": [
        st.Page("app_pages/catalog.py", title="Catalog", icon=":material/category:"),
        st.Page("app_pages/environments.py", title="Environments", icon=":material/dns:"),
        st.Page("app_pages/cost.py", title="Cost", icon=":material/payments:"),
    ],
    "Warehouse": [
        st.Page("app_pages/data_quality.py", title="Data quality", icon=":material/rule:"),
        st.Page("app_pages/sql.py", title="SQL", icon=":material/terminal:"),
    ],
}
page = st.navigation(pages)
if pin_snapshot() is None:
    st.title(page.title)
    st.info(NOT_PUBLISHED)
else:
    page.run()
