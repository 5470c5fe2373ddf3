"""What the tests of every app share: factories and bounded waits (test code only; no app imports it)."""
