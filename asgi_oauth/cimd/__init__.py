"""Client ID Metadata Documents: a client whose ``client_id`` is an https URL describes itself in the JSON
document at that URL. :mod:`.documents` holds the rules (no HTTP), :mod:`.fetch` the guarded fetcher (https,
public addresses only, size and time caps)."""
