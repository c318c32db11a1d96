"""File bytes shared by both protocols: signed links, the ledger of stored blobs (ownership,
quotas, upload leases), resumable uploads and the collector of orphans. Kinvey's file metadata
(:mod:`kinbase.core.kinvey.files`) and Kinto's attachments (:mod:`kinbase.core.kinto.attachments`)
are built on it; :mod:`kinbase.core.files.services` wires them together."""
