"""Organisation: the accounting boundary enterprise -> site -> process -> facility -> measurement point."""
