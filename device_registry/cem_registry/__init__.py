"""CEM device registry: device records, certificate authority, enrolment and broker rules."""
