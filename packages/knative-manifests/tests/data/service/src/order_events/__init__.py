"""The fixture service's package: only its handler registry matters to the tests."""
