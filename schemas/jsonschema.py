"""JSON Schema files generated from the wire models; `python -m schemas` rewrites them.

The files in schemas/json/ are committed so outside tools can read the contract; a test fails when
they no longer match the models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.attempts import DeliveryAttempt
from schemas.events import CallEvent
from schemas.jobs import DeliveryJob
from schemas.requests import ExtensionRequests

JSON_DIR = Path(__file__).parent / "json"
MODELS: dict[str, type[BaseModel]] = {
    "CallEvent": CallEvent,
    "DeliveryJob": DeliveryJob,
    "DeliveryAttempt": DeliveryAttempt,
}


def rendered() -> dict[str, str]:
    """File name → JSON text, for every wire model and the `event-requests` value."""
    documents: dict[str, dict[str, Any]] = {name: model.model_json_schema() for name, model in MODELS.items()}
    documents["ExtensionRequests"] = ExtensionRequests.json_schema()
    return {f"{name}.json": json.dumps(doc, indent=2, sort_keys=True) + "\n" for name, doc in documents.items()}


def write(folder: Path = JSON_DIR) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for name, text in rendered().items():
        path = folder / name
        path.write_text(text)
        paths.append(path)
    return paths
