"""The page catalogue and which pages a role gets in its menu.

Hiding a page is only convenience: every page re-checks the role itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.services.auth import Actor
from db.models import Role


@dataclass(frozen=True)
class PageSpec:
    section: str
    path: str  # relative to streamlit_app.py
    title: str
    role: Role  # the minimum role that sees it
    icon: str


PAGES: tuple[PageSpec, ...] = (
    PageSpec("Monitor", "app/ui/overview.py", "Overview", Role.VIEWER, ":material/dashboard:"),
    PageSpec(
        "Monitor", "app/ui/review_queue.py", "Review queue", Role.VIEWER, ":material/fact_check:"
    ),
    PageSpec(
        "Monitor", "app/ui/sample_detail.py", "Sample detail", Role.VIEWER, ":material/search:"
    ),
    PageSpec("Monitor", "app/ui/reports.py", "Reports", Role.VIEWER, ":material/description:"),
    PageSpec(
        "Tune", "app/ui/threshold_whatif.py", "Threshold what-if", Role.REVIEWER, ":material/tune:"
    ),
    PageSpec("Tune", "app/ui/models.py", "Models", Role.VIEWER, ":material/model_training:"),
    PageSpec("Tune", "app/ui/schedules.py", "Schedules", Role.VIEWER, ":material/schedule:"),
    PageSpec("Tune", "app/ui/data.py", "Data", Role.REVIEWER, ":material/upload_file:"),
    PageSpec("Admin", "app/ui/audit.py", "Audit log", Role.ADMIN, ":material/history:"),
    PageSpec("Admin", "app/ui/users.py", "Users", Role.ADMIN, ":material/group:"),
)
DEFAULT_PAGE = "app/ui/overview.py"
LOGIN_PAGE = "app/ui/login.py"


def visible_pages(actor: Actor | None) -> list[PageSpec]:
    """The pages in ``actor``'s menu, in catalogue order (none when nobody is logged in)."""
    if actor is None:
        return []
    return [page for page in PAGES if actor.can(page.role)]
