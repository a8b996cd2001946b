"""Printable-bust geometry: head frame, radial head surface, solid parts, print checks, export.

``realtime.printing.bust`` is the stage; the modules here hold its pure functions:
``headframe`` (axes from landmarks, neutral jaw), ``surface`` (the dense star-shaped head and
face surfaces, image detail), ``solids`` (manifold parts: plinth, neck, label, plaque) and
``export`` (print checks, atomic file writing in STL / 3MF / OBJ / GLB).
"""
