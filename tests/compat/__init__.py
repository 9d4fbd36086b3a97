"""Tests of hotstore.compat: the v4 facade DatabaseService, the v4 document examples and the fuzz of the facade."""
