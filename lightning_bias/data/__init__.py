"""Data: sources, the synthetic bios testbed, and the classification data module."""
