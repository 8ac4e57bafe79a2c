"""Shared test support: clients, servers and fakes that several test folders use (imported as
``tests.support.<module>``). Nothing here ships in the package."""
