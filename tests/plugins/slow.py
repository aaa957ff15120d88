"""An extractor that never finishes, for TIFF parts only.

A gateway configured with ``"extractors": ["documents", "hangs-tiff"]`` and
``"plugins": {"hangs-tiff": "tests.plugins.slow:hangs_tiff"}`` extracts PDFs
as usual and hangs on every TIFF part until its deadline, so one gateway can
serve tests of quick deliveries and of extraction deadlines.
"""

from __future__ import annotations

from tests.plugins.broken import Hangs


class HangsTiff(Hangs):
    name = "hangs-tiff"

    def accepts(self, media_type: str) -> bool:
        return media_type == "image/tiff"


def hangs_tiff() -> HangsTiff:
    return HangsTiff()
