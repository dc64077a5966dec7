"""The domain of the certificate bot: children, certificates and their ledger,
programs, enrollments, refunds and alerts. No chat platform and no Russian
texts live here; services take a session and a clock and raise DomainError."""
