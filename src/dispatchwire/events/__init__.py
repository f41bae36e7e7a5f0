"""User events: stored before they are sent, numbered per user, resumable.

    types.py    PendingEvent, StoredEvent, EventType
    models.py   the events table
    outbox.py   Outbox: numbering and storing with the transaction, publishing after it
    stream.py   reading a user's events back (resume, gaps)
"""
