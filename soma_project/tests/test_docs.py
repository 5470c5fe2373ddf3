"""The repository documents its own contract: every route is in docs/api.md, nothing points outside."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from django.conf import settings

REPO = Path(settings.BASE_DIR)
API_DOC = REPO / "docs" / "api.md"


def test_every_route_of_the_openapi_schema_is_documented(api_for):
    documented = API_DOC.read_text()
    paths = api_for(token=None).get("/openapi.json").json()["paths"]

    missing = [
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        for method in operations
        if f"{method.upper()} {path}" not in documented
    ]

    assert paths, "the schema lists no routes"
    assert missing == []


def test_no_tracked_file_points_outside_the_repository():
    outside = re.compile(r"\.\./" + "shared" + r"|/work/" + "shared")
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    offenders = [
        name for name in tracked if (REPO / name).is_file() and outside.search((REPO / name).read_text(errors="ignore"))
    ]

    assert len(tracked) > 100
    assert offenders == []
