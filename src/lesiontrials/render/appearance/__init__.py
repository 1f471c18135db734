"""Lesion and tissue appearance: shapes, textures, tissue HU,
body and bone composition."""
