"""Open311's XML: the same values as its JSON, written back the way the spec's Spark convention maps them.

GeoReport v2 defines XML first and derives JSON from it (a list is a container element holding one element
per item), so one writer serves every resource: a dict becomes child elements in its order, a list becomes
repeated elements named by ``ITEM``, ``None`` an empty element, booleans ``true``/``false``. No namespace and
no attributes, as the spec asks, and the declaration names UTF-8.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

# The element each container's items get, from the spec's examples (services › service, …).
ITEM = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}
DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'

# Characters XML 1.0 cannot hold at all, even escaped. Case text may contain them (only NUL is refused at
# the door), and one would make the whole document unreadable to every client.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def document(root: str, value: Any) -> bytes:
    """``value`` as an Open311 XML document whose root element is ``root``."""
    element = _element(root, value)
    ET.indent(element, space="  ")
    return (DECLARATION + ET.tostring(element, encoding="unicode") + "\n").encode("utf-8")


def _element(name: str, value: Any) -> ET.Element:
    element = ET.Element(name)
    if isinstance(value, dict):
        element.extend(_element(key, item) for key, item in value.items())
    elif isinstance(value, list | tuple):
        element.extend(_element(ITEM[name], item) for item in value)
    elif value is not None:
        element.text = _text(value)
    return element


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("\ufffd", str(value))
