"""`python -m schemas`: regenerate the committed JSON Schema files."""

from schemas.jsonschema import write

for path in write():
    print(f"wrote {path}")
