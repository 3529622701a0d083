"""The policy dashboard: pages and a JSON admin API over a running `PolicyApp`.

`dashboard_routes(...)` gives the routes `create_app(admin_token=...)` mounts beside the
Policy API; `new_admin_token()` makes a token when none is configured. See DASHBOARD.md.
"""

from inherence_policy_server.dashboard._access import AdminAccess, new_admin_token
from inherence_policy_server.dashboard._api import admin_api_routes
from inherence_policy_server.dashboard._dashboard import Dashboard, RulesHolder
from inherence_policy_server.dashboard._routes import page_routes
from inherence_policy_server.dashboard._serve import serve_dashboard
from inherence_policy_server.dashboard._settings import SettingsRejected

__all__ = [
    "AdminAccess",
    "Dashboard",
    "RulesHolder",
    "SettingsRejected",
    "admin_api_routes",
    "new_admin_token",
    "page_routes",
    "serve_dashboard",
]
