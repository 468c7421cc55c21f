"""Use cases. Collaborators arrive as arguments typed by the ports in :mod:`oms.services.ports`."""
