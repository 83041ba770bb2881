"""Amaranth components of macgen: unpacked-float layout, arithmetic stages, MAC, PE and array."""
