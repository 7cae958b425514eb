"""ComplaintDesk: owner complaint handling for property-management companies."""

__version__ = "0.1.0"
