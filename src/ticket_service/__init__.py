"""ticket-service: the employee request service of 1440.test."""
