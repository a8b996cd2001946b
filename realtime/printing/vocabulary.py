"""The bust's vocabulary, in one place and free of heavy imports: the styles, expressions, file
formats and the printable height range that the command line, the live window, the demo, the
photo jobs and the web page all offer (``realtime.printing.bust.BustOptions`` checks them)."""

STYLES = ("bust", "head", "relief", "mask")
"""bust: head and hair, neck and shoulders, cut flat (on a socle with a label); head: head and
hair on a plinth; relief: head and hair on a plaque; mask: the front of the head as a shell."""
DEFAULT_STYLE = "bust"
EXPRESSIONS = ("neutral", "current")
"""neutral closes an open mouth; current keeps the photo's or the snapshot's expression."""
FORMATS = ("stl", "3mf", "obj", "glb")
"""The files a bust is written as; the first is the default."""
HEIGHT_RANGE_MM = (20.0, 500.0)
"""Printed heights offered, mm."""
DEFAULT_HEIGHT_MM = 80.0
