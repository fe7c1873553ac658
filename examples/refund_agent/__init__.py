"""A customer-support refund agent on tether; run the crash-recovery demo with
``python -m examples.refund_agent`` from the repository root."""
