"""tallywatch: watches running tallies in feeds and tells people when something matters."""

__version__ = "0.1.0"
